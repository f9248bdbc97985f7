"""Accounts and API keys through the real CLI and the API."""

import json
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import App, reelhouse_command


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        reelhouse_command(*args, "--data-dir", str(data_dir)),
        capture_output=True,
        text=True,
    )


def test_accounts_create_json_prints_exactly_the_id_and_keys(tmp_path: Path) -> None:
    done = cli(tmp_path, "accounts", "create", "Acme", "--json")
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    assert set(created) == {"account_id", "api_key", "write_key"}
    # 32 random bytes, URL-safe base64, behind a short prefix.
    assert len(created["api_key"]) >= 40
    # The public write key is another key altogether.
    assert created["write_key"].startswith("wk_") and len(created["write_key"]) >= 24

    listed = cli(tmp_path, "accounts", "list")
    assert created["account_id"] in listed.stdout
    assert "Acme" in listed.stdout


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("REELHOUSE_CHUNK_SECONDS", "a minute", "a minute"),
        ("REELHOUSE_CHUNK_SECONDS", "inf", "finite"),
        ("REELHOUSE_QUEUE_URL", "bogus://", "bogus://"),
        ("REELHOUSE_CORS_ORIGINS", "not json", "JSON"),
        ("REELHOUSE_DATABASE_URL", "bogus://", "database cannot be opened"),
    ],
)
def test_a_bad_setting_is_named_in_one_line_not_a_traceback(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    setting: str,
    value: str,
    named: str,
) -> None:
    monkeypatch.setenv(setting, value)

    done = cli(tmp_path, "accounts", "list")

    assert done.returncode == 1
    problem = done.stderr.splitlines()[0]
    assert problem.startswith("Error:") and named in problem
    assert setting in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "reelhouse.db").exists()


def test_keys_are_stored_hashed_never_in_clear(tmp_path: Path) -> None:
    created = json.loads(cli(tmp_path, "accounts", "create", "A", "--json").stdout)
    database = (tmp_path / "reelhouse.db").read_bytes()
    wal = tmp_path / "reelhouse.db-wal"
    stored = database + (wal.read_bytes() if wal.exists() else b"")
    assert created["api_key"].encode() not in stored


def test_keys_create_for_unknown_account_is_a_clear_error(tmp_path: Path) -> None:
    done = cli(tmp_path, "keys", "create", "no-such-account")
    assert done.returncode == 1
    assert "Error: No account has the id 'no-such-account'" in done.stderr
    assert "reelhouse accounts list" in done.stderr


def test_revoked_key_gets_401_while_the_others_work(app: App) -> None:
    from reelhouse.accounts.keys import create_account, create_key
    from reelhouse.db import get_database

    with get_database().session() as session:
        account, first = create_account(session, "two keys")
        second = create_key(session, account.id)
    client: TestClient = app.client
    for key in (first, second):
        response = client.get("/videos/list", headers={"X-Api-Key": key.secret})
        assert response.status_code == 200

    done = cli(app.data_dir, "keys", "revoke", first.key_id)
    assert done.returncode == 0, done.stderr

    revoked = client.get("/videos/list", headers={"X-Api-Key": first.secret})
    assert revoked.status_code == 401
    assert revoked.json()["error"]["code"] == "api_key_invalid"
    kept = client.get("/videos/list", headers={"X-Api-Key": second.secret})
    assert kept.status_code == 200


@pytest.mark.parametrize("key_id", ["key_unknown"])
def test_revoke_unknown_key_is_a_clear_error(tmp_path: Path, key_id: str) -> None:
    done = cli(tmp_path, "keys", "revoke", key_id)
    assert done.returncode == 1
    assert "Error: No API key has the id" in done.stderr


def test_keys_can_be_listed_and_revoked_by_id_or_by_the_key(tmp_path: Path) -> None:
    created = cli(tmp_path, "accounts", "create", "A")
    assert created.returncode == 0
    key = created.stdout.split("API key: ")[1].split()[0]
    key_id = created.stdout.split("Key id:  ")[1].split()[0]
    account_id = created.stdout.split("Account: ")[1].split()[0]
    second = cli(tmp_path, "keys", "create", account_id)
    second_id = second.stdout.split("Key id:  ")[1].split()[0]

    listed = cli(tmp_path, "keys", "list", account_id)
    assert key_id in listed.stdout and second_id in listed.stdout
    assert key not in listed.stdout
    assert key[:7] + "..." in listed.stdout

    assert cli(tmp_path, "keys", "revoke", key).returncode == 0
    assert cli(tmp_path, "keys", "revoke", second_id).returncode == 0
    from reelhouse.accounts.keys import list_keys
    from reelhouse.db import Database

    database = Database(f"sqlite:///{tmp_path / 'reelhouse.db'}")
    with database.session() as session:
        revoked = {
            k.id: k.revoked_at is not None for k in list_keys(session, account_id)
        }
    database.engine.dispose()
    assert revoked == {key_id: True, second_id: True}


def test_revoking_an_unknown_key_does_not_echo_it(tmp_path: Path) -> None:
    done = cli(tmp_path, "keys", "revoke", "rh_secretlooking")
    assert done.returncode == 1
    assert "rh_secretlooking" not in done.stderr
    assert "No API key has the key given." in done.stderr
