"""Segment's tracking API, served for players and Segment's own libraries;
and the documented call that reads a video's raw events back."""

import contextlib
import functools
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from reelhouse import errors
from reelhouse.accounts.auth import CurrentAccount
from reelhouse.analytics.events import (
    EventQuery,
    account_for_write_key,
    fold_pending,
    own_videos_only,
    store,
    video_events,
)
from reelhouse.analytics.ingest import (
    MAX_BATCH_BYTES,
    MAX_CALL_BYTES,
    SHORT_NAMES,
    basic_write_key,
    decode_body,
    normalise,
    unpack,
)
from reelhouse.analytics.models import PlaybackEvent
from reelhouse.analytics.summary import periods, summarize, totals, with_change
from reelhouse.db import get_database
from reelhouse.db.base import utcnow
from reelhouse.errors import ReelhouseError
from reelhouse.public_url import public_base_url
from reelhouse.settings import get_settings
from reelhouse.videos.library import get_video

router = APIRouter(tags=["analytics"])

SUMMARY_DAYS = 30
# Seconds an overloaded server asks a client to wait before sending again.
RETRY_AFTER = 2

ingestion_errors = errors.documented(
    errors.WRITE_KEY_INVALID,
    errors.EVENTS_INVALID,
    errors.EVENTS_TOO_LARGE,
    errors.EVENTS_OVERLOADED,
)
# Properties the older event format had at the top level of each event.
FLAT_PROPERTIES = (
    "content_asset_id",
    "session_id",
    "position",
    "total_length",
    "quality",
    "sound",
    "full_screen",
    "livestream",
    "ad_enabled",
    "video_player",
)


class Admission:
    """How many ingestion requests may be written at once in this process.

    Past that, a request is turned away with 429 and ``Retry-After`` before
    anything is read: every Segment library waits and sends it again, so
    nothing is lost, and the database is not buried under writes.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.busy = 0

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        if self.busy >= self.limit:
            raise ReelhouseError(
                errors.EVENTS_OVERLOADED, headers={"Retry-After": str(RETRY_AFTER)}
            )
        self.busy += 1
        try:
            yield
        finally:
            self.busy -= 1


@functools.cache
def admission() -> Admission:
    return Admission(get_settings().events_max_in_flight)


async def _ingest(request: Request, kind: str, limit: int) -> JSONResponse:
    with admission().slot():
        return await _admitted(request, kind, limit)


async def _admitted(request: Request, kind: str, limit: int) -> JSONResponse:
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            # Decoding says why; the rest of the body is not worth reading.
            decode_body(bytes(raw), None, limit)
    document = decode_body(bytes(raw), request.headers.get("content-encoding"), limit)
    body_key, calls = unpack(document, kind)
    write_key = basic_write_key(request.headers.get("authorization")) or body_key
    received_at = utcnow()

    def write() -> int:
        # In a worker thread, normalising too: the event loop stays free for
        # the other requests' bodies.
        normalised = [c for c in (normalise(c, received_at) for c in calls) if c]
        with get_database().session() as session:
            account_id = account_for_write_key(session, write_key)
            kept = own_videos_only(session, account_id, normalised)
            store(session, account_id, kept)
        return len(kept)

    stored = await run_in_threadpool(write)
    return JSONResponse(
        {"success": True, "rejected": len(calls) - stored}, status_code=200
    )


@router.post("/v1/batch", responses=ingestion_errors, summary="Send a batch")
@router.post("/v1/b", include_in_schema=False)
@router.post("/v1/import", include_in_schema=False)
async def batch_route(request: Request) -> JSONResponse:
    """Segment's batch call: ``{"batch": [...], "writeKey": ...}``."""
    return await _ingest(request, "batch", MAX_BATCH_BYTES)


def _single_call(kind: str) -> None:
    async def route(request: Request) -> JSONResponse:
        return await _ingest(request, kind, MAX_CALL_BYTES)

    route.__doc__ = f"Segment's {kind} call."
    router.post(f"/v1/{kind}", responses=ingestion_errors, summary=f"Send a {kind}")(
        route
    )
    router.post(f"/v1/{kind[0]}", include_in_schema=False)(route)


