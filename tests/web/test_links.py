"""Signed playback links: how private videos play, and nothing else does."""

import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from sqlalchemy import update

from reelhouse.accounts import signing
from reelhouse.db import get_database
from reelhouse.settings import get_settings
from reelhouse.storage import get_blob_store
from reelhouse.videos.models import Video
from tests.conftest import App, reelhouse_command

MASTER = "#EXTM3U\n#EXT-X-VERSION:7\n"


def private_ready_video(app: App, key: str, tmp_path: Path) -> str:
    """A video marked private and ready, with a poster, a download and a ladder."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    created = app.create_upload(key, **{"Upload-Length": "10"})
    upload_id = created.headers["location"].rsplit("/", 1)[1]
    blobs = get_blob_store()
    with get_database().session() as session:
        video = session.query(Video).filter_by(upload_id=upload_id).one()
        video_id = video.id
    prefix = f"videos/{video_id}"
    for name, content in [
        ("poster.jpg", b"\xff\xd8poster"),
        ("video.mp4", b"mp4 bytes"),
        ("hls/master.m3u8", MASTER.encode()),
    ]:
        staged = tmp_path / name.replace("/", "-")
        staged.write_bytes(content)
        blobs.adopt(f"{prefix}/{name}", staged)
    with get_database().session() as session:
        session.execute(
            update(Video)
            .where(Video.id == video_id)
            .values(
                status="ready",
                private=True,
                poster_key=f"{prefix}/poster.jpg",
                video_key=f"{prefix}/video.mp4",
                streaming_key=f"{prefix}/hls/master.m3u8",
            )
        )
    return video_id


def link(app: App, key: str, video_id: str, **body: float) -> str:
    made = app.client.post(
        f"/videos/{video_id}/token", headers={"X-Api-Key": key}, json=body or None
    )
    assert made.status_code == 200, made.text
    token: str = made.json()["token"]
    assert made.json()["url"].endswith(f"/embed/video/{video_id}/token/{token}")
    return token


def refused(app: App, path: str) -> str:
    answer = app.client.get(path)
    assert answer.status_code == 403, (path, answer.status_code)
    code: str = answer.json()["error"]["code"]
    return code


def test_a_private_video_plays_only_through_a_signed_link(
    app: App, tmp_path: Path
) -> None:
    key = app.account()
    video_id = private_ready_video(app, key, tmp_path)
    base = f"/embed/video/{video_id}"
    for path in ("", "/poster.jpg", "/video.mp4", "/hls/master.m3u8"):
        assert app.client.get(base + path).status_code == 404, path

    token = link(app, key, video_id)
    page = app.client.get(f"{base}/token/{token}")

    assert page.status_code == 200
    assert f'data-streaming="{base}/token/{token}/hls/master.m3u8"' in page.text
    assert app.client.get(f"{base}/token/{token}/hls/master.m3u8").text == MASTER
    assert app.client.get(f"{base}/token/{token}/poster.jpg").content.startswith(
        b"\xff\xd8"
    )
    assert app.client.get(f"{base}/token/{token}/video.mp4").content == b"mp4 bytes"
    for path in ("", "/poster.jpg", "/video.mp4", "/hls/master.m3u8"):
        head = app.client.head(f"{base}/token/{token}{path}")
        assert head.status_code == 200 and head.content == b"", path
        assert app.client.head(base + path).status_code == 404, path


def test_a_link_for_another_video_or_account_or_time_does_not_play(
    app: App, tmp_path: Path
) -> None:
    key = app.account()
    video_id = private_ready_video(app, key, tmp_path / "a")
    other_key = app.account("other")
    other_video = private_ready_video(app, other_key, tmp_path / "b")
    base = f"/embed/video/{video_id}"

    # A link to the other account's video, signed by that account.
    foreign = link(app, other_key, other_video)
    assert refused(app, f"{base}/token/{foreign}") == "token_invalid"
    # The other account cannot sign for this one's video.
    denied = app.client.post(
        f"/videos/{video_id}/token", headers={"X-Api-Key": other_key}
    )
    assert denied.status_code == 404
    # Expired, and plain garbage.
    with get_database().session() as session:
        owner = session.get(Video, video_id)
        assert owner is not None
        account_id = owner.account_id
    secret = signing.signing_secret(get_settings(), account_id, 1)
    stale = signing.sign(secret, video_id, datetime.now(UTC) - timedelta(seconds=5))
    assert refused(app, f"{base}/token/{stale}") == "token_invalid"
    assert (
        "expired" in app.client.get(f"{base}/token/{stale}").json()["error"]["message"]
    )
    assert refused(app, f"{base}/token/not.a.token") == "token_invalid"


def test_rotating_the_secret_voids_old_links_and_signs_new_ones(
    app: App, tmp_path: Path
) -> None:
    key = app.account()
    video_id = private_ready_video(app, key, tmp_path)
    base = f"/embed/video/{video_id}"
    old = link(app, key, video_id)

    rotated = app.client.post("/account/signing-secret", headers={"X-Api-Key": key})

    assert rotated.status_code == 200
    secret = rotated.json()["signing_secret"]
    assert refused(app, f"{base}/token/{old}") == "token_invalid"
    # A link signed in the customer's own code with the secret it was shown.
    expires = int((datetime.now(UTC) + timedelta(minutes=5)).timestamp())
    own = jwt.encode({"video_id": video_id, "exp": expires}, secret, algorithm="HS256")
    assert app.client.get(f"{base}/token/{own}").status_code == 200
    # The secret is nowhere in the database, and the server's key is private.
    data = get_settings().data_dir
    stored = b"".join(path.read_bytes() for path in data.glob("reelhouse.db*"))
    assert secret.encode() not in stored
    assert stat.S_IMODE((data / "secret.key").stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "expires_in",
    ["0", "0.5", "-5", str(8 * 86400), "1e999", "NaN", "Infinity", '"3600"', "true"],
)
def test_a_link_lasts_up_to_a_week(app: App, tmp_path: Path, expires_in: str) -> None:
    key = app.account()
    video_id = private_ready_video(app, key, tmp_path)
    made = app.client.post(
        f"/videos/{video_id}/token",
        headers={"X-Api-Key": key, "Content-Type": "application/json"},
        content=f'{{"expires_in": {expires_in}}}',
    )
    assert made.status_code == 400
    assert made.json()["error"]["code"] == "invalid_request"


def test_a_link_expires_at_the_second_it_names_never_before(
    app: App, tmp_path: Path
) -> None:
    key = app.account()
    video_id = private_ready_video(app, key, tmp_path)
    asked = datetime.now(UTC)
    made = app.client.post(
        f"/videos/{video_id}/token",
        headers={"X-Api-Key": key},
        json={"expires_in": 1.5},
    ).json()

    expires_at = datetime.fromisoformat(made["expires_at"])
    claims = jwt.decode(made["token"], options={"verify_signature": False})
    assert claims["exp"] == expires_at.timestamp()  # whole seconds both
    assert expires_at >= asked + timedelta(seconds=1.5)
    assert app.client.get(made["url"]).status_code == 200


def old_form(api_key: str, video_id: str, expiry: float) -> str:
    """A link's token as the old clients made it: signed with the API key."""
    return jwt.encode({"video_id": video_id, "expiry": expiry}, api_key, "HS256")


