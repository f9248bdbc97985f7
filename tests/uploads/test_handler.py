"""The tus protocol through the app in process (reference: tus.md §3)."""

import base64
import json

import pytest
from fastapi.testclient import TestClient

from tests.conftest import App, rebuilt_app

TUS = {"Tus-Resumable": "1.0.0"}
PATCH = {**TUS, "Content-Type": "application/offset+octet-stream"}


def metadata(**pairs: str) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}"
        for key, value in pairs.items()
    )


def create(app: App, key: str, length: int | None = 10, **extra: str) -> str:
    headers = {**TUS, "Upload-Metadata": metadata(api_key=key, filename="a.mp4")}
    if length is None:
        headers["Upload-Defer-Length"] = "1"
    else:
        headers["Upload-Length"] = str(length)
    headers.update(extra)
    response = app.client.post("/files/", headers=headers)
    assert response.status_code == 201, response.text
    location: str = response.headers["location"]
    return location


def path_of(location: str) -> str:
    return location.removeprefix("http://testserver")


def test_options_advertises_version_and_extensions(app: App) -> None:
    response = app.client.options("/files/")
    assert response.status_code == 204
    assert response.headers["tus-version"] == "1.0.0"
    extensions = response.headers["tus-extension"].split(",")
    assert set(extensions) == {
        "creation",
        "creation-with-upload",
        "creation-defer-length",
        "termination",
        "checksum",
        "concatenation",
        "expiration",
    }
    assert response.headers["tus-checksum-algorithm"] == "sha1,md5,sha256,crc32"


@pytest.mark.parametrize("path", ["/files", "/files/"])
def test_create_returns_201_with_absolute_location(app: App, path: str) -> None:
    key = app.account()
    response = app.client.post(
        path,
        headers={**TUS, "Upload-Length": "5", "Upload-Metadata": metadata(api_key=key)},
    )
    assert response.status_code == 201
    location = response.headers["location"]
    assert location.startswith("http://testserver/files/")
    upload_id = location.rsplit("/", 1)[1]
    assert len(upload_id) >= 32  # at least 128 random bits, hex-encoded
    assert response.headers["tus-resumable"] == "1.0.0"


def test_create_without_api_key_is_401(app: App) -> None:
    response = app.client.post("/files/", headers={**TUS, "Upload-Length": "5"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "api_key_missing"
    assert response.headers["tus-resumable"] == "1.0.0"


def test_create_with_unknown_api_key_is_401(app: App) -> None:
    response = app.client.post(
        "/files/",
        headers={
            **TUS,
            "Upload-Length": "5",
            "Upload-Metadata": metadata(api_key="rh_nope"),
        },
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "api_key_invalid"


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"Tus-Resumable": "0.2.2", "Upload-Length": "5"}, 412, None),
        ({**TUS}, 400, "upload_length_invalid"),
        ({**TUS, "Upload-Length": "-1"}, 400, "upload_length_invalid"),
        ({**TUS, "Upload-Length": "5", "Upload-Defer-Length": "1"}, 400, None),
        ({**TUS, "Upload-Defer-Length": "2"}, 400, "upload_length_invalid"),
        ({**TUS, "Upload-Length": "5", "Upload-Metadata": "name ***"}, 400, None),
        ({**TUS, "Upload-Length": str(2**63)}, 400, "upload_length_invalid"),
        ({**TUS, "Upload-Length": "9" * 40}, 400, "upload_length_invalid"),
    ],
)
def test_create_rejects_bad_headers(
    app: App, headers: dict[str, str], status: int, code: str | None
) -> None:
    response = app.client.post("/files/", headers=headers)
    assert response.status_code == status
    if code:
        assert response.json()["error"]["code"] == code
    if status == 412:
        assert response.headers["tus-version"] == "1.0.0"


def test_head_reports_offset_length_and_metadata_without_api_key(app: App) -> None:
    key = app.account()
    location = create(app, key, 10)
    response = app.client.head(path_of(location), headers=TUS)
    assert response.status_code == 200
    assert response.headers["upload-offset"] == "0"
    assert response.headers["upload-length"] == "10"
    assert response.headers["cache-control"] == "no-store"
    echoed = response.headers["upload-metadata"]
    assert "api_key" not in echoed
    assert key not in base64.b64decode(echoed.split(" ")[1]).decode()


def test_api_key_is_not_stored_with_the_upload(app: App) -> None:
    key = app.account()
    location = create(app, key, 10)
    upload_id = location.rsplit("/", 1)[1]
    stored = (app.data_dir / "uploads" / f"{upload_id}.info").read_text()
    assert key not in stored
    assert "api_key" not in json.loads(stored)["metadata"]


def test_patch_appends_and_reports_the_new_offset(app: App) -> None:
    location = path_of(create(app, app.account(), 10))
    first = app.client.patch(
        location, headers={**PATCH, "Upload-Offset": "0"}, content=b"hello"
    )
    assert first.status_code == 204
    assert first.headers["upload-offset"] == "5"
    second = app.client.patch(
        location, headers={**PATCH, "Upload-Offset": "5"}, content=b"world"
    )
    assert second.status_code == 204
    assert second.headers["upload-offset"] == "10"
    head = app.client.head(location, headers=TUS)
    assert head.headers["upload-offset"] == "10"