for _kind in SHORT_NAMES.values():
    _single_call(_kind)


@router.get("/v1/projects/{write_key}/settings", responses=ingestion_errors)
def settings_route(write_key: str, request: Request) -> dict[str, Any]:
    """Settings for Segment's browser library (analytics.js), pointing it here.

    Load it with ``cdnURL`` set to this server and it sends its events to
    this server instead of Segment's.
    """
    with get_database().session() as session:
        account_for_write_key(session, write_key)
    base = public_base_url(request, get_settings())
    scheme, _, host = base.partition("://")
    return {
        "integrations": {
            "Segment.io": {
                "apiKey": write_key,
                "apiHost": f"{host}/v1",
                "protocol": scheme,
            }
        },
        "plan": {"track": {"__default": {"enabled": True}}},
        "analyticsNextEnabled": True,
    }


@router.get(
    "/analytics/summary",
    responses=errors.documented(errors.API_KEY_MISSING, errors.API_KEY_INVALID),
)
def summary_route(
    account_id: CurrentAccount,
    interval: Annotated[
        Literal["period", "day"],
        Query(description="period: the last 30 days as one; day: one per day."),
    ] = "period",
) -> list[dict[str, Any]]:
    """Playback over the last 30 days: the documented keys (``start``, ``end``,
    ``plays``, ``by_video``) and, beside them, engagement and quality of
    experience, each with the number of views behind it."""
    now = utcnow()
    with get_database().session() as session:
        fold_pending(session)
    with get_database().session() as session:
        shown = [
            summarize(session, account_id, start, end)
            for start, end in periods(now, SUMMARY_DAYS, interval)
        ]
        if interval == "period":
            ((began, _),) = periods(now, SUMMARY_DAYS, interval)
            previous = totals(
                session, account_id, began - timedelta(days=SUMMARY_DAYS), began
            )
            shown = [with_change(shown[0], previous)]
    return shown


@router.get(
    "/analytics/events/video/{video_id}",
    responses=errors.documented(
        errors.API_KEY_MISSING, errors.API_KEY_INVALID, errors.VIDEO_NOT_FOUND
    ),
)
def video_events_route(
    video_id: str,
    request: Request,
    account_id: CurrentAccount,
    event: Annotated[list[str] | None, Query(description="Only these events.")] = None,
    session_id: Annotated[str | None, Query(description="Only this playback.")] = None,
    since: Annotated[
        datetime | None, Query(alias="from", description="From this time on.")
    ] = None,
    until: Annotated[
        datetime | None, Query(alias="to", description="Before this time.")
    ] = None,
    after: Annotated[str | None, Query(description="The next page's cursor.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> JSONResponse:
    """The video's playback events of the last 90 days, in time order.

    A plain array, as the documented API had it; when more events follow, the
    ``Link`` header names the next page (``rel="next"``).
    """
    with get_database().session() as session:
        video = get_video(session, account_id, video_id)
        page, following = video_events(
            session,
            account_id,
            EventQuery(
                video_id=video.id,
                events=tuple(event or ()),
                session_id=session_id,
                since=since,
                until=until,
                after=after,
                limit=limit,
            ),
        )
        body = [_shown(found) for found in page]
    headers = {}
    if following is not None:
        link = request.url.include_query_params(after=following)
        headers["Link"] = f'<{link}>; rel="next"'
    return JSONResponse(body, headers=headers)


def _shown(event: PlaybackEvent) -> dict[str, Any]:
    """An event in the documented shape, with the whole call beside it."""
    properties = event.properties or {}
    shown: dict[str, Any] = {
        "event": event.event,
        "timestamp": format_datetime(event.timestamp, usegmt=True),
    }
    shown.update({name: properties.get(name) for name in FLAT_PROPERTIES})
    shown.update(
        {
            "content_asset_id": event.video_id,
            "session_id": event.session_id,
            "type": event.type,
            "message_id": event.message_id,
            "user_id": event.user_id,
            "anonymous_id": event.anonymous_id,
            "received_at": event.received_at.isoformat(),
            "properties": properties,
        }
    )
    return shown
