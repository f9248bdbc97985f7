"""Views: one playback session's events folded into the figures a summary needs.

A view is an attempt to play a video (Mux's definition): it starts with
``Video Playback Started`` and lasts until its last event. Its figures are
rebuilt from its own events whenever new ones arrive, so events that come
late or out of order still land where they belong, and a summary reads one
row per view instead of every event.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

# Older players name the events differently; both mean the same.
OLD_NAMES = {
    "Video Load": "Video Player Loaded",
    "Video Play": "Video Playback Started",
    "Video Pause": "Video Playback Paused",
    "Video Seek": "Video Playback Seek Completed",
    "Video Buffer Start": "Video Playback Buffer Started",
    "Video Buffer End": "Video Playback Buffer Completed",
    "Video End": "Video Playback Completed",
}
# A gap longer than this between two events is not counted as time spent:
# a tab that slept or died stops its heartbeats (every 10 s) without a word.
MAX_GAP_SECONDS = 30.0
# Pictures start moving: the view's start-up is over.
FIRST_FRAME = {"Video Content Started", "Video Content Playing"}


class Event(Protocol):
    @property
    def event(self) -> str | None: ...
    @property
    def timestamp(self) -> datetime: ...
    @property
    def video_id(self) -> str | None: ...
    @property
    def user_id(self) -> str | None: ...
    @property
    def anonymous_id(self) -> str | None: ...
    @property
    def position(self) -> float | None: ...
    @property
    def properties(self) -> dict[str, Any]: ...


@dataclass
class ViewFigures:
    video_id: str | None = None
    viewer_id: str | None = None
    first_event_at: datetime | None = None
    last_event_at: datetime | None = None
    play_requested_at: datetime | None = None
    """When the viewer asked to play (None: a page load without a play)."""
    startup_ms: float | None = None
    """From the play request to the first frame."""
    playing_seconds: float = 0.0
    watch_seconds: float = 0.0
    """Playing, plus starting up, rebuffering and seeking."""
    max_position: float = 0.0
    total_length: float | None = None
    rebuffer_count: int = 0
    rebuffer_seconds: float = 0.0
    seek_count: int = 0
    completed: bool = False
    error: str | None = None
    """Why playback failed, if it did."""

    @property
    def exited_before_start(self) -> bool:
        return (
            self.play_requested_at is not None
            and self.startup_ms is None
            and self.error is None
        )

    def reached(self, share: float) -> bool:
        """Whether playback got past ``share`` of the video."""
        if self.completed and share >= 1:
            return True
        if not self.total_length:
            return False
        return self.max_position >= share * self.total_length - (1 if share >= 1 else 0)


def name(event: str | None) -> str | None:
    return OLD_NAMES.get(event or "", event)


def fold(events: Iterable[Event]) -> ViewFigures:
    """The figures of one view, from its events (in any order)."""
    figures = ViewFigures()
    state = "idle"
    previous: datetime | None = None
    buffering_since: datetime | None = None
    before_seek = "playing"
    moving = False  # the first frame was shown
    for event in sorted(events, key=lambda e: e.timestamp):
        now, called = event.timestamp, name(event.event)
        properties = event.properties or {}
        figures.first_event_at = figures.first_event_at or now
        figures.last_event_at = now
        figures.video_id = figures.video_id or event.video_id
        figures.viewer_id = figures.viewer_id or event.user_id or event.anonymous_id
        if previous is not None:
            spent = min((now - previous).total_seconds(), MAX_GAP_SECONDS)
            if state == "playing":
                figures.playing_seconds += spent
            if state in {"starting", "playing", "buffering", "seeking"}:
                figures.watch_seconds += spent
        previous = now
        if event.position is not None:
            figures.max_position = max(figures.max_position, event.position)
        length = properties.get("total_length")
        if isinstance(length, int | float) and length > 0:
            figures.total_length = float(length)
        startup = properties.get("startup_time_ms", properties.get("startupTime"))
        if isinstance(startup, int | float) and figures.startup_ms is None:
            figures.startup_ms = float(startup)

        if called == "Video Playback Started":
            if figures.play_requested_at is None:
                figures.play_requested_at = now
                state = "starting"
        elif called in FIRST_FRAME:
            started = figures.play_requested_at
            if state == "starting" and figures.startup_ms is None and started:
                figures.startup_ms = (now - started).total_seconds() * 1000
            moving = True
            if state != "ended":
                state = "playing"
        elif called == "Video Playback Resumed":
            # A resume before the first frame is still waiting for it.
            if state != "ended":
                state = "playing" if moving else "starting"
        elif called == "Video Playback Paused":
            state = "paused"
        elif called == "Video Playback Buffer Started":
            if state != "starting":  # waiting for the first frame is start-up
                figures.rebuffer_count += 1
                buffering_since = now
                state = "buffering"
        elif called == "Video Playback Buffer Completed":
            if buffering_since is not None:
                figures.rebuffer_seconds += min(
                    (now - buffering_since).total_seconds(), MAX_GAP_SECONDS
                )
                buffering_since = None
                state = "playing"
        elif called == "Video Playback Seek Started":
            if state != "seeking":
                before_seek = state
            state = "seeking"
        elif called == "Video Playback Seek Completed":
            figures.seek_count += 1
            # A seek while paused stays paused; old players send no Started.
            state = before_seek if state == "seeking" else "playing"
        elif called == "Video Playback Completed":
            figures.completed = True
            state = "ended"
        elif called == "Video Playback Interrupted":
            error = properties.get("error") or properties.get("error_code")
            if error:
                figures.error = str(error)[:200]
            state = "ended"
        elif called == "Video Playback Exited":
            state = "ended"
    return figures
