"""Decoding and normalising Segment calls, without a server."""

import base64
import gzip
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from reelhouse.analytics.ingest import (
    MAX_BATCH_BYTES,
    MAX_CALL_BYTES,
    basic_write_key,
    corrected,
    decode_body,
    normalise,
    unpack,
)
from reelhouse.errors import ReelhouseError

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def track(**fields: object) -> dict[str, object]:
    return {
        "type": "track",
        "event": "Video Playback Started",
        "anonymousId": "viewer-1",
        "messageId": "m-1",
        "properties": {
            "session_id": "s1",
            "content_asset_id": "video-1",
            "position": 3,
        },
        **fields,
    }


def test_decode_body_reads_gzip_and_plain_json() -> None:
    document = {"batch": [track()]}
    raw = json.dumps(document).encode()

    assert decode_body(raw, None, MAX_BATCH_BYTES) == document
    assert decode_body(gzip.compress(raw), "gzip", MAX_BATCH_BYTES) == document
    assert decode_body(gzip.compress(raw), "x-gzip", MAX_BATCH_BYTES) == document
    # Members one after the other are one stream, as gzip itself reads them.
    members = gzip.compress(raw[:10]) + gzip.compress(raw[10:])
    assert decode_body(members, "gzip", MAX_BATCH_BYTES) == document


@pytest.mark.parametrize(
    ("cut", "message"),
    [
        (lambda body: body[:-12], "ends early"),
        (lambda body: body + b"trailing words", "damaged"),
    ],
)
def test_a_gzip_body_cut_short_or_followed_by_junk_is_damaged(
    cut: Callable[[bytes], bytes], message: str
) -> None:
    body = gzip.compress(json.dumps({"batch": [track()]}).encode())

    with pytest.raises(ReelhouseError) as refused:
        decode_body(cut(body), "gzip", MAX_BATCH_BYTES)

    assert refused.value.kind.code == "events_invalid"
    assert message in refused.value.message


@pytest.mark.parametrize(
    ("raw", "encoding", "code"),
    [
        (b"{not json", None, "events_invalid"),
        (b"\xff\xfe", None, "events_invalid"),
        (b"not gzip at all", "gzip", "events_invalid"),
        (b"x" * (MAX_CALL_BYTES + 1), None, "events_too_large"),
        # Small when compressed, far too large once inflated.
        (gzip.compress(b" " * (5 * MAX_BATCH_BYTES)), "gzip", "events_too_large"),
        (b"{}", "deflate", "events_invalid"),
        (b'{"n": NaN}', None, "events_invalid"),
        (b'{"n": -Infinity}', None, "events_invalid"),
        (b'{"n": 1e400}', None, "events_invalid"),
        (b"[" * 10_000 + b"]" * 10_000, None, "events_invalid"),
    ],
)
def test_decode_body_refuses_what_is_not_json_or_too_large(
    raw: bytes, encoding: str | None, code: str
) -> None:
    with pytest.raises(ReelhouseError) as refused:
        decode_body(raw, encoding, MAX_CALL_BYTES)
    assert refused.value.kind.code == code
    assert refused.value.kind.status == 400


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("Basic " + base64.b64encode(b"wk_abc:").decode(), "wk_abc"),
        ("Basic " + base64.b64encode(b"wk_abc").decode(), "wk_abc"),  # no colon
        ("basic " + base64.b64encode(b"wk_abc:").decode(), "wk_abc"),
        ("Bearer token", None),
        ("Basic ***", None),
        (None, None),
    ],
)
def test_basic_write_key_is_the_user_name(header: str | None, key: str | None) -> None:
    assert basic_write_key(header) == key


def test_unpack_batch_shares_context_and_sent_at_with_every_call() -> None:
    document = {
        "writeKey": "wk_body",
        "sentAt": "2026-12-04T12:00:01Z",
        "context": {"library": {"name": "x"}, "ip": "1.2.3.4"},
        "batch": [
            track(context={"ip": "5.6.7.8"}),
            track(sentAt="2026-12-04T11:00:00Z"),
        ],
    }

    key, calls = unpack(document, "batch")

    assert key == "wk_body"
    assert calls[0]["context"] == {"library": {"name": "x"}, "ip": "5.6.7.8"}
    assert calls[0]["sentAt"] == "2026-12-04T12:00:01Z"
    assert calls[1]["sentAt"] == "2026-12-04T11:00:00Z"  # its own wins


def test_unpack_single_call_takes_its_type_from_the_path() -> None:
    key, calls = unpack({"writeKey": "wk_1", "event": "Played", "userId": "u"}, "track")

    assert key == "wk_1"
    assert calls == [
        {"writeKey": "wk_1", "event": "Played", "userId": "u", "type": "track"}
    ]


@pytest.mark.parametrize(
    "document", [[], {"batch": "no"}, {"batch": [{}] * 2501}, "text"]
)
def test_unpack_refuses_what_is_not_a_batch(document: object) -> None:
    with pytest.raises(ReelhouseError) as refused:
        unpack(document, "batch")
    assert refused.value.kind.code == "events_invalid"


def test_normalise_names_the_video_session_and_position() -> None:
    call = normalise(track(timestamp="2026-12-04T11:59:58Z"), NOW)

    assert call is not None
    assert (call.video_id, call.session_id, call.position) == ("video-1", "s1", 3.0)
    assert (call.type, call.event, call.message_id) == (
        "track",
        "Video Playback Started",
        "m-1",
    )
    assert call.timestamp == NOW - timedelta(seconds=2)
    assert call.received_at == NOW


@pytest.mark.parametrize(
    "broken",
    [
        track(type="bogus"),
        track(event=None),
        track(anonymousId=None),
        track(properties={"padding": "x" * MAX_CALL_BYTES}),
    ],
)
def test_normalise_drops_invalid_calls(broken: dict[str, object]) -> None:
    assert normalise(broken, NOW) is None


def test_normalise_gives_a_call_without_message_id_one() -> None:
    call = normalise(track(messageId=None), NOW)
    assert call is not None and len(call.message_id) == 36


def test_a_device_clock_an_hour_behind_is_corrected() -> None:
    # The device says it sent the call a second after making it, an hour ago.
    original = NOW - timedelta(hours=1, seconds=1)
    sent = NOW - timedelta(hours=1)

    assert corrected(original, sent, NOW) == NOW - timedelta(seconds=1)


def test_a_few_seconds_of_skew_are_left_alone() -> None:
    original = NOW - timedelta(seconds=30)
    assert corrected(original, NOW - timedelta(seconds=3), NOW) == original
    assert corrected(None, None, NOW) == NOW
