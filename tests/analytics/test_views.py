"""Folding a view's events into its figures."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reelhouse.analytics.views import fold

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@dataclass
class Sent:
    event: str
    at: float
    position: float | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    video_id: str | None = "video-1"
    user_id: str | None = None
    anonymous_id: str | None = "viewer-1"

    @property
    def timestamp(self) -> datetime:
        return T0 + timedelta(seconds=self.at)


def watched_to_the_end() -> list[Sent]:
    length = {"total_length": 60}
    return [
        Sent("Video Player Loaded", -3),
        Sent("Video Playback Started", 0, 0, length),
        Sent("Video Content Started", 1.2, 0, length),
        Sent("Video Content Playing", 11.2, 10, length),
        Sent("Video Playback Buffer Started", 15.2, 14),
        Sent("Video Playback Buffer Completed", 17.7, 14),
        Sent("Video Content Playing", 21.2, 17.5, length),
        Sent("Video Playback Paused", 25, 21),
        Sent("Video Playback Resumed", 35, 21),
        Sent("Video Playback Seek Started", 40, 26),
        Sent("Video Playback Seek Completed", 40.5, 50),
        Sent("Video Playback Completed", 50.5, 60, length),
    ]


def test_a_view_watched_to_the_end() -> None:
    figures = fold(reversed(watched_to_the_end()))  # arrival order is no matter

    assert figures.first_event_at == T0 - timedelta(seconds=3)
    assert figures.play_requested_at == T0
    assert figures.startup_ms == pytest.approx(1200)
    # Playing: 1.2-15.2, 17.7-25, 35-40 and 40.5-50.5 s; paused time is not
    # counted, rebuffering and seeking count as watching only.
    assert figures.playing_seconds == pytest.approx(14 + 7.3 + 5 + 10)
    assert figures.watch_seconds == pytest.approx(50.5 - 10)
    assert (figures.rebuffer_count, figures.rebuffer_seconds) == (1, pytest.approx(2.5))
    assert figures.seek_count == 1
    assert figures.completed and figures.reached(1.0) and figures.reached(0.75)
    assert not figures.exited_before_start
    assert (figures.video_id, figures.viewer_id) == ("video-1", "viewer-1")


def test_a_view_left_before_the_first_frame() -> None:
    figures = fold(
        [Sent("Video Playback Started", 0), Sent("Video Playback Exited", 6)]
    )

    assert figures.startup_ms is None
    assert figures.exited_before_start
    assert figures.watch_seconds == pytest.approx(6)
    assert figures.playing_seconds == 0


def test_a_failed_view_keeps_its_error_and_is_no_early_exit() -> None:
    figures = fold(
        [
            Sent("Video Playback Started", 0),
            Sent("Video Playback Interrupted", 2, properties={"error": "manifest 404"}),
        ]
    )

    assert figures.error == "manifest 404"
    assert not figures.exited_before_start


def test_old_event_names_count_as_the_current_ones() -> None:
    figures = fold(
        [
            Sent("Video Play", 0),
            Sent("Video Content Playing", 0.8, 0),
            Sent("Video Buffer Start", 5, 4),
            Sent("Video Buffer End", 6, 4),
            Sent("Video End", 20, 18),
        ]
    )

    assert figures.startup_ms == pytest.approx(800)
    assert figures.rebuffer_count == 1
    assert figures.completed


def test_a_silent_gap_is_not_counted_as_playing() -> None:
    figures = fold(
        [
            Sent("Video Playback Started", 0),
            Sent("Video Content Playing", 1, 0),
            Sent("Video Content Playing", 3601, 10),  # the laptop slept
        ]
    )

    assert figures.playing_seconds == pytest.approx(30)


def test_a_reported_startup_time_wins() -> None:
    figures = fold(
        [
            Sent("Video Playback Started", 0),
            Sent("Video Quality Updated", 0.3, properties={"startupTime": 450}),
            Sent("Video Content Started", 0.9, 0),
        ]
    )

    assert figures.startup_ms == 450


def test_a_seek_while_paused_stays_paused() -> None:
    figures = fold(
        [
            Sent("Video Playback Started", 0),
            Sent("Video Content Started", 1, 0),
            Sent("Video Playback Paused", 3, 2),
            Sent("Video Playback Seek Started", 10, 2),
            Sent("Video Playback Seek Completed", 10.5, 8),
            Sent("Video Playback Resumed", 20, 8),
            Sent("Video Playback Completed", 22, 10),
        ]
    )

    # Playing 1-3 s and 20-22 s; the pause, seek included, is not.
    assert figures.playing_seconds == pytest.approx(4)
    assert figures.seek_count == 1


def test_a_resume_before_the_first_frame_is_no_playing_time() -> None:
    figures = fold(
        [
            Sent("Video Playback Started", 0, 0),
            Sent("Video Playback Paused", 2, 0),
            Sent("Video Playback Resumed", 4, 0),
            Sent("Video Playback Interrupted", 9, 0, {"error": "fragParsingError"}),
        ]
    )

    # Never a frame: no start-up time, nothing played, but 7 s waited.
    assert figures.startup_ms is None
    assert figures.playing_seconds == 0
    assert figures.watch_seconds == pytest.approx(2 + 5)
    assert figures.error == "fragParsingError"
