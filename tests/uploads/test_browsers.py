"""What browser clients need: CORS preflights and readable tus headers."""

import pytest

from tests.conftest import App, rebuilt_app

PREFLIGHT = {
    "Origin": "https://app.example.com",
    "Access-Control-Request-Method": "PATCH",
    "Access-Control-Request-Headers": "tus-resumable,upload-offset,content-type",
}


def test_a_preflight_is_answered_for_the_upload_routes(app: App) -> None:
    response = app.client.options("/files/abc", headers=PREFLIGHT)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "PATCH" in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "upload-offset" in allowed and "tus-resumable" in allowed


def test_responses_expose_the_headers_tus_clients_read(app: App) -> None:
    response = app.create_upload(
        app.account(), **{"Origin": "https://app.example.com", "Upload-Length": "5"}
    )
    exposed = {
        name.strip().lower()
        for name in response.headers["access-control-expose-headers"].split(",")
    }
    for name in ("location", "upload-offset", "upload-length", "upload-expires"):
        assert name in exposed
    assert {"tus-resumable", "tus-version", "tus-extension", "tus-max-size"} <= exposed


def test_allowed_origins_are_configurable(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    origins = '["https://app.example.com"]'
    with rebuilt_app(monkeypatch, REELHOUSE_CORS_ORIGINS=origins) as client:
        allowed = client.options("/files/", headers=PREFLIGHT)
        assert allowed.headers["access-control-allow-origin"] == (
            "https://app.example.com"
        )
        other = client.options(
            "/files/", headers={**PREFLIGHT, "Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in other.headers