def opt_in(
    app: App, account_id: str, *options: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        reelhouse_command(
            "accounts",
            "legacy-links",
            account_id,
            *options,
            "--data-dir",
            str(app.data_dir),
        ),
        capture_output=True,
        text=True,
    )


def test_old_form_links_play_only_for_an_account_that_opted_in(
    app: App, tmp_path: Path
) -> None:
    key = app.account()
    video_id = private_ready_video(app, key, tmp_path)
    account_id = app.client.get("/account", headers={"X-Api-Key": key}).json()["id"]
    base = f"/embed/video/{video_id}/token"
    soon = datetime.now(UTC) + timedelta(minutes=5)
    in_seconds = old_form(key, video_id, int(soon.timestamp()))
    in_milliseconds = old_form(key, video_id, int(soon.timestamp() * 1000))
    expired = old_form(key, video_id, int(datetime.now(UTC).timestamp()) - 60)

    assert refused(app, f"{base}/{in_seconds}") == "token_invalid"  # not opted in
    wrong = opt_in(app, account_id, "--api-key", app.account("other"))
    assert wrong.returncode == 1 and "not a live API key" in wrong.stderr + wrong.stdout
    done = opt_in(app, account_id, "--api-key", key)
    assert done.returncode == 0, done.stderr

    assert app.client.get(f"{base}/{in_seconds}").status_code == 200
    assert app.client.get(f"{base}/{in_milliseconds}").status_code == 200
    assert refused(app, f"{base}/{expired}") == "token_invalid"
    # Kept sealed, never as the key itself.
    data = get_settings().data_dir
    stored = b"".join(path.read_bytes() for path in data.glob("reelhouse.db*"))
    assert key.encode() not in stored

    assert opt_in(app, account_id, "--off").returncode == 0
    assert refused(app, f"{base}/{in_seconds}") == "token_invalid"
