"""The analytics summary: engagement and quality of experience over a period,
computed from the view rows, never from raw events.

Figures follow Mux's definitions. A view belongs to the period in which the
viewer asked to play; each figure says how many views it rests on, since a
percentage of three views means little.
"""

import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, desc, distinct, func, or_, select
from sqlalchemy.orm import Session

from reelhouse.analytics.models import PlaybackView
from reelhouse.videos.models import Video

TOP_ERRORS = 5
# The figures a summary compares with the period before.
COMPARED = ("views", "unique_viewers", "playing_time_s", "watch_time_s")


def summarize(
    session: Session, account_id: str, start: datetime, end: datetime
) -> dict[str, Any]:
    """The figures of the views requested in ``[start, end)``.

    The database does the counting, in one pass over the period's views for
    the figures and one small grouping each for the videos, the errors and
    the start-up times; no view is loaded one by one.
    """
    view = PlaybackView
    in_period = _in_period(account_id, start, end)
    has_length = view.total_length > 0
    figures = session.execute(
        select(
            *_TOTALS,
            _count(view.completed.is_(True)).label("completed"),
            _count(has_length).label("with_length"),
            *(
                _count(
                    has_length, view.max_position >= share * view.total_length
                ).label(f"reached_{round(share * 100)}")
                for share in (0.25, 0.5, 0.75)
            ),
            _count(
                has_length,
                or_(
                    view.completed.is_(True),
                    view.max_position >= view.total_length - 1,
                ),
            ).label("reached_100"),
            func.avg(view.startup_ms).label("startup_mean"),
            _count(view.startup_ms.is_(None), view.error.is_(None)).label("exits"),
            func.coalesce(func.sum(view.rebuffer_seconds), 0.0).label("rebuffered"),
            func.coalesce(func.sum(view.rebuffer_count), 0).label("rebuffers"),
            _count(view.rebuffer_count > 0).label("rebuffered_views"),
            _count(view.error.is_not(None)).label("failed"),
        ).where(*in_period)
    ).one()
    plays = sorted(
        (
            (str(video_id), int(count))
            for video_id, count in session.execute(
                select(view.video_id, func.count())
                .where(*in_period, view.video_id.is_not(None))
                .group_by(view.video_id)
            )
        ),
        key=lambda played: (-played[1], played[0]),
    )
    top_errors = session.execute(
        select(view.error, func.count().label("views"))
        .where(*in_period, view.error.is_not(None))
        .group_by(view.error)
        .order_by(desc("views"), view.error)
        .limit(TOP_ERRORS)
    ).all()
    startups = _Histogram(
        session.execute(
            select(func.round(view.startup_ms), func.count())
            .where(*in_period, view.startup_ms.is_not(None))
            .group_by(func.round(view.startup_ms))
        ).all()
    )
    impressions = session.scalar(
        select(func.count()).where(
            view.account_id == account_id,
            view.first_event_at >= start,
            view.first_event_at < end,
        )
    )
    titles = _titles(session, account_id, [video_id for video_id, _ in plays])
    views, watched = figures.views, float(figures.watched)
    with_length = figures.with_length
    return {
        # The documented keys first.
        "start": format_datetime(start, usegmt=True),
        "end": format_datetime(end, usegmt=True),
        "plays": views,
        "by_video": {
            video_id: {"title": titles.get(video_id), "plays": count}
            for video_id, count in plays
        },
        **_totals(figures),
        "impressions": impressions or 0,
        "completion": {"rate": _share(figures.completed, views), "views": views},
        "quartile_reach": {
            **{
                quarter: _share(getattr(figures, f"reached_{quarter}"), with_length)
                for quarter in ("25", "50", "75", "100")
            },
            "views": with_length,
        },
        "startup_time_ms": {
            "p50": startups.percentile(50),
            "p90": startups.percentile(90),
            "p95": startups.percentile(95),
            "mean": round(figures.startup_mean)
            if figures.startup_mean is not None
            else None,
            "views": startups.count,
        },
        "exits_before_start": {"pct": _pct(figures.exits, views), "views": views},
        "rebuffering": {
            "percentage": _pct(float(figures.rebuffered), watched),
            "per_minute": round(figures.rebuffers / (watched / 60), 3)
            if watched
            else None,
            "views_with_rebuffering_pct": _pct(figures.rebuffered_views, views),
            "views": views,
        },
        "failures": {
            "pct": _pct(figures.failed, views),
            "views": views,
            "top_errors": [
                {"error": error, "views": count} for error, count in top_errors
            ],
        },
    }


def totals(
    session: Session, account_id: str, start: datetime, end: datetime
) -> dict[str, Any]:
    """Only the figures ``with_change`` compares, of the views requested in
    ``[start, end)``: what a period before the one shown needs."""
    counted = session.execute(
        select(*_TOTALS).where(*_in_period(account_id, start, end))
    ).one()
    return _totals(counted)


# The figures COMPARED, as the database counts them.
_TOTALS = (
    func.count().label("views"),
    func.count(distinct(PlaybackView.viewer_id)).label("viewers"),
    func.coalesce(func.sum(PlaybackView.playing_seconds), 0.0).label("playing"),
    func.coalesce(func.sum(PlaybackView.watch_seconds), 0.0).label("watched"),
)


def _totals(counted: Any) -> dict[str, Any]:
    return {
        "views": counted.views,
        "unique_viewers": counted.viewers,
        "playing_time_s": round(float(counted.playing), 1),
        "watch_time_s": round(float(counted.watched), 1),
    }


def _in_period(
    account_id: str, start: datetime, end: datetime
) -> tuple[ColumnElement[bool], ...]:
    view = PlaybackView
    return (
        view.account_id == account_id,
        view.play_requested_at >= start,
        view.play_requested_at < end,
    )


def _count(*conditions: ColumnElement[bool]) -> ColumnElement[int]:
    """How many of the rows meet every one of ``conditions``."""
    return func.coalesce(func.sum(case((and_(*conditions), 1), else_=0)), 0)


class _Histogram:
    """Values counted by the whole millisecond, for percentiles."""

    def __init__(self, counted: Iterable[Any]) -> None:
        self.values = sorted((float(value), int(count)) for value, count in counted)
        self.count = sum(count for _, count in self.values)

    def percentile(self, rank: float) -> int | None:
        # The nearest rank: the smallest value with at least rank % at or
        # below it.
        if not self.count:
            return None
        wanted = max(1, math.ceil(rank / 100 * self.count))
        seen = 0
        for value, count in self.values:
            seen += count
            if seen >= wanted:
                return round(value)
        raise AssertionError("a percentile past the last value")


def with_change(current: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    """``current`` with how its main figures moved since ``previous`` (a
    fraction: 0.25 is a quarter more; None where there was nothing before).
    ``previous`` needs only what ``totals`` gives."""
    change = {}
    for figure in COMPARED:
        before, now = previous[figure], current[figure]
        change[figure] = round((now - before) / before, 3) if before else None
    return {**current, "change": change}


def periods(end: datetime, days: int, interval: str) -> list[tuple[datetime, datetime]]:
    """``[start, end)`` pairs covering the last ``days`` days up to ``end``,
    today (so far) being the last: one pair for the whole stretch, or one per
    day (newest last). Either way they cover the same stretch, so the days
    add up to the whole."""
    today = end.replace(hour=0, minute=0, second=0, microsecond=0)
    starts = [today - timedelta(days=back) for back in range(days - 1, -1, -1)]
    if interval == "day":
        return [(start, min(start + timedelta(days=1), end)) for start in starts]
    return [(starts[0], end)]


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
