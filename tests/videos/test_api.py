"""The documented video calls, in process, with videos made through tus."""

import base64

import pytest

from reelhouse.uploads import handler
from tests.conftest import App

TUS = {"Tus-Resumable": "1.0.0"}


def upload(app: App, key: str, name: str, length: int = 0) -> str:
    """Create an upload named ``name``; returns its upload id."""
    encoded = base64.b64encode(name.encode()).decode()
    response = app.client.post(
        "/files/",
        headers={
            **TUS,
            "Upload-Length": str(length),
            "Upload-Metadata": f"api_key {base64.b64encode(key.encode()).decode()},"
            f"name {encoded}",
        },
    )
    assert response.status_code == 201
    upload_id: str = response.headers["location"].rsplit("/", 1)[1]
    return upload_id


def get(app: App, key: str | None, path: str) -> tuple[int, object]:
    headers = {"X-Api-Key": key} if key is not None else {}
    response = app.client.get(path, headers=headers)
    return response.status_code, response.json()


def test_list_is_newest_first_with_every_documented_field(app: App) -> None:
    key = app.account()
    upload(app, key, "first", 10)
    upload(app, key, "second", 10)
    status, videos = get(app, key, "/videos/list")
    assert status == 200
    assert isinstance(videos, list)
    assert [v["name"] for v in videos] == ["second", "first"]
    expected = {
        "id", "name", "status", "upload_id", "original", "type", "original_size",
        "size", "private", "is_archived", "upload_percent", "compression_progress",
        "default_key", "token", "permission", "tags", "related", "created_at",
        "updated_at", "duration", "width", "height", "error", "renditions",
        "compression",
    }  # fmt: skip
    assert set(videos[0]) == expected
    assert videos[0]["status"] == "uploading"
    assert videos[0]["related"] == {"duplicate": [], "modified": [], "notready": []}
    assert videos[0]["created_at"].endswith("Z")
    assert len(videos[0]["created_at"]) == len("2026-01-01T00:00:00.000Z")
    assert get(app, key, "/video/list") == (200, videos)


def test_get_accepts_the_video_id_or_the_upload_id(app: App) -> None:
    key = app.account()
    upload_id = upload(app, key, "Launch day", 10)
    status, video = get(app, key, f"/videos/get/{upload_id}")
    assert status == 200
    assert isinstance(video, dict)
    assert video["upload_id"] == upload_id
    assert get(app, key, f"/videos/get/{video['id']}") == (200, video)


def test_name_defaults_to_the_filename(app: App) -> None:
    key = app.account()
    response = app.client.post(
        "/files/",
        headers={
            **TUS,
            "Upload-Length": "4",
            "Upload-Metadata": f"api_key {base64.b64encode(key.encode()).decode()},"
            f"filename {base64.b64encode(b'clip.mp4').decode()}",
        },
    )
    upload_id = response.headers["location"].rsplit("/", 1)[1]
    _status, video = get(app, key, f"/videos/get/{upload_id}")
    assert isinstance(video, dict)
    assert video["name"] == "clip.mp4"
    assert video["original"] == "clip.mp4"
    assert video["type"] == "video/mp4"


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("launch", ["Launch day"]),
        ("LAUNCH%20DAY", ["Launch day"]),
        ("DAY", ["Launch day"]),
        ("vidéo", ["Ma VIDÉO 日本"]),
        ("日本", ["Ma VIDÉO 日本"]),
        ("100%25", ["100% real"]),
        ("100", ["100% real", "100x_real"]),
        ("0_", []),
        ("x_r", ["100x_real"]),
        ("%25", ["100% real"]),
        ("nothing", []),
        ("a%2Fb", ["a/b"]),
    ],
)
def test_search_matches_anywhere_ignoring_case_and_wildcards(
    app: App, term: str, expected: list[str]
) -> None:
    key = app.account()
    for name in ["Launch day", "Ma VIDÉO 日本", "100% real", "100x_real", "a/b"]:
        upload(app, key, name, 10)
    status, videos = get(app, key, f"/videos/search/{term}")
    assert status == 200
    assert isinstance(videos, list)
    assert sorted(v["name"] for v in videos) == sorted(expected)


def test_download_before_ready_is_a_clear_409(app: App) -> None:
    key = app.account()
    upload_id = upload(app, key, "pending", 10)
    _status, video = get(app, key, f"/videos/get/{upload_id}")
    assert isinstance(video, dict)
    status, body = get(app, key, f"/videos/download/{video['id']}")
    assert status == 409
    assert body == {
        "error": {
            "code": "video_not_ready",
            "message": "The video is uploading; it can be downloaded once it is ready.",
            "status": 409,
        }
    }


