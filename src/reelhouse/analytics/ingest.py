"""Events as Segment's libraries send them: bodies decoded, calls normalised.

The wire format is Segment's HTTP tracking API, as its Python, Node and
browser libraries really send it: a batch envelope (``/v1/batch``, ``/v1/b``,
``/v1/import``) or one call per request (``/v1/track`` or its first letter,
``/v1/t``), JSON under any content type (browsers send ``text/plain``),
optionally gzipped, the write key in HTTP Basic auth or in the body.
"""

import base64
import binascii
import json
import math
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from reelhouse import errors
from reelhouse.errors import ReelhouseError

# Segment's own limits: a single call, one event of a batch, a whole batch.
MAX_CALL_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_BATCH_EVENTS = 2500
# A gzipped body may not inflate past this: a small bomb stays small.
MAX_INFLATED_BYTES = 4 * MAX_BATCH_BYTES

CALL_TYPES = {"track", "page", "identify", "group", "alias", "screen"}
SHORT_NAMES = {name[0]: name for name in CALL_TYPES}
# Clock differences smaller than this are left alone: a device a few
# seconds off is normal, and correcting it would only reorder close events.
SKEW_TOLERANCE = timedelta(seconds=10)
# The deepest a call may nest objects and arrays (the call itself is one).
MAX_DEPTH = 32
# How far ahead of the server a call's time may be, after correction.
MAX_AHEAD = timedelta(days=1)
# The properties that name the video an event is about, first found wins.
VIDEO_PROPERTIES = ("content_asset_id", "asset_id", "video_id")


@dataclass(frozen=True)
class Call:
    """One normalised call, ready to store."""

    message_id: str
    type: str
    event: str | None
    video_id: str | None
    session_id: str | None
    user_id: str | None
    anonymous_id: str | None
    position: float | None
    timestamp: datetime
    original_timestamp: datetime | None
    sent_at: datetime | None
    received_at: datetime
    properties: dict[str, Any]
    context: dict[str, Any]


def decode_body(raw: bytes, encoding: str | None, limit: int) -> Any:
    """The JSON document in a request body of at most ``limit`` bytes."""
    if len(raw) > limit:
        raise _too_large(limit)
    coding = (encoding or "identity").strip().lower()
    if coding in {"gzip", "x-gzip"}:
        raw = _gunzip(raw)
        if len(raw) > limit:
            raise _too_large(limit)
    elif coding != "identity":
        raise ReelhouseError(
            errors.EVENTS_INVALID,
            f"The body's Content-Encoding {encoding!r} is not supported: "
            "send it as it is or gzipped.",
        )
    try:
        return json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    except (UnicodeDecodeError, ValueError) as error:
        raise ReelhouseError(
            errors.EVENTS_INVALID, f"The body is not JSON: {error}."
        ) from error
    except RecursionError as error:
        raise ReelhouseError(
            errors.EVENTS_INVALID, "The body's JSON is nested too deeply."
        ) from error


def _gunzip(raw: bytes) -> bytes:
    """Inflate every gzip member of ``raw`` (concatenated members are one
    stream), to MAX_INFLATED_BYTES at most."""
    inflated = bytearray()
    rest = raw
    while rest:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        room = MAX_INFLATED_BYTES + 1 - len(inflated)
        try:
            inflated += inflater.decompress(rest, room)
        except zlib.error as error:
            raise ReelhouseError(
                errors.EVENTS_INVALID, f"The gzip body is damaged: {error}."
            ) from error
        if len(inflated) > MAX_INFLATED_BYTES or inflater.unconsumed_tail:
            raise ReelhouseError(
                errors.EVENTS_TOO_LARGE,
                "The gzip body inflates to more than "
                f"{MAX_INFLATED_BYTES // 1024} KiB.",
            )
        if not inflater.eof:
            raise ReelhouseError(
                errors.EVENTS_INVALID, "The gzip body is damaged: it ends early."
            )
        rest = inflater.unused_data
    return bytes(inflated)


def _no_constant(name: str) -> float:
    # Python's JSON reads NaN and Infinity, which JSON has not, and which no
    # database column or JSON reply could hold afterwards.
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is too large a number")
    return number


