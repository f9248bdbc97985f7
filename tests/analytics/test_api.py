"""The Segment-compatible ingestion and the raw events call, in process."""

import base64
import gzip
import json
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from reelhouse.db import get_database
from reelhouse.videos.models import Video
from tests.conftest import App


def account(app: App, name: str = "test") -> tuple[str, str]:
    """A new account's API key and write key."""
    key = app.account(name)
    shown = app.client.get("/account", headers={"X-Api-Key": key})
    assert shown.status_code == 200
    return key, shown.json()["write_key"]


def video_of(app: App, key: str, name: str = "clip") -> str:
    """A video of the account, made by a tus creation."""
    created = app.create_upload(key, **{"Upload-Length": "10"})
    upload_id = created.headers["location"].rsplit("/", 1)[1]
    with get_database().session() as session:
        found = session.query(Video).filter_by(upload_id=upload_id).one()
        return found.id


def call(
    video_id: str, n: int, event: str = "Video Content Playing", **extra: Any
) -> dict[str, Any]:
    return {
        "type": "track",
        "event": event,
        "anonymousId": "viewer",
        "messageId": f"message-{n}",
        "timestamp": f"2026-12-04T10:00:{n:02d}Z",
        "properties": {"content_asset_id": video_id, "session_id": "s1", "position": n},
        **extra,
    }


def basic(write_key: str) -> dict[str, str]:
    token = base64.b64encode(f"{write_key}:".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def events(app: App, key: str, video_id: str, **params: Any) -> Any:
    answer = app.client.get(
        f"/analytics/events/video/{video_id}", headers={"X-Api-Key": key}, params=params
    )
    assert answer.status_code == 200, answer.text
    return answer


@pytest.fixture(autouse=True)
def recent(monkeypatch: pytest.MonkeyPatch) -> None:
    """Events stamped 2026-12-04 are recent whatever today is."""
    from datetime import UTC, datetime

    from reelhouse.analytics import events as stored

    monkeypatch.setattr(stored, "utcnow", lambda: datetime(2026, 12, 5, tzinfo=UTC))


def test_a_batch_is_stored_once_and_read_back_in_time_order(app: App) -> None:
    key, write_key = account(app)
    video_id = video_of(app, key)
    batch = {"batch": [call(video_id, n) for n in (3, 1, 2)], "writeKey": write_key}

    first = app.client.post("/v1/batch", json=batch)
    again = app.client.post("/v1/batch", json=batch)  # a client's retry

    assert first.status_code == again.status_code == 200
    assert first.json() == {"success": True, "rejected": 0}
    found = events(app, key, video_id).json()
    assert [event["position"] for event in found] == [1, 2, 3]
    assert found[0]["event"] == "Video Content Playing"
    assert found[0]["content_asset_id"] == video_id
    assert found[0]["session_id"] == "s1"
    assert found[0]["timestamp"] == "Fri, 04 Dec 2026 10:00:01 GMT"


@pytest.mark.parametrize("path", ["/v1/track", "/v1/t"])
def test_a_browser_call_as_text_plain_with_basic_auth(app: App, path: str) -> None:
    key, write_key = account(app)
    video_id = video_of(app, key)
    body = json.dumps(call(video_id, 1, event="Video Playback Started"))

    sent = app.client.post(
        path, content=body, headers={**basic(write_key), "Content-Type": "text/plain"}
    )

    assert sent.status_code == 200
    assert [e["event"] for e in events(app, key, video_id).json()] == [
        "Video Playback Started"
    ]


def test_a_gzipped_batch_is_read(app: App) -> None:
    key, write_key = account(app)
    video_id = video_of(app, key)
    body = gzip.compress(json.dumps({"batch": [call(video_id, 1)]}).encode())

    sent = app.client.post(
        "/v1/batch",
        content=body,
        headers={**basic(write_key), "Content-Encoding": "gzip"},
    )

    assert sent.status_code == 200
    assert len(events(app, key, video_id).json()) == 1


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({}, {"batch": []}),
        ({}, {"batch": [], "writeKey": "wk_unknown"}),
        (basic("wk_unknown"), {"batch": []}),
    ],
)
def test_a_missing_or_unknown_write_key_gets_401(
    app: App, headers: dict[str, str], body: dict[str, Any]
) -> None:
    account(app)
    refused = app.client.post("/v1/batch", json=body, headers=headers)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "write_key_invalid"


