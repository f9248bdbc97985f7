"""The summary, counted by the database, against the view figures' own
definitions applied one view at a time."""

import dataclasses
import itertools
import math
import random
import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from reelhouse.accounts.models import Account
from reelhouse.analytics.models import PlaybackView
from reelhouse.analytics.summary import periods, summarize
from reelhouse.analytics.views import ViewFigures
from reelhouse.db import get_database
from tests.conftest import App

START = datetime(2026, 11, 1, tzinfo=UTC)
END = START + timedelta(days=30)


def random_view(rng: random.Random, n: int) -> ViewFigures:
    requested = START + timedelta(hours=rng.uniform(-48, 30 * 24 + 48))
    length = rng.choice([None, 0.0, 30.0, 600.0])
    started = rng.random() < 0.8
    failed = not started and rng.random() < 0.5
    return ViewFigures(
        video_id=rng.choice([None, "v1", "v2", "v3"]),
        viewer_id=rng.choice([None, *(f"viewer-{k}" for k in range(40))]),
        first_event_at=requested - timedelta(seconds=rng.uniform(0, 5)),
        last_event_at=requested + timedelta(minutes=5),
        play_requested_at=requested,
        startup_ms=rng.choice([250.0, 499.5, 1000.25, rng.uniform(100, 9000)])
        if started
        else None,
        playing_seconds=rng.uniform(0, 600) if started else 0.0,
        watch_seconds=rng.uniform(0, 700),
        # Some a little short of the end: within the second a finish allows.
        max_position=rng.choice([rng.uniform(0, 620), (length or 0) - 0.5]),
        total_length=length,
        rebuffer_count=rng.choice([0, 0, 0, 1, 4]),
        rebuffer_seconds=rng.uniform(0, 20),
        seek_count=rng.randint(0, 3),
        completed=rng.random() < 0.3,
        error=rng.choice(["manifest 404", "decode", "fragParsingError", f"e{n % 7}"])
        if failed
        else None,
    )


def expected(views: list[ViewFigures]) -> dict[str, object]:
    """Each figure worked out over the views one by one, by its definition."""
    views = [
        v
        for v in views
        if v.play_requested_at is not None and START <= v.play_requested_at < END
    ]
    startups = sorted(v.startup_ms for v in views if v.startup_ms is not None)
    with_length = [v for v in views if v.total_length]
    watched = sum(v.watch_seconds for v in views)

    def nearest_rank(rank: float) -> int:
        return round(startups[max(0, math.ceil(rank / 100 * len(startups)) - 1)])

    return {
        "views": len(views),
        "unique_viewers": len({v.viewer_id for v in views if v.viewer_id}),
        "playing_time_s": round(sum(v.playing_seconds for v in views), 1),
        "watch_time_s": round(watched, 1),
        "completion": sum(v.completed for v in views) / len(views),
        "quartiles": [
            sum(v.reached(share) for v in with_length) / len(with_length)
            for share in (0.25, 0.5, 0.75, 1.0)
        ],
        "startup": [nearest_rank(50), nearest_rank(90), nearest_rank(95)],
        "startup_mean": round(statistics.fmean(startups)),
        "exits": 100 * sum(v.exited_before_start for v in views) / len(views),
        "rebuffering": 100 * sum(v.rebuffer_seconds for v in views) / watched,
        "per_minute": sum(v.rebuffer_count for v in views) / (watched / 60),
        "failed": 100 * sum(bool(v.error) for v in views) / len(views),
        "errors": Counter(v.error for v in views if v.error),
        "plays": Counter(v.video_id for v in views if v.video_id),
    }


def test_the_summary_agrees_with_each_views_own_figures(app: App) -> None:
    app.account()
    rng = random.Random(7)
    views = [random_view(rng, n) for n in range(600)]
    with get_database().session() as session:
        account_id = session.scalars(select(Account.id)).one()
        session.add_all(
            PlaybackView(
                account_id=account_id, session_id=f"s{n}", **dataclasses.asdict(view)
            )
            for n, view in enumerate(views)
        )
    want = expected(views)

    with get_database().session() as session:
        got = summarize(session, account_id, START, END)

    assert got["views"] == got["plays"] == want["views"]
    assert got["unique_viewers"] == want["unique_viewers"]
    assert got["playing_time_s"] == pytest.approx(want["playing_time_s"], abs=0.11)
    assert got["watch_time_s"] == pytest.approx(want["watch_time_s"], abs=0.11)
    assert got["completion"]["rate"] == pytest.approx(want["completion"], abs=1e-4)
    reach = got["quartile_reach"]
    assert [reach[q] for q in ("25", "50", "75", "100")] == pytest.approx(
        want["quartiles"], abs=1e-4
    )
    startup = got["startup_time_ms"]
    assert [startup["p50"], startup["p90"], startup["p95"]] == want["startup"]
    assert startup["mean"] == want["startup_mean"]
    assert got["exits_before_start"]["pct"] == pytest.approx(want["exits"], abs=0.01)
    rebuffering = got["rebuffering"]
    assert rebuffering["percentage"] == pytest.approx(want["rebuffering"], abs=0.01)
    assert rebuffering["per_minute"] == pytest.approx(want["per_minute"], abs=0.001)
    assert got["failures"]["pct"] == pytest.approx(want["failed"], abs=0.01)
    errors = want["errors"]
    assert isinstance(errors, Counter)
    top = [(e["error"], e["views"]) for e in got["failures"]["top_errors"]]
    assert all(errors[error] == count for error, count in top)
    assert [count for _, count in top] == [c for _, c in errors.most_common(5)]
    plays = want["plays"]
    assert isinstance(plays, Counter)
    assert {v: p["plays"] for v, p in got["by_video"].items()} == dict(plays)


@pytest.mark.parametrize("now", [datetime(2026, 12, 4, 17, 21, 5, tzinfo=UTC), END])
def test_the_days_of_a_period_cover_exactly_the_period(now: datetime) -> None:
    ((start, end),) = periods(now, 30, "period")
    days = periods(now, 30, "day")

    assert len(days) == 30
    assert days[0][0] == start and days[-1][1] == end == now
    assert all(a[1] == b[0] for a, b in itertools.pairwise(days))
    assert start == datetime(now.year, now.month, now.day, tzinfo=UTC) - timedelta(
        days=29
    )
