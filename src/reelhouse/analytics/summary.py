"""The analytics summary: engagement and quality of experience over a period,
computed from the view rows, never from raw events.

Figures follow Mux's definitions. A view belongs to the period in which the
viewer asked to play; each figure says how many views it rests on, since a
percentage of three views means little.
"""

import dataclasses
import math
import statistics
from collections import Counter
from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from reelhouse.analytics.models import PlaybackView
from reelhouse.analytics.views import ViewFigures
from reelhouse.videos.models import Video

TOP_ERRORS = 5
FIELDS = dataclasses.fields(ViewFigures)


def summarize(
    session: Session, account_id: str, start: datetime, end: datetime
) -> dict[str, Any]:
    """The figures of the views requested in ``[start, end)``."""
    rows = session.scalars(
        select(PlaybackView).where(
            PlaybackView.account_id == account_id,
            PlaybackView.play_requested_at >= start,
            PlaybackView.play_requested_at < end,
        )
    )
    views = [
        ViewFigures(**{field.name: getattr(row, field.name) for field in FIELDS})
        for row in rows
    ]
    impressions = session.scalar(
        select(func.count()).where(
            PlaybackView.account_id == account_id,
            PlaybackView.first_event_at >= start,
            PlaybackView.first_event_at < end,
        )
    )
    plays = Counter(view.video_id for view in views if view.video_id)
    titles = _titles(session, account_id, list(plays))
    watched = sum(view.watch_seconds for view in views)
    with_length = [view for view in views if view.total_length]
    startups = sorted(view.startup_ms for view in views if view.startup_ms is not None)
    failed = [view for view in views if view.error]
    errors = Counter(view.error for view in failed)
    return {
        # The documented keys first.
        "start": format_datetime(start, usegmt=True),
        "end": format_datetime(end, usegmt=True),
        "plays": len(views),
        "by_video": {
            video_id: {"title": titles.get(video_id), "plays": count}
            for video_id, count in plays.most_common()
        },
        "views": len(views),
        "impressions": impressions or 0,
        "unique_viewers": len({view.viewer_id for view in views if view.viewer_id}),
        "playing_time_s": round(sum(view.playing_seconds for view in views), 1),
        "watch_time_s": round(watched, 1),
        "completion": {
            "rate": _share(sum(view.completed for view in views), len(views)),
            "views": len(views),
        },
        "quartile_reach": {
            "25": _share(sum(v.reached(0.25) for v in with_length), len(with_length)),
            "50": _share(sum(v.reached(0.5) for v in with_length), len(with_length)),
            "75": _share(sum(v.reached(0.75) for v in with_length), len(with_length)),
            "100": _share(sum(v.reached(1.0) for v in with_length), len(with_length)),
            "views": len(with_length),
        },
        "startup_time_ms": {
            "p50": _percentile(startups, 50),
            "p90": _percentile(startups, 90),
            "p95": _percentile(startups, 95),
            "mean": round(statistics.fmean(startups)) if startups else None,
            "views": len(startups),
        },
        "exits_before_start": {
            "pct": _pct(sum(view.exited_before_start for view in views), len(views)),
            "views": len(views),
        },
        "rebuffering": {
            "percentage": _pct(sum(view.rebuffer_seconds for view in views), watched),
            "per_minute": round(
                sum(v.rebuffer_count for v in views) / (watched / 60), 3
            )
            if watched
            else None,
            "views_with_rebuffering_pct": _pct(
                sum(view.rebuffer_count > 0 for view in views), len(views)
            ),
            "views": len(views),
        },
        "failures": {
            "pct": _pct(len(failed), len(views)),
            "views": len(views),
            "top_errors": [
                {"error": error, "views": count}
                for error, count in errors.most_common(TOP_ERRORS)
            ],
        },
    }


def with_change(current: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    """``current`` with how its main figures moved since ``previous`` (a
    fraction: 0.25 is a quarter more; None where there was nothing before)."""
    compared = ("views", "unique_viewers", "playing_time_s", "watch_time_s")
    change = {}
    for figure in compared:
        before, now = previous[figure], current[figure]
        change[figure] = round((now - before) / before, 3) if before else None
    return {**current, "change": change}


def periods(end: datetime, days: int, interval: str) -> list[tuple[datetime, datetime]]:
    """``[start, end)`` pairs covering the last ``days`` days before ``end``:
    one for the whole stretch, or one per day (newest last)."""
    if interval == "day":
        last = end.replace(hour=0, minute=0, second=0, microsecond=0)
        starts = [last - timedelta(days=back) for back in range(days - 1, -1, -1)]
        return [(start, min(start + timedelta(days=1), end)) for start in starts]
    return [(end - timedelta(days=days), end)]


def _titles(session: Session, account_id: str, video_ids: list[str]) -> dict[str, str]:
    if not video_ids:
        return {}
    rows = session.execute(
        select(Video.id, Video.name).where(
            Video.account_id == account_id, Video.id.in_(video_ids)
        )
    )
    return {video_id: title for video_id, title in rows}


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _pct(part: float, whole: float) -> float | None:
    return round(100 * part / whole, 2) if whole else None


def _percentile(ordered: list[float], rank: float) -> int | None:
    if not ordered:
        return None
    # The nearest rank: the smallest value with at least rank % at or below it.
    index = max(0, math.ceil(rank / 100 * len(ordered)) - 1)
    return round(ordered[index])