def test_an_api_key_is_not_a_write_key(app: App) -> None:
    key, _ = account(app)
    refused = app.client.post("/v1/batch", json={"batch": []}, headers=basic(key))
    assert refused.status_code == 401


@pytest.mark.parametrize(
    ("path", "content", "code"),
    [
        ("/v1/batch", b"{oops", "events_invalid"),
        ("/v1/batch", b'{"batch": 3}', "events_invalid"),
        ("/v1/track", b"x" * (33 * 1024), "events_too_large"),
        ("/v1/batch", b"x" * (501 * 1024), "events_too_large"),
        # Python reads these, JSON has them not, and no reply could hold them.
        ("/v1/batch", b'{"batch": [{"properties": {"n": NaN}}]}', "events_invalid"),
        ("/v1/track", b'{"properties": {"position": Infinity}}', "events_invalid"),
        ("/v1/track", b'{"properties": {"position": 1e999}}', "events_invalid"),
        (
            "/v1/batch",
            b'{"batch": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            "events_invalid",
        ),
    ],
)
def test_a_bad_or_oversized_body_gets_400_and_stores_nothing(
    app: App, path: str, content: bytes, code: str
) -> None:
    key, write_key = account(app)
    video_id = video_of(app, key)

    refused = app.client.post(path, content=content, headers=basic(write_key))

    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == code
    assert events(app, key, video_id).json() == []


def test_invalid_calls_in_a_batch_are_dropped_and_the_rest_kept(app: App) -> None:
    key, write_key = account(app)
    video_id = video_of(app, key)
    batch = [
        call(video_id, 1),
        {"type": "track", "anonymousId": "x"},
        "not a call",
        call(video_id, 2),
        call(video_id, 3, properties={"position": 10**400}),  # no float holds it
    ]

    sent = app.client.post("/v1/batch", json={"batch": batch}, headers=basic(write_key))

    assert sent.json() == {"success": True, "rejected": 2}
    assert len(events(app, key, video_id).json()) == 2


@pytest.mark.parametrize(
    "bad",
    [
        # Text a database cannot hold: a lone UTF-16 surrogate.
        '{"type": "track", "event": "E", "userId": "\\ud800"}',
        '{"type": "track", "event": "E", "userId": "u", "messageId": "\\udfff"}',
        # Nesting Python's JSON reads but no column could store.
        '{"type": "track", "event": "E", "userId": "u", "properties": {"x": '
        + "[" * 600
        + "]" * 600
        + "}}",
    ],
)
def test_a_call_no_database_could_hold_is_dropped_the_rest_kept(
    app: App, bad: str
) -> None:
    key, write_key = account(app)
    video_id = video_of(app, key)
    good = json.dumps(call(video_id, 1))

    sent = app.client.post(
        "/v1/batch",
        content=f'{{"batch": [{good}, {bad}]}}',
        headers={**basic(write_key), "Content-Type": "application/json"},
    )

    assert sent.status_code == 200, sent.text
    assert sent.json() == {"success": True, "rejected": 1}
    assert len(events(app, key, video_id).json()) == 1


def test_times_past_what_utc_holds_are_taken_as_received(app: App) -> None:
    key, write_key = account(app)
    video_id = video_of(app, key)
    batch = [
        # Corrected by a skew of 9,998 years: past year 9999.
        call(
            video_id, 1, timestamp="9999-12-31T23:59:59Z", sentAt="0001-01-01T00:00:00Z"
        ),
        # In UTC, after year 9999.
        call(video_id, 2, timestamp="9999-12-31T23:59:59-14:00"),
        # Far in the future, by a device whose clock is right.
        call(video_id, 3, timestamp="2999-01-01T00:00:00Z"),
    ]

    sent = app.client.post("/v1/batch", json={"batch": batch}, headers=basic(write_key))

    assert sent.status_code == 200, sent.text
    found = events(app, key, video_id, **{"to": "9999-12-31T23:59:59-14:00"}).json()
    assert len(found) == 3
    received = {e["received_at"][:16] for e in found}
    assert len(received) == 1  # one request
    for event in found:  # each at the time it arrived
        stamped = datetime.strptime(event["timestamp"], "%a, %d %b %Y %H:%M:%S GMT")
        assert stamped.strftime("%Y-%m-%dT%H:%M") == event["received_at"][:16]


