"""Segment's own libraries (Python, and Node in tests/analytics/js) against a
real server process."""

import base64
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from segment.analytics.client import Client

from tests.conftest import Server, node_packages

pytestmark = pytest.mark.slow


def new_video(server: Server, api_key: str) -> str:
    """A video, made by a tus creation (its bytes never come)."""
    metadata = base64.b64encode(api_key.encode()).decode()
    created = httpx.post(
        f"{server.url}/files/",
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Length": "1000",
            "Upload-Metadata": f"api_key {metadata},filename {metadata}",
        },
    )
    assert created.status_code == 201
    with server.api(api_key) as api:
        video_id: str = api.get("/videos/list").json()[0]["id"]
    return video_id


@pytest.mark.parametrize("gzipped", [False, True])
def test_segment_analytics_python_events_come_back(
    server: Server, gzipped: bool
) -> None:
    created = server.account()
    video_id = new_video(server, created["api_key"])
    errors: list[Exception] = []
    client = Client(
        created["write_key"],
        host=server.url,
        gzip=gzipped,
        max_retries=0,
        on_error=lambda error, _batch: errors.append(error),
    )
    # A device whose clock runs an hour behind the server's.
    behind = datetime.now(UTC) - timedelta(hours=1)
    for number, event in enumerate(
        ["Video Playback Started", "Video Content Playing", "Video Playback Paused"]
    ):
        client.track(
            user_id="viewer-7",
            event=event,
            properties={
                "session_id": "session-1",
                "content_asset_id": video_id,
                "position": number * 10,
                "total_length": 60,
                "video_player": "reelhouse",
            },
            timestamp=behind + timedelta(seconds=number),
        )
    client.flush()
    client.shutdown()
    assert errors == []

    with server.api(created["api_key"]) as api:
        found = api.get(f"/analytics/events/video/{video_id}").json()
        (summary,) = api.get("/analytics/summary").json()
    assert summary["views"] == summary["plays"] == 1
    assert summary["by_video"][video_id]["plays"] == 1
    # Started, then a second of start-up, a second of playing, paused.
    assert summary["playing_time_s"] == pytest.approx(1, abs=0.1)
    assert [event["event"] for event in found] == [
        "Video Playback Started",
        "Video Content Playing",
        "Video Playback Paused",
    ]
    assert [event["position"] for event in found] == [0, 10, 20]
    assert {event["session_id"] for event in found} == {"session-1"}
    # Timestamps as given by the library, which sends them as the device's
    # own: this library stamps sentAt from the same clock, so no skew shows.
    first = datetime.strptime(found[0]["timestamp"], "%a, %d %b %Y %H:%M:%S GMT")
    assert abs(first.replace(tzinfo=UTC) - behind) < timedelta(seconds=2)


def test_an_unknown_write_key_is_refused_to_the_library(server: Server) -> None:
    server.account()
    errors: list[Exception] = []
    client = Client(
        "wk_nobody",
        host=server.url,
        max_retries=0,
        on_error=lambda error, _batch: errors.append(error),
    )
    client.track(user_id="viewer", event="Video Playback Started")
    client.flush()
    client.shutdown()
    assert len(errors) == 1
    assert getattr(errors[0], "status", None) == 401
    # The library reads the code at the top level of the body.
    assert getattr(errors[0], "code", None) == "write_key_invalid"


NODE_CLIENT = Path(__file__).parent / "js"


def test_segment_analytics_node_events_come_back(server: Server) -> None:
    node = node_packages(NODE_CLIENT)
    created = server.account()
    video_id = new_video(server, created["api_key"])
    start = datetime.now(UTC) - timedelta(minutes=5)
    calls = [
        {
            "anonymousId": "node-viewer",
            "event": event,
            "timestamp": (start + timedelta(seconds=offset)).isoformat(),
            "properties": {
                "session_id": "node-session",
                "content_asset_id": video_id,
                "position": offset,
                "total_length": 30,
            },
        }
        for offset, event in [
            (0, "Video Playback Started"),
            (1, "Video Content Started"),
            (11, "Video Content Playing"),
            (21, "Video Playback Completed"),
        ]
    ]

    done = subprocess.run(
        [
            node,
            str(NODE_CLIENT / "track.js"),
            json.dumps(
                {"host": server.url, "writeKey": created["write_key"], "calls": calls}
            ),
        ],
        cwd=NODE_CLIENT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, (done.stdout, done.stderr)
    with server.api(created["api_key"]) as api:
        found = api.get(f"/analytics/events/video/{video_id}").json()
        (summary,) = api.get("/analytics/summary").json()
    assert [event["event"] for event in found] == [call["event"] for call in calls]
    assert summary["views"] == 1
    assert summary["completion"]["rate"] == 1
    assert summary["startup_time_ms"]["p50"] == 1000


def test_an_event_that_got_a_200_survives_the_server_dying_at_once(
    server: Server,
) -> None:
    created = server.account()
    video_id = new_video(server, created["api_key"])
    call = {
        "type": "track",
        "event": "Video Playback Started",
        "anonymousId": "viewer",
        "messageId": "the-one",
        "properties": {"content_asset_id": video_id, "session_id": "s"},
    }

    answer = httpx.post(
        f"{server.url}/v1/track", json={**call, "writeKey": created["write_key"]}
    )
    assert answer.status_code == 200
    server.kill()  # SIGKILL: nothing is flushed on the way out
    server.start()

    with server.api(created["api_key"]) as api:
        found = api.get(f"/analytics/events/video/{video_id}").json()
    assert [event["message_id"] for event in found] == ["the-one"]