@pytest.mark.parametrize("offset", ["0", "4", "6"])
def test_patch_at_the_wrong_offset_is_409_and_changes_nothing(
    app: App, offset: str
) -> None:
    location = path_of(create(app, app.account(), 10))
    app.client.patch(
        location, headers={**PATCH, "Upload-Offset": "0"}, content=b"abcde"
    )
    response = app.client.patch(
        location, headers={**PATCH, "Upload-Offset": offset}, content=b"xy"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "upload_offset_mismatch"
    assert app.client.head(location, headers=TUS).headers["upload-offset"] == "5"


def test_patch_with_wrong_content_type_is_415(app: App) -> None:
    location = path_of(create(app, app.account(), 10))
    response = app.client.patch(
        location,
        headers={**TUS, "Upload-Offset": "0", "Content-Type": "text/plain"},
        content=b"abc",
    )
    assert response.status_code == 415


def test_patch_past_the_length_is_413_and_writes_nothing(app: App) -> None:
    location = path_of(create(app, app.account(), 4))
    response = app.client.patch(
        location, headers={**PATCH, "Upload-Offset": "0"}, content=b"abcdef"
    )
    assert response.status_code == 413
    assert app.client.head(location, headers=TUS).headers["upload-offset"] == "0"


def test_unknown_upload_is_404(app: App) -> None:
    assert app.client.head("/files/" + "0" * 40, headers=TUS).status_code == 404
    response = app.client.patch(
        "/files/" + "0" * 40, headers={**PATCH, "Upload-Offset": "0"}, content=b"a"
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "upload_not_found"


def test_create_above_max_size_is_413(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = app.account()
    with rebuilt_app(monkeypatch, REELHOUSE_MAX_UPLOAD_BYTES="100") as client:
        assert client.options("/files/").headers["tus-max-size"] == "100"
        response = client.post(
            "/files/",
            headers={
                **TUS,
                "Upload-Length": "101",
                "Upload-Metadata": metadata(api_key=key),
            },
        )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "upload_too_large"


def test_deferred_length_is_declared_on_a_later_patch(app: App) -> None:
    location = path_of(create(app, app.account(), None))
    head = app.client.head(location, headers=TUS)
    assert head.headers["upload-defer-length"] == "1"
    assert "upload-length" not in head.headers
    app.client.patch(location, headers={**PATCH, "Upload-Offset": "0"}, content=b"abc")
    shorter = app.client.patch(
        location,
        headers={**PATCH, "Upload-Offset": "3", "Upload-Length": "2"},
        content=b"",
    )
    assert shorter.status_code == 400
    final = app.client.patch(
        location,
        headers={**PATCH, "Upload-Offset": "3", "Upload-Length": "3"},
        content=b"",
    )
    assert final.status_code == 204
    head = app.client.head(location, headers=TUS)
    assert head.headers["upload-length"] == "3"
    assert head.headers["upload-offset"] == "3"


def test_completed_upload_becomes_a_processing_video_once(app: App) -> None:
    key = app.account()
    location = path_of(create(app, key, 3))
    app.client.patch(location, headers={**PATCH, "Upload-Offset": "0"}, content=b"abc")
    again = app.client.patch(
        location, headers={**PATCH, "Upload-Offset": "3"}, content=b""
    )
    assert again.status_code == 204
    assert again.headers["upload-offset"] == "3"
    videos = app.client.get("/videos/list", headers={"X-Api-Key": key}).json()
    assert [v["status"] for v in videos] == ["processing"]
    assert videos[0]["upload_percent"] == 100
    assert videos[0]["original_size"] == 3


def test_zero_length_upload_completes_at_creation(app: App) -> None:
    key = app.account()
    location = create(app, key, 0)
    head = app.client.head(path_of(location), headers=TUS)
    assert head.headers["upload-offset"] == "0"
    assert head.headers["upload-length"] == "0"
    upload_id = location.rsplit("/", 1)[1]
    video = app.client.get(
        f"/videos/get/{upload_id}", headers={"X-Api-Key": key}
    ).json()
    assert video["status"] == "processing"


def test_delete_terminates_the_upload_and_its_video(app: App) -> None:
    key = app.account()
    location = path_of(create(app, key, 10))
    assert app.client.delete(location, headers=TUS).status_code == 204
    assert app.client.head(location, headers=TUS).status_code == 404
    assert app.client.get("/videos/list", headers={"X-Api-Key": key}).json() == []


def create_in(client: TestClient, key: str, **extra: str) -> str:
    response = client.post(
        "/files/",
        headers={
            **TUS,
            "Upload-Length": "1",
            "Upload-Metadata": metadata(api_key=key),
            **extra,
        },
    )
    assert response.status_code == 201
    location: str = response.headers["location"]
    return location


def test_forwarded_headers_are_ignored_unless_trusted(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = app.account()
    forwarded = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}
    assert create_in(app.client, key, **forwarded).startswith(
        "http://testserver/files/"
    )
    with rebuilt_app(monkeypatch, REELHOUSE_TRUST_PROXY="1") as client:
        location = create_in(client, key, **forwarded)
    assert location.startswith("https://evil.example/files/")


def test_public_url_setting_wins(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    key = app.account()
    public = "https://videos.example.com/"
    with rebuilt_app(monkeypatch, REELHOUSE_PUBLIC_URL=public) as client:
        location = create_in(client, key, **{"X-Forwarded-Host": "evil.example"})
    assert location.startswith("https://videos.example.com/files/")


def test_a_declared_length_past_64_bits_is_refused(app: App) -> None:
    location = path_of(create(app, app.account(), None))
    response = app.client.patch(
        location,
        headers={**PATCH, "Upload-Offset": "0", "Upload-Length": str(2**70)},
        content=b"",
    )
    assert response.status_code == 400
    assert "upload-length" not in app.client.head(location, headers=TUS).headers


def test_a_refused_creation_leaves_no_upload_behind(app: App) -> None:
    app.account()
    response = app.client.post("/files/", headers={**TUS, "Upload-Length": str(2**63)})
    assert response.status_code == 400
    assert list((app.data_dir / "uploads").iterdir()) == []