def test_a_body_in_an_encoding_other_than_gzip_gets_400(app: App) -> None:
    key, write_key = account(app)
    video_id = video_of(app, key)
    body = json.dumps({"batch": [call(video_id, 1)]}).encode()

    refused = app.client.post(
        "/v1/batch",
        content=body,
        headers={**basic(write_key), "Content-Encoding": "br"},
    )

    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "events_invalid"
    assert "br" in refused.json()["error"]["message"]
    assert events(app, key, video_id).json() == []


def test_one_accounts_events_never_reach_another(app: App) -> None:
    key, write_key = account(app, "first")
    other_key, other_write_key = account(app, "second")
    video_id = video_of(app, key)
    # The other account sends events naming the first account's video, and
    # even the same messageId.
    app.client.post(
        "/v1/batch", json={"batch": [call(video_id, 1)]}, headers=basic(write_key)
    )
    forged = app.client.post(
        "/v1/batch",
        json={"batch": [call(video_id, 1, event="Forged")]},
        headers=basic(other_write_key),
    )
    # Events about a video the sender's account does not own are refused.
    assert forged.json() == {"success": True, "rejected": 1}
    (theirs,) = app.client.get(
        "/analytics/summary", headers={"X-Api-Key": other_key}
    ).json()
    assert theirs["by_video"] == {}

    assert [e["event"] for e in events(app, key, video_id).json()] == [
        "Video Content Playing"
    ]
    hidden = app.client.get(
        f"/analytics/events/video/{video_id}", headers={"X-Api-Key": other_key}
    )
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "video_not_found"


