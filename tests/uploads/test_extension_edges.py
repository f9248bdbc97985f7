"""Edges of the extensions found by trying to break them."""

import base64
import hashlib
import os
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import App

TUS = {"Tus-Resumable": "1.0.0"}
BODY = {**TUS, "Content-Type": "application/offset+octet-stream"}


def auth(key: str) -> dict[str, str]:
    return {"Upload-Metadata": "api_key " + base64.b64encode(key.encode()).decode()}


def create(app: App, key: str, **headers: str) -> str:
    response = app.create_upload(key, **headers)
    assert response.status_code == 201, response.text
    location: str = response.headers["location"]
    return location.removeprefix("http://testserver")


def partial(app: App, key: str, data: bytes) -> str:
    where = create(
        app, key, **{"Upload-Length": str(len(data)), "Upload-Concat": "partial"}
    )
    app.client.patch(where, headers={**BODY, "Upload-Offset": "0"}, content=data)
    return where


def videos(app: App, key: str) -> list[dict[str, object]]:
    listed: list[dict[str, object]] = app.client.get(
        "/videos/list", headers={"X-Api-Key": key}
    ).json()
    return listed


def test_a_partial_joins_one_final_once(app: App) -> None:
    key = app.account()
    part = partial(app, key, b"abc")
    twice = app.client.post(
        "/files/",
        headers={**TUS, "X-Api-Key": key, "Upload-Concat": f"final;{part} {part}"},
    )
    assert twice.status_code == 400
    assert twice.json()["error"]["code"] == "upload_concat_invalid"
    once = app.client.post(
        "/files/",
        headers={**TUS, "X-Api-Key": key, "Upload-Concat": f"final;{part}?x=1"},
    )
    assert once.status_code == 201
    again = app.client.post(
        "/files/", headers={**TUS, "X-Api-Key": key, "Upload-Concat": f"final;{part}"}
    )
    assert again.status_code == 400  # its bytes went to the first final


def test_a_refused_creation_with_upload_leaves_nothing_behind(app: App) -> None:
    key = app.account()
    too_long = app.client.post(
        "/files/",
        headers={**BODY, **auth(key), "Upload-Length": "3"},
        content=b"abcdef",
    )
    assert too_long.status_code == 413
    wrong = base64.b64encode(hashlib.sha1(b"other").digest()).decode()
    mismatch = app.client.post(
        "/files/",
        headers={
            **BODY,
            **auth(key),
            "Upload-Length": "10",
            "Upload-Checksum": f"sha1 {wrong}",
        },
        content=b"abc",
    )
    assert mismatch.status_code == 460
    assert videos(app, key) == []
    assert [p.name for p in (app.data_dir / "uploads").iterdir()] == []


def test_a_digest_of_the_wrong_length_is_invalid_not_a_mismatch(app: App) -> None:
    where = create(app, app.account(), **{"Upload-Length": "3"})
    for header in ("sha1", "sha1 ", "sha1 YWJj"):
        response = app.client.patch(
            where,
            headers={**BODY, "Upload-Offset": "0", "Upload-Checksum": header},
            content=b"abc",
        )
        assert response.status_code == 400, header
        assert response.json()["error"]["code"] == "checksum_invalid"


def test_method_override_on_the_collection_is_refused(app: App) -> None:
    key = app.account()
    response = app.client.post(
        "/files/",
        headers={
            **TUS,
            **auth(key),
            "Upload-Length": "3",
            "X-HTTP-Method-Override": "PATCH",
        },
    )
    assert response.status_code == 405
    assert videos(app, key) == []


def test_uploads_expire_after_a_lifetime_without_bytes(app: App) -> None:
    from reelhouse.videos.upload_server import upload_server

    key = app.account()
    idle = create(app, key, **{"Upload-Length": "10"})
    busy = create(app, key, **{"Upload-Length": "10"})
    unjoined = partial(app, key, b"abc")
    hours_ago = time.time() - 23 * 3600
    for where in (idle, unjoined, busy):
        # The data file's time is when bytes last arrived.
        data = app.data_dir / "uploads" / where.rsplit("/", 1)[1]
        os.utime(data, (hours_ago, hours_ago))
    # Bytes arrive at the busy one now: its lifetime starts again.
    sent = app.client.patch(
        busy, headers={**BODY, "Upload-Offset": "0"}, content=b"abc"
    )
    assert sent.status_code == 204

    later = datetime.now(UTC) + timedelta(hours=2)
    assert upload_server().handler.remove_expired(now=later) == 2
    assert app.client.head(idle, headers=TUS).status_code == 404
    assert app.client.head(unjoined, headers=TUS).status_code == 404
    assert app.client.head(busy, headers=TUS).status_code == 200
    assert [v["upload_id"] for v in videos(app, key)] == [busy.rsplit("/", 1)[1]]


def test_the_response_that_finishes_an_upload_names_no_expiry(app: App) -> None:
    where = create(app, app.account(), **{"Upload-Length": "3"})
    done = app.client.patch(
        where, headers={**BODY, "Upload-Offset": "0"}, content=b"abc"
    )
    assert done.status_code == 204
    assert "upload-expires" not in done.headers


def test_leading_zeros_are_just_a_number(app: App) -> None:
    where = create(app, app.account(), **{"Upload-Length": "0" * 30 + "5"})
    assert app.client.head(where, headers=TUS).headers["upload-length"] == "5"


@pytest.mark.parametrize(
    "upload_id",
    ["a" * 300, "x%00", "A" * 40, "..%2F..%2Freelhouse.db", "%E2%98%83"],
)
def test_an_id_this_server_never_makes_is_simply_not_found(
    app: App, upload_id: str
) -> None:
    key = app.account()
    path = f"/files/{upload_id}"
    for method, headers in (
        ("HEAD", TUS),
        ("DELETE", TUS),
        ("PATCH", {**BODY, "Upload-Offset": "0"}),
    ):
        answer = app.client.request(method, path, headers=headers, content=b"x")
        assert answer.status_code == 404, (method, answer.status_code)
    joined = app.client.post(
        "/files/",
        headers={**TUS, **auth(key), "Upload-Concat": f"final;{path}"},
    )
    assert joined.status_code in {400, 404}, joined.text
