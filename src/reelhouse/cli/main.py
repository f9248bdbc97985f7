"""``reelhouse``: run the server and workers, manage accounts and API keys."""

import json
import os
import re
import socket
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import SettingsError
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from reelhouse.accounts.keys import (
    NewKey,
    UnknownAccount,
    UnknownKey,
    create_account,
    create_key,
    has_accounts,
    list_accounts,
    list_keys,
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
        help="Folder for the database, uploads and files (default: "
        "$REELHOUSE_DATA_DIR, else ./reelhouse-data).",
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
    try:
        get_settings()
    except ValidationError as error:
        raise _fail(
            "; ".join(_setting_problem(problem) for problem in error.errors()),
            "Correct it in the environment and run the command again.",
        ) from None
    except SettingsError as error:
        # A list setting that is not JSON; pydantic-settings names the field.
        named = re.search(r'field "(\w+)"', str(error))
        setting = f"REELHOUSE_{named[1].upper()}" if named else "A setting"
        raise _fail(
            f"{setting} cannot be read: it must be JSON, "
            'e.g. ["https://app.example.com"].',
            "Correct it in the environment and run the command again.",
        ) from None
    get_database.cache_clear()
    try:
        database = get_database()
        database.migrate()
    except (SQLAlchemyError, OSError) as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise _fail(
            f"The database cannot be opened: {first_line}",
            "Check REELHOUSE_DATABASE_URL and REELHOUSE_DATA_DIR (or --data-dir).",
        ) from None
    return database


def _setting_problem(problem: ErrorDetails) -> str:
    names = [str(part) for part in problem["loc"]]
    setting = "REELHOUSE_" + "__".join(names).upper()
    return f"{setting} {problem['msg'].lower()} (it is {problem['input']!r})"


def _fail(message: str, hint: str) -> typer.Exit:
    # Never wrapped: a long line stays whole when it is searched or copied.
    errors.print(f"[red]Error:[/red] {message}\n{hint}", soft_wrap=True)
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
    configure_logging()
    _ensure_port_free(host, port)
    database = _open_database(data_dir)
    with database.session() as session:
        if not has_accounts(session):
            account, key = create_account(session, "default")
            # Plain lines, never wrapped: the key must survive a copy from
            # a narrow terminal, since it is shown only this once.
            typer.echo(f"First start: created the account 'default' ({account.id}).")
            _print_new_key(key)
            typer.echo("The key is shown only now; keep it somewhere safe.")
            # Public, so not secret: players send playback events with it.
            typer.echo(f"Write key for playback events: {account.write_key}")
    console.print(
        f"Serving on http://{host}:{port}  "
        f"(data in {get_settings().data_dir.resolve()})"
    )
    sys.stdout.flush()
    # The server replaces this process, shedding what the set-up above
    # imported (the command line, Alembic): a serving process stays small.
    os.execv(
        sys.executable, [sys.executable, "-m", "reelhouse.server", host, str(port)]
    )


def _ensure_port_free(host: str, port: int) -> None:
    """Fail early when another server listens on the port.

    granian binds with SO_REUSEPORT, so a second server would start quietly and
    the kernel would share connections between the two.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise _fail(
                f"Cannot listen on {host}:{port}: {error.strerror}.",
                "Is another server running? Stop it, or pick another --port.",
            ) from None


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
        created = {
            "account_id": account.id,
            "api_key": key.secret,
            "write_key": account.write_key,
        }
        typer.echo(json.dumps(created))
        return
    typer.echo(f"Account: {account.id}")
    typer.echo(f"Write key (public, for playback events): {account.write_key}")
    _print_new_key(key)


@accounts_app.command("list")
def accounts_list(data_dir: DataDir = None) -> None:
    """List the accounts."""
    with _open_database(data_dir).session() as session:
        summaries = list_accounts(session)
    table = Table("name", "created", "active keys")
    table.add_column("id", no_wrap=True, min_width=36)
    for summary in summaries:
        table.add_row(
            summary.name,
            summary.created_at.strftime("%Y-%m-%d %H:%M"),
            str(summary.active_keys),
            summary.id,
        )
    console.print(table)


LEGACY_HELP = "See reelhouse accounts legacy-links --help."


@accounts_app.command("legacy-links")
def accounts_legacy_links(
    account: Annotated[str, typer.Argument(help="The account's id.")],
    api_key: Annotated[
        str | None,
        typer.Option(help="The API key the account's old links were signed with."),
    ] = None,
    off: Annotated[
        bool, typer.Option("--off", help="Stop honouring links in the old form.")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Honour the account's playback links in the old form (a JWT signed with
    an API key, its expiry in seconds or milliseconds).

    The key is kept sealed with the server's key, unlike every other key,
    which is stored only as a hash: opt in only where old links must live on.
    """
    from reelhouse.accounts.keys import account_for_secret
    from reelhouse.accounts.models import Account
    from reelhouse.accounts.signing import seal

    if off == (api_key is not None):
        raise _fail("Give either --api-key KEY or --off.", LEGACY_HELP)
    with _open_database(data_dir).session() as session:
        found = session.get(Account, account)
        if found is None:
            raise _unknown_account(account)
        if api_key is not None and account_for_secret(session, api_key) != account:
            raise _fail("That is not a live API key of this account.", LEGACY_HELP)
        found.legacy_link_key = (
            None if api_key is None else seal(get_settings(), api_key)
        )
    typer.echo("Old-form links: " + ("off" if off else "honoured"))


@accounts_app.command("encoding")
def accounts_encoding(
    account: Annotated[str, typer.Argument(help="The account's id.")],
    quality: Annotated[
        float | None, typer.Option(help="VMAF the downloads reach (60 to 99).")
    ] = None,
    profile: Annotated[str | None, typer.Option(help="fast, balanced or max.")] = None,
    codec: Annotated[str | None, typer.Option(help="h264, hevc or av1.")] = None,
    reset: Annotated[
        bool, typer.Option("--reset", help="Go back to the server's defaults.")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Set the account's encoding defaults; each upload may still set its own."""
    from reelhouse.accounts.models import Account
    from reelhouse.errors import ReelhouseError
    from reelhouse.videos.encoding import requested

    given = {"quality": quality, "profile": profile, "codec": codec}
    try:
        changes = requested({k: str(v) for k, v in given.items() if v is not None})
    except ReelhouseError as error:
        raise _fail(error.message, "See reelhouse accounts encoding --help.") from None
    with _open_database(data_dir).session() as session:
        found = session.get(Account, account)
        if found is None:
            raise _unknown_account(account)
        found.encoding = changes if reset else {**found.encoding, **changes}
        now = dict(found.encoding)
    settings = get_settings()
    shown = {
        "quality": now.get("quality", settings.quality),
        "profile": now.get("profile", settings.profile),
        "codec": now.get("codec", settings.codec),
    }
    typer.echo(
        ", ".join(
            f"{name} {value}" + ("" if name in now else " (server default)")
            for name, value in shown.items()
        )
    )


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
        raise _unknown_account(account) from None
    _print_new_key(key)


@keys_app.command("list")
def keys_list(
    account: Annotated[str, typer.Argument(help="The account's id.")],
    data_dir: DataDir = None,
) -> None:
    """List an account's API keys: ids, first characters, state."""
    try:
        with _open_database(data_dir).session() as session:
            keys = list_keys(session, account)
    except UnknownAccount:
        raise _unknown_account(account) from None
    table = Table("starts with", "created", "revoked")
    table.add_column("id", no_wrap=True, min_width=20)
    for key in keys:
        table.add_row(
            key.hint + "...",
            key.created_at.strftime("%Y-%m-%d %H:%M"),
            key.revoked_at.strftime("%Y-%m-%d %H:%M") if key.revoked_at else "",
            key.id,
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[
        str, typer.Argument(help="The key's id (key_...), or the key itself.")
    ],
    data_dir: DataDir = None,
) -> None:
    """Revoke an API key; requests made with it get 401 from now on."""
    try:
        with _open_database(data_dir).session() as session:
            revoked = revoke_key(session, key)
            key_id = revoked.id
    except UnknownKey:
        # A key given in full is a secret: it is not repeated back.
        named = f"the id {key!r}" if key.startswith("key_") else "the key given"
        raise _fail(
            f"No API key has {named}.",
            "Key ids start with key_; see them with: reelhouse keys list ACCOUNT",
        ) from None
    typer.echo(f"Revoked {key_id}.")


def _print_new_key(key: NewKey) -> None:
    typer.echo(f"API key: {key.secret}")
    typer.echo(f"Key id:  {key.key_id} (to revoke it; the key is shown only once)")


def _unknown_account(account: str) -> typer.Exit:
    return _fail(
        f"No account has the id {account!r}.",
        "See the ids with: reelhouse accounts list",
    )