def test_events_page_by_cursor_and_filter(app: App) -> None:
    key, write_key = account(app)
    video_id = video_of(app, key)
    batch = [call(video_id, n) for n in range(1, 6)]
    batch.append(call(video_id, 6, event="Video Playback Paused"))
    batch.append(
        call(video_id, 7, properties={"content_asset_id": video_id, "session_id": "s2"})
    )
    app.client.post("/v1/batch", json={"batch": batch}, headers=basic(write_key))

    positions: list[Any] = []
    params: dict[str, Any] = {"limit": 3}
    pages = 0
    while True:
        answer = events(app, key, video_id, **params)
        positions += [event["message_id"] for event in answer.json()]
        pages += 1
        link = answer.headers.get("link")
        if link is None:
            break
        params = {
            "limit": 3,
            "after": link.split("after=")[1].split(">")[0].split("&")[0],
        }
    assert positions == [f"message-{n}" for n in range(1, 8)]
    assert pages == 3

    paused = events(app, key, video_id, event="Video Playback Paused").json()
    assert [e["message_id"] for e in paused] == ["message-6"]
    second = events(app, key, video_id, session_id="s2").json()
    assert [e["message_id"] for e in second] == ["message-7"]
    window = events(
        app,
        key,
        video_id,
        **{"from": "2026-12-04T10:00:02Z", "to": "2026-12-04T10:00:04Z"},
    ).json()
    assert [e["message_id"] for e in window] == ["message-2", "message-3"]
    # A time without a zone is UTC; a bare date is its midnight.
    naive = events(
        app, key, video_id, **{"from": "2026-12-04T10:00:06", "to": "2026-12-05"}
    ).json()
    assert [e["message_id"] for e in naive] == ["message-6", "message-7"]


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        # Well formed, but with a row past any integer a database holds, or
        # a time without a zone.
        base64.urlsafe_b64encode(b"2026-12-04T10:00:00+00:00|" + b"9" * 30).decode(),
        base64.urlsafe_b64encode(b"2026-12-04T10:00:00|5").decode(),
    ],
)
def test_a_forged_cursor_gets_400(app: App, cursor: str) -> None:
    key, _ = account(app)
    video_id = video_of(app, key)
    answer = app.client.get(
        f"/analytics/events/video/{video_id}",
        headers={"X-Api-Key": key},
        params={"after": cursor},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_request"


def test_the_browser_library_is_pointed_back_here(app: App) -> None:
    _, write_key = account(app)

    settings = app.client.get(f"/v1/projects/{write_key}/settings")
    unknown = app.client.get("/v1/projects/wk_nobody/settings")

    assert settings.status_code == 200
    segment = settings.json()["integrations"]["Segment.io"]
    assert segment == {
        "apiKey": write_key,
        "apiHost": "testserver/v1",
        "protocol": "http",
    }
    assert unknown.status_code == 401


def test_a_browser_preflight_is_answered(app: App) -> None:
    answer = app.client.options(
        "/v1/t",
        headers={
            "Origin": "https://shop.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": (
                "authorization, content-type, x-retry-count"
            ),
        },
    )
    assert answer.status_code == 200
    allowed = answer.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "x-retry-count" in allowed


def test_events_older_than_90_days_are_purged(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from reelhouse.analytics import events as stored

    key, write_key = account(app)
    video_id = video_of(app, key)
    app.client.post(
        "/v1/batch",
        json={"batch": [call(video_id, 1), call(video_id, 2)]},
        headers=basic(write_key),
    )
    with get_database().session() as session:
        assert stored.purge(session) == 0  # a day old

    monkeypatch.setattr(stored, "utcnow", lambda: datetime(2027, 3, 5, tzinfo=UTC))
    with get_database().session() as session:
        assert stored.purge(session) == 2


def test_the_summary_counts_views_and_their_quality(app: App) -> None:
    from datetime import UTC, datetime, timedelta

    key, write_key = account(app)
    video_id = video_of(app, key)
    yesterday = datetime.now(UTC) - timedelta(days=1)

    def at(seconds: float) -> str:
        return (yesterday + timedelta(seconds=seconds)).isoformat()

    def sent(
        session: str, viewer: str, event: str, seconds: float, **props: Any
    ) -> dict[str, Any]:
        return {
            "type": "track",
            "event": event,
            "anonymousId": viewer,
            "messageId": f"{session}-{event}-{seconds}",
            "timestamp": at(seconds),
            "properties": {
                "content_asset_id": video_id,
                "session_id": session,
                "total_length": 20,
                **props,
            },
        }

    batch = [
        # Watched to the end after 0.5 s of start-up, 2 s of rebuffering.
        sent("a", "ann", "Video Playback Started", 0, position=0),
        sent("a", "ann", "Video Content Started", 0.5, position=0),
        sent("a", "ann", "Video Playback Buffer Started", 5.5, position=5),
        sent("a", "ann", "Video Playback Buffer Completed", 7.5, position=5),
        sent("a", "ann", "Video Playback Completed", 22.5, position=20),
        # The same viewer again: gone before the first frame.
        sent("b", "ann", "Video Playback Started", 100, position=0),
        sent("b", "ann", "Video Playback Exited", 104, position=0),
        # Another viewer: a failure.
        sent("c", "bob", "Video Playback Started", 200, position=0),
        sent("c", "bob", "Video Playback Interrupted", 201, error="manifest 404"),
    ]
    app.client.post("/v1/batch", json={"batch": batch}, headers=basic(write_key))

    answer = app.client.get("/analytics/summary", headers={"X-Api-Key": key})
    assert answer.status_code == 200
    (summary,) = answer.json()

    assert summary["plays"] == summary["views"] == 3
    title = app.client.get(f"/videos/get/{video_id}", headers={"X-Api-Key": key})
    assert summary["by_video"] == {
        video_id: {"title": title.json()["name"], "plays": 3}
    }
    assert summary["unique_viewers"] == 2
    assert summary["playing_time_s"] == pytest.approx(20.0, abs=0.1)
    assert summary["completion"] == {
        "rate": pytest.approx(1 / 3, abs=0.001),
        "views": 3,
    }
    assert summary["quartile_reach"]["100"] == pytest.approx(1 / 3, abs=0.001)
    assert summary["startup_time_ms"]["p50"] == 500
    assert summary["startup_time_ms"]["views"] == 1
    assert summary["exits_before_start"]["pct"] == pytest.approx(33.33)
    assert summary["failures"]["pct"] == pytest.approx(33.33)
    assert summary["failures"]["top_errors"] == [{"error": "manifest 404", "views": 1}]
    assert summary["rebuffering"]["views_with_rebuffering_pct"] == pytest.approx(33.33)
    assert summary["change"]["views"] is None  # nothing the 30 days before

    daily = app.client.get(
        "/analytics/summary", headers={"X-Api-Key": key}, params={"interval": "day"}
    ).json()
    assert len(daily) == 30
    assert sum(day["views"] for day in daily) == 3

    other_key, _ = account(app, "other")
    (elsewhere,) = app.client.get(
        "/analytics/summary", headers={"X-Api-Key": other_key}
    ).json()
    assert elsewhere["views"] == 0 and elsewhere["by_video"] == {}


def test_too_many_requests_at_once_get_429_and_store_nothing(app: App) -> None:
    from reelhouse.analytics.routes import admission

    key, write_key = account(app)
    video_id = video_of(app, key)
    gate = admission()
    gate.busy = gate.limit  # every slot taken by requests still being written

    refused = app.client.post(
        "/v1/batch", json={"batch": [call(video_id, 1)]}, headers=basic(write_key)
    )

    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "events_overloaded"
    assert refused.headers["retry-after"] == "2"
    gate.busy = 0
    assert events(app, key, video_id).json() == []
    accepted = app.client.post(
        "/v1/batch", json={"batch": [call(video_id, 1)]}, headers=basic(write_key)
    )
    assert accepted.status_code == 200
    assert gate.busy == 0  # the slot is given back


def test_views_are_folded_apart_from_the_requests_that_stored_them(app: App) -> None:
    from reelhouse.analytics import events as stored

    key, write_key = account(app)
    video_id = video_of(app, key)

    def send(session_id: str, *numbers: int) -> None:
        batch = [
            call(
                video_id,
                n,
                properties={
                    "content_asset_id": video_id,
                    "session_id": session_id,
                    "position": n,
                },
            )
            for n in numbers
        ]
        answer = app.client.post(
            "/v1/batch", json={"batch": batch}, headers=basic(write_key)
        )
        assert answer.status_code == 200

    send("one", 1, 2)
    send("two", 3)
    with get_database().session() as session:
        assert stored.fold_pending(session) == 2
    with get_database().session() as session:
        assert stored.fold_pending(session) == 0  # nothing new
    send("two", 4, 5)
    account_id = app_account_id(app, key)
    with get_database().session() as session:
        assert stored.fold_pending(session) == 1
        view = session.get(stored.PlaybackView, (account_id, "two"))
        assert view is not None and view.max_position == 5


def test_a_backlog_of_sessions_is_folded_in_rounds(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reelhouse.analytics import events as stored

    monkeypatch.setattr(stored, "FOLD_SESSIONS", 4)
    key, write_key = account(app)
    video_id = video_of(app, key)
    batch = [
        call(
            video_id,
            n,
            messageId=f"m-{n}",
            properties={
                "content_asset_id": video_id,
                "session_id": f"s{n % 11}",
                "position": n,
            },
        )
        for n in range(55)
    ]
    app.client.post("/v1/batch", json={"batch": batch}, headers=basic(write_key))
    account_id = app_account_id(app, key)

    with get_database().session() as session:
        assert stored.fold_pending(session) == 11
    with get_database().session() as session:
        assert stored.fold_pending(session) == 0  # the mark moved past them all
        views = session.scalars(
            select(stored.PlaybackView).where(
                stored.PlaybackView.account_id == account_id
            )
        ).all()
        # Each view holds all five of its session's events, whatever round
        # it was folded in.
        assert sorted(v.session_id for v in views) == sorted(f"s{k}" for k in range(11))
        assert all(v.max_position == 44 + int(v.session_id[1:]) for v in views)


def app_account_id(app: App, key: str) -> str:
    account_id: str = app.client.get("/account", headers={"X-Api-Key": key}).json()[
        "id"
    ]
    return account_id