def basic_write_key(authorization: str | None) -> str | None:
    """The write key of an ``Authorization: Basic`` header (the user name)."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[0] or None


def unpack(document: Any, kind: str) -> tuple[str | None, list[Any]]:
    """The body's write key and its calls, each with its ``type`` set.

    ``kind`` is ``batch`` for the batch envelopes, or the call type the path
    named. A batch's ``context``, ``integrations`` and ``sentAt`` apply to
    every call that does not set its own. Elements of a batch that are not
    objects come back as they are, for ``normalise`` to reject.
    """
    if not isinstance(document, dict):
        raise ReelhouseError(errors.EVENTS_INVALID, "The body must be a JSON object.")
    if kind != "batch":
        call = dict(document)
        call["type"] = kind
        return _write_key(call), [call]
    batch = document.get("batch")
    if not isinstance(batch, list):
        raise ReelhouseError(
            errors.EVENTS_INVALID, 'A batch needs a "batch" array of calls.'
        )
    if len(batch) > MAX_BATCH_EVENTS:
        raise ReelhouseError(
            errors.EVENTS_INVALID,
            f"A batch may hold {MAX_BATCH_EVENTS} calls, not {len(batch)}.",
        )
    calls: list[Any] = []
    for item in batch:
        if not isinstance(item, dict):
            calls.append(item)
            continue
        call = dict(item)
        for shared in ("context", "integrations"):
            if isinstance(document.get(shared), dict):
                call[shared] = {**document[shared], **(call.get(shared) or {})}
        call.setdefault("sentAt", document.get("sentAt"))
        calls.append(call)
    keys = (_write_key(call) for call in calls if isinstance(call, dict))
    return _write_key(document) or next(filter(None, keys), None), calls


def normalise(call: Any, received_at: datetime) -> Call | None:
    """The call as stored, or None when it is not a valid call.

    Invalid calls in a batch are dropped and the rest stored, as Segment does:
    the client could not do better by sending them again.
    """
    if not isinstance(call, dict):
        return None
    kind = call.get("type")
    if kind not in CALL_TYPES:
        return None
    user_id, anonymous_id = _text(call.get("userId")), _text(call.get("anonymousId"))
    if user_id is None and anonymous_id is None:
        return None
    event = _text(call.get("event"))
    if kind == "track" and event is None:
        return None
    if _too_deep(call):
        return None
    try:
        size = len(json.dumps(call, default=str, ensure_ascii=False).encode())
    except UnicodeEncodeError:
        # A lone surrogate ("\ud800" in the JSON) is no text a database
        # column can hold.
        return None
    if size > MAX_CALL_BYTES:
        return None
    properties = call.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    context = call.get("context")
    context = context if isinstance(context, dict) else {}
    original = _moment(call.get("timestamp"))
    sent_at = _moment(call.get("sentAt"))
    message_id = _text(call.get("messageId")) or str(uuid.uuid4())
    return Call(
        message_id=message_id[:100],
        type=kind,
        event=event[:200] if event else None,
        video_id=_first_text(properties, VIDEO_PROPERTIES),
        session_id=_first_text(properties, ("session_id",)),
        user_id=user_id[:200] if user_id else None,
        anonymous_id=anonymous_id[:200] if anonymous_id else None,
        position=_number(properties.get("position")),
        timestamp=corrected(original, sent_at, received_at),
        original_timestamp=original,
        sent_at=sent_at,
        received_at=received_at,
        properties=properties,
        context=context,
    )


def corrected(
    original: datetime | None, sent_at: datetime | None, received_at: datetime
) -> datetime:
    """When the call happened, by the server's clock.

    Segment's rule: the device's time of the call, moved by how far the
    device's clock was from the server's when it sent the request. A call
    that would still be more than a day ahead of the server counts as
    received now: no device plays a video in the future, and a time far
    ahead would keep its event from ever growing old enough to purge.
    """
    if original is None:
        return received_at
    moment = original
    if sent_at is not None:
        skew = received_at - sent_at
        if abs(skew) > SKEW_TOLERANCE:
            try:
                moment = original + skew
            except OverflowError:  # past year 9999 or before year 1
                return received_at
    return received_at if moment > received_at + MAX_AHEAD else moment


def _too_deep(value: Any, room: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests objects and arrays deeper than ``room``: no
    player sends that, and storing it would exhaust Python's stack."""
    inner = value.values() if isinstance(value, dict) else value
    for item in inner:
        if isinstance(item, dict | list) and (room <= 1 or _too_deep(item, room - 1)):
            return True
    return False


def _write_key(document: dict[str, Any]) -> str | None:
    return _text(document.get("writeKey"))


def _too_large(limit: int) -> ReelhouseError:
    return ReelhouseError(
        errors.EVENTS_TOO_LARGE, f"The body is larger than {limit // 1024} KiB."
    )


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _first_text(properties: dict[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        found = _text(properties.get(name))
        if found is not None:
            return found[:100]
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # an integer of hundreds of digits
            return None
    return None


def _moment(value: Any) -> datetime | None:
    """An ISO 8601 time in UTC (UTC when it names no zone); None for anything
    else, or for a time that UTC cannot hold (year 1 at +14:00)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None