@pytest.mark.parametrize(
    "path", ["/videos/list", "/videos/get/x", "/videos/search/x", "/videos/download/x"]
)
def test_every_call_needs_a_valid_api_key(app: App, path: str) -> None:
    assert get(app, None, path)[0] == 401
    status, body = get(app, "rh_wrong", path)
    assert status == 401
    assert isinstance(body, dict)
    assert body["error"]["code"] == "api_key_invalid"


def test_accounts_never_see_each_others_videos(app: App) -> None:
    alice, bob = app.account("alice"), app.account("bob")
    upload_id = upload(app, alice, "secret plans", 10)
    _status, video = get(app, alice, f"/videos/get/{upload_id}")
    assert isinstance(video, dict)

    assert get(app, bob, "/videos/list") == (200, [])
    assert get(app, bob, "/videos/search/secret") == (200, [])
    for path in (f"/videos/get/{upload_id}", f"/videos/get/{video['id']}"):
        status, body = get(app, bob, path)
        assert status == 404
        assert isinstance(body, dict)
        assert body["error"]["code"] == "video_not_found"
    assert get(app, bob, f"/videos/download/{video['id']}")[0] == 404


def test_unknown_route_uses_the_error_shape(app: App) -> None:
    status, body = get(app, None, "/nowhere")
    assert status == 404
    assert body == {
        "error": {
            "code": "not_found",
            "message": "There is nothing at this address.",
            "status": 404,
        }
    }


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("Launch\nday\x00 ", "Launch day"),
        ("  tabs\tand   spaces ", "tabs and spaces"),
        ("👩‍👩‍👧 family", "👩‍👩‍👧 family"),
        (" ", "Untitled"),
        ("x" * 600, "x" * 500),
    ],
)
def test_names_are_cleaned_before_they_are_stored(
    app: App, sent: str, stored: str
) -> None:
    key = app.account()
    upload_id = upload(app, key, sent, 10)
    _status, video = get(app, key, f"/videos/get/{upload_id}")
    assert isinstance(video, dict)
    assert video["name"] == stored


@pytest.mark.parametrize("term", ["%00", "%0A", "%20"])
def test_search_for_nothing_visible_finds_nothing(app: App, term: str) -> None:
    key = app.account()
    upload(app, key, "Launch day", 10)
    assert get(app, key, f"/videos/search/{term}") == (200, [])


def test_size_follows_a_deferred_length_once_declared(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handler, "PROGRESS_INTERVAL", 0.0)
    key = app.account()
    encoded = base64.b64encode(key.encode()).decode()
    created = app.client.post(
        "/files/",
        headers={
            **TUS,
            "Upload-Defer-Length": "1",
            "Upload-Metadata": f"api_key {encoded}",
        },
    )
    location = created.headers["location"].removeprefix("http://testserver")
    patch = {**TUS, "Content-Type": "application/offset+octet-stream"}
    app.client.patch(location, headers={**patch, "Upload-Offset": "0"}, content=b"ab")
    upload_id = location.rsplit("/", 1)[1]
    assert get(app, key, f"/videos/get/{upload_id}")[1]["original_size"] == 2  # type: ignore[index]
    app.client.patch(
        location,
        headers={**patch, "Upload-Offset": "2", "Upload-Length": "10"},
        content=b"cd",
    )
    _status, video = get(app, key, f"/videos/get/{upload_id}")
    assert isinstance(video, dict)
    assert video["original_size"] == 10
    assert video["upload_percent"] == 40


def test_upload_percent_is_written_at_most_twice_a_second(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(handler.time, "monotonic", lambda: clock[0])
    key = app.account()
    location = f"/files/{upload(app, key, 'Progress', 100)}"
    patch = {**TUS, "Content-Type": "application/offset+octet-stream"}

    def send(offset: int) -> int:
        response = app.client.patch(
            location, headers={**patch, "Upload-Offset": str(offset)}, content=b"x"
        )
        assert response.status_code == 204
        video = get(app, key, f"/videos/get/{location.rsplit('/', 1)[1]}")[1]
        assert isinstance(video, dict)
        percent: int = video["upload_percent"]
        return percent

    assert send(0) == 1  # the first bytes always show
    assert send(1) == 1  # too soon after the last write
    clock[0] += handler.PROGRESS_INTERVAL
    assert send(2) == 3  # late enough: caught up
    clock[0] += 60
    assert send(3) == 4
