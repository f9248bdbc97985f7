"""The embeddable player in Debian's Chromium, driven by Playwright, against a
real server process: it plays a real clip and reports what the viewer did."""

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.conftest import Server

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# As this machine's Chromium needs them: no sandbox as root, no calls home.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("the player tests need Debian's chromium (make test installs it)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield launched
        launched.close()


def ready_video(server: Server, api_key: str, clip: Path) -> dict[str, Any]:
    """Upload ``clip`` in one PATCH and wait for it to be ready."""
    data = clip.read_bytes()
    metadata = ",".join(
        f"{name} {base64.b64encode(value.encode()).decode()}"
        for name, value in {"api_key": api_key, "filename": clip.name}.items()
    )
    tus = {"Tus-Resumable": "1.0.0"}
    created = httpx.post(
        f"{server.url}/files/",
        headers={**tus, "Upload-Length": str(len(data)), "Upload-Metadata": metadata},
    )
    patched = httpx.patch(
        created.headers["location"],
        content=data,
        headers={
            **tus,
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
        },
        timeout=60,
    )
    assert patched.status_code == 204
    upload_id = created.headers["location"].rsplit("/", 1)[1]
    video = server.wait_for(api_key, upload_id, lambda v: v["status"] != "processing")
    assert video["status"] == "ready", video
    return video


def test_the_player_plays_a_clip_and_reports_the_view(
    server: Server, media: Path, browser: Browser
) -> None:
    clip = media / "hello-720p-screen.mp4"  # 8.3 s, a screen recording with sound
    created = server.account()
    video = ready_video(server, created["api_key"], clip)
    page = browser.new_page()
    failed: list[str] = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    page.goto(f"{server.url}/embed/video/{video['id']}")
    player = "document.querySelector('video')"

    # Play a little, pause, seek back while paused, then play to the end.
    page.evaluate(f"{player}.muted = true; {player}.play()")
    page.wait_for_function(f"{player}.currentTime > 2", timeout=30_000)
    page.evaluate(f"{player}.pause()")
    page.wait_for_timeout(1000)
    page.evaluate(f"{player}.currentTime = 1")
    page.wait_for_function(f"!{player}.seeking", timeout=10_000)
    page.evaluate(f"{player}.play()")
    page.wait_for_function(f"{player}.ended", timeout=60_000)
    uses_hls = page.evaluate("window.Hls !== undefined && Hls.isSupported()")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "player-ended.png"))
    page.close()  # the page goes: what is left is sent by beacon

    with server.api(created["api_key"]) as api:
        deadline = time.monotonic() + 15
        while True:
            found = api.get(f"/analytics/events/video/{video['id']}").json()
            names = [event["event"] for event in found]
            if "Video Playback Completed" in names or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        (summary,) = api.get("/analytics/summary").json()

    assert uses_hls
    assert failed == []  # every request the page made was answered, icon too
    assert names[0] == "Video Player Loaded"
    for expected in (
        "Video Playback Started",
        "Video Content Started",
        "Video Playback Paused",
        "Video Playback Seek Started",
        "Video Playback Seek Completed",
        "Video Playback Resumed",
        "Video Playback Completed",
    ):
        assert expected in names, names
    assert {event["session_id"] for event in found} == {found[0]["session_id"]}
    # The seek left from where the pause was (past 2 s) for 1 s.
    (seek,) = [e for e in found if e["event"] == "Video Playback Seek Started"]
    assert seek["position"] >= 2 and seek["properties"]["seek_position"] == 1
    # Heartbeats only while pictures move, never before the first frame.
    first_frame = names.index("Video Content Started")
    assert "Video Content Playing" not in names[:first_frame]
    assert summary["views"] == 1 and summary["impressions"] == 1
    assert summary["startup_time_ms"]["views"] == 1
    assert summary["startup_time_ms"]["p50"] > 0
    assert summary["completion"]["rate"] == 1
    # Played 2 s, then from 1 s to the end: about the clip's length and 1 s.
    played = float(video["duration"]) + 1
    assert summary["playing_time_s"] == pytest.approx(played, rel=0.2)


def test_a_private_or_missing_video_does_not_play(server: Server) -> None:
    missing = httpx.get(f"{server.url}/embed/video/no-such-video")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "video_not_found"
