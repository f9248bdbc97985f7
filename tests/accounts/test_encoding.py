"""An account's encoding defaults: set by the CLI, used by its videos."""

import json
from pathlib import Path

import pytest

from reelhouse.settings import Settings
from reelhouse.videos.encoding import resolved
from tests.accounts.test_keys import cli


def test_accounts_encoding_sets_merges_and_resets_defaults(tmp_path: Path) -> None:
    created = json.loads(cli(tmp_path, "accounts", "create", "A", "--json").stdout)
    account = created["account_id"]

    first = cli(
        tmp_path, "accounts", "encoding", account, "--quality", "93", "--codec", "AV1"
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == (
        "quality 93.0, profile balanced (server default), codec av1"
    )
    second = cli(tmp_path, "accounts", "encoding", account, "--profile", "max")
    assert second.stdout.strip() == "quality 93.0, profile max, codec av1"

    reset = cli(tmp_path, "accounts", "encoding", account, "--reset")
    assert "quality 95.0 (server default)" in reset.stdout
    assert "codec h264 (server default)" in reset.stdout


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("--quality", "40", "outside 60 to 99"),
        ("--profile", "turbo", "profile 'turbo' is not one of fast, balanced, max"),
        ("--codec", "vp9", "codec 'vp9' is not one of h264, hevc, av1"),
    ],
)
def test_accounts_encoding_refuses_what_the_encoder_cannot_do(
    tmp_path: Path, option: str, value: str, said: str
) -> None:
    created = json.loads(cli(tmp_path, "accounts", "create", "A", "--json").stdout)
    done = cli(tmp_path, "accounts", "encoding", created["account_id"], option, value)
    assert done.returncode == 1
    assert said in " ".join(done.stderr.split())
    shown = cli(tmp_path, "accounts", "encoding", created["account_id"])
    assert "(server default)" in shown.stdout  # nothing was changed


def test_accounts_encoding_for_an_unknown_account_is_a_clear_error(
    tmp_path: Path,
) -> None:
    done = cli(tmp_path, "accounts", "encoding", "nope", "--quality", "90")
    assert done.returncode == 1
    assert "No account has the id 'nope'" in done.stderr


def test_upload_beats_account_beats_server() -> None:
    settings = Settings(quality=95, profile="balanced", codec="h264")
    account = {"quality": 90.0, "codec": "av1"}
    assert resolved({}, {}, settings) == (95.0, "balanced", "h264")
    assert resolved({}, account, settings) == (90.0, "balanced", "av1")
    assert resolved({"codec": "hevc", "profile": "fast"}, account, settings) == (
        90.0,
        "fast",
        "hevc",
    )
