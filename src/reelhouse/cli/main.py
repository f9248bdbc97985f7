"""``reelhouse``: run the server and workers, manage accounts and API keys."""

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from reelhouse.accounts.keys import (
    UnknownAccount,
    UnknownKey,
    create_account,
    create_key,
    has_accounts,
    list_accounts,
    revoke_key,
)
from reelhouse.db import Database, get_database
from reelhouse.logs import configure_logging
from reelhouse.settings import get_settings

app = typer.Typer(
    help="Reelhouse: a self-hosted video platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
accounts_app = typer.Typer(help="Create and list accounts.", no_args_is_help=True)
keys_app = typer.Typer(help="Create and revoke API keys.", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")
app.add_typer(keys_app, name="keys")

console = Console()
errors = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Folder for the database, uploads and files "
        "[default: $REELHOUSE_DATA_DIR or ./reelhouse-data].",
        file_okay=False,
        show_default=False,
    ),
]


def _open_database(data_dir: Path | None) -> Database:
    """Point every setting at ``data_dir`` and bring the schema up to date.

    The folder goes into the environment because the server's worker
    processes read their settings from there.
    """
    if data_dir is not None:
        os.environ["REELHOUSE_DATA_DIR"] = str(data_dir.resolve())
    get_settings.cache_clear()
    get_database.cache_clear()
    database = get_database()
    database.migrate()
    return database


def _fail(message: str, hint: str) -> typer.Exit:
    errors.print(f"[red]Error:[/red] {message}\n{hint}")
    return typer.Exit(code=1)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    data_dir: DataDir = None,
) -> None:
    """Run the HTTP server, with the job consumer inside it by default.

    On the first start, creates an account named 'default' and prints its API
    key once.
    """
    from granian import Granian
    from granian.constants import Interfaces

    configure_logging()
    database = _open_database(data_dir)
    with database.session() as session:
        if not has_accounts(session):
            account, key = create_account(session, "default")
            console.print(
                Panel(
                    f"Account [bold]{account.name}[/bold] ({account.id})\n"
                    f"API key: [bold]{key.secret}[/bold]\n\n"
                    "This key is shown once; keep it somewhere safe.",
                    title="First start",
                )
            )
    console.print(
        f"Serving on http://{host}:{port}  "
        f"(data in {get_settings().data_dir.resolve()})"
    )
    Granian(
        "reelhouse.app:create_app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=1,
    ).serve()


@app.command()
def worker(data_dir: DataDir = None) -> None:
    """Run a job consumer on its own, beside or instead of the embedded one."""
    from huey.consumer import Consumer

    from reelhouse.jobs import get_queue
    from reelhouse.videos.tasks import recover_stalled, video_tasks

    configure_logging()
    _open_database(data_dir)
    video_tasks()
    recover_stalled()
    Consumer(
        get_queue(), workers=get_settings().worker_threads, worker_type="thread"
    ).run()


@accounts_app.command("create")
def accounts_create(
    name: Annotated[str, typer.Argument(help="A name for the account.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON.")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Create an account and its first API key (shown once)."""
    with _open_database(data_dir).session() as session:
        account, key = create_account(session, name)
    if as_json:
        typer.echo(json.dumps({"account_id": account.id, "api_key": key.secret}))
        return
    console.print(f"Account: {account.id}")
    console.print(f"API key: {key.secret}  (id {key.key_id}; shown once)")


@accounts_app.command("list")
def accounts_list(data_dir: DataDir = None) -> None:
    """List the accounts."""
    with _open_database(data_dir).session() as session:
        summaries = list_accounts(session)
    table = Table("id", "name", "created", "active keys")
    for summary in summaries:
        table.add_row(
            summary.id,
            summary.name,
            summary.created_at.strftime("%Y-%m-%d %H:%M"),
            str(summary.active_keys),
        )
    console.print(table)


@keys_app.command("create")
def keys_create(
    account: Annotated[str, typer.Argument(help="The account's id.")],
    data_dir: DataDir = None,
) -> None:
    """Create another API key for an account (shown once)."""
    try:
        with _open_database(data_dir).session() as session:
            key = create_key(session, account)
    except UnknownAccount:
        raise _fail(
            f"No account has the id {account!r}.",
            "See the ids with: reelhouse accounts list",
        ) from None
    console.print(f"API key: {key.secret}  (id {key.key_id}; shown once)")


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (key_...).")],
    data_dir: DataDir = None,
) -> None:
    """Revoke an API key; requests made with it get 401 from now on."""
    try:
        with _open_database(data_dir).session() as session:
            revoke_key(session, key_id)
    except UnknownKey:
        raise _fail(
            f"No API key has the id {key_id!r}.",
            "Key ids start with key_ and are printed when a key is created.",
        ) from None
    console.print(f"Revoked {key_id}.")
