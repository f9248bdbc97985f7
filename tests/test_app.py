"""The application's edges: unexpected failures and what they reveal."""

import logging

import pytest

from tests.conftest import App


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_an_unexpected_failure_is_a_500_in_the_error_shape_that_leaks_nothing(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reelhouse.videos.upload_server import upload_server

    created = app.create_upload(app.account(), **{"Upload-Length": "5"})
    location = created.headers["location"].removeprefix("http://testserver")
    upload_id = location.rsplit("/", 1)[1]

    def disk_failure(wanted: str) -> None:
        raise OSError(f"I/O error reading uploads/{wanted}.info")

    # A fault of the disk under the store, not of the request.
    monkeypatch.setattr(upload_server().handler.store, "get", disk_failure)
    records = Records()
    logger = logging.getLogger("reelhouse.app")
    logger.addHandler(records)
    try:
        client = app.client
        client.raise_server_exceptions = False  # answer as a server would
        response = client.head(
            location, headers={"Tus-Resumable": "1.0.0", "Origin": "https://a.example"}
        )
        failed = client.patch(
            location,
            headers={
                "Tus-Resumable": "1.0.0",
                "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream",
                "Origin": "https://a.example",
            },
            content=b"abc",
        )
    finally:
        logger.removeHandler(records)
    assert response.status_code == 500
    assert failed.status_code == 500
    assert failed.json() == {
        "error": {
            "code": "internal_error",
            "message": "The server failed; the failure has been logged.",
            "status": 500,
        }
    }
    assert failed.headers["tus-resumable"] == "1.0.0"
    assert failed.headers["access-control-allow-origin"] == "*"
    logged = "\n".join(records.lines)
    assert "request_failed method=PATCH route=/files/{upload_id} error=OSError" in (
        logged
    )
    assert upload_id not in logged


def test_the_openapi_document_shows_the_real_errors(app: App) -> None:
    spec = app.client.get("/openapi.json").json()
    listing = spec["paths"]["/videos/list"]["get"]["responses"]
    assert "422" not in listing
    assert "api_key_invalid" in listing["401"]["description"]
    assert listing["401"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ErrorOut"
    )
    download = spec["paths"]["/videos/download/{video_id}"]["get"]["responses"]
    assert {"200", "206", "404", "409", "416"} <= set(download)
    assert "video_not_ready" in download["409"]["description"]
