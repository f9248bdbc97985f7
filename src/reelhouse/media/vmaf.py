"""Scoring an encode against its source with VMAF (libvmaf, model vmaf_v0.6.1).

The model predicts how a viewer rates 1080p video on a TV at three times its
height, so both streams are scaled to 1080 lines before scoring, whatever the
rendition's size. Two FFmpeg defaults make scores silently wrong, and both are
overridden here: frames are paired by the nearest timestamp (the default pairs
a frame with the nearest *earlier* one, which skips a frame whenever the
containers round timestamps differently), and the shorter stream ends the
comparison (the default repeats the last frame of the shorter one).
"""

import json
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reelhouse.media.errors import MediaError
from reelhouse.media.ffmpeg import EVEN_CROP, file_url, filter_value, run_ffmpeg

MODEL = "vmaf_v0.6.1"
SCORING_HEIGHT = 1080


@dataclass(frozen=True)
class Score:
    mean: float
    p5: float
    """The 5th percentile of per-frame scores: how bad the worst moments are."""
    frames: int
    """Frames scored (with subsampling, only every n-th frame of the stream)."""

    def meets(self, mean: float, p5: float) -> bool:
        return self.mean >= mean and self.p5 >= p5


@dataclass(frozen=True)
class Clip:
    """A stretch of a file: ``frames`` frames from ``start`` seconds on.

    The whole file when ``frames`` is None.
    """

    path: Path
    start: float = 0.0
    frames: int | None = None

    def input_arguments(self) -> list[str]:
        # Before -i, -ss seeks the input exactly: frames before it are decoded
        # and dropped, and timestamps start again from zero.
        seek = ["-ss", f"{self.start:.6f}"] if self.start > 0 else []
        return [*seek, "-i", file_url(self.path)]

    def frame_limit(self) -> str:
        """The filter that ends the clip, with its trailing comma; or nothing."""
        return "" if self.frames is None else f"trim=end_frame={self.frames},"


@dataclass(frozen=True)
class FrameScores:
    """The VMAF of each frame scored, by the frame's index in the reference."""

    scores: dict[int, float]

    def score(self) -> Score:
        return _summary(list(self.scores.values()))

    def within(self, first: int, frames: int) -> Score | None:
        """The score of frames ``first`` to ``first + frames``; None if none
        of them was scored."""
        inside = [
            value
            for index, value in self.scores.items()
            if first <= index < first + frames
        ]
        return _summary(inside) if inside else None


def measure(
    distorted: Clip,
    reference: Clip,
    *,
    display_aspect: float,
    workspace: Path,
    subsample: int = 1,
    threads: int = 2,
    on_progress: Callable[[float], None] | None = None,
    stall_timeout: float = 120.0,
) -> Score:
    """VMAF of ``distorted`` against ``reference``: see :func:`measure_frames`."""
    return measure_frames(
        distorted,
        reference,
        display_aspect=display_aspect,
        workspace=workspace,
        subsample=subsample,
        threads=threads,
        on_progress=on_progress,
        stall_timeout=stall_timeout,
    ).score()


def measure_frames(
    distorted: Clip,
    reference: Clip,
    *,
    display_aspect: float,
    workspace: Path,
    subsample: int = 1,
    threads: int = 2,
    on_progress: Callable[[float], None] | None = None,
    stall_timeout: float = 120.0,
) -> FrameScores:
    """VMAF of ``distorted`` against ``reference``, both seen at 1080 lines,
    frame by frame.

    ``display_aspect`` (width / height as displayed) sets the common width, so
    that a rendition and its source are scaled to exactly the same size.
    ``subsample`` scores every n-th frame only (n = 5 or 7 keeps scores
    within about a point of every frame's here): close enough to steer a
    search, several times faster. ``on_progress`` hears FFmpeg's progress.
    Raises MediaError when FFmpeg fails or when fewer frames were compared
    than the reference holds.
    """
    width = 2 * round(SCORING_HEIGHT * display_aspect / 2)
    # Both streams start at zero: a seek leaves the reference's first frame a
    # little after zero, the encode's at zero, and pairing by nearest
    # timestamp would then be a coin toss at every frame.
    # Encodes drop an odd last row or column (4:2:0 needs even sizes); the
    # source loses it too, or the upscale would shift every row a little.
    if math.gcd(subsample, 6) != 1:
        # Encoders repeat frame types (and their quality) in runs of two to
        # four frames: sampling in step with them scores only the best.
        raise ValueError(f"subsample must be 1, 5, 7, 11...; not {subsample}")
    # Subsampling keeps every n-th frame and the one just before it. VMAF's
    # motion feature compares each frame with the one before it (the smaller
    # of that and the change to the next); a frame scored without its true
    # predecessor sees n frames' worth of motion, which masks artefacts, and
    # busy content scores several points too high (libvmaf's own n_subsample
    # does just that). Only the n-th frames' scores are kept.
    keep = (
        f"select='not(mod(n\\,{subsample}))+not(mod(n+1\\,{subsample}))',"
        if subsample > 1
        else ""
    )
    scale = (
        f"setpts=PTS-STARTPTS,{keep}{EVEN_CROP},"
        f"scale={width}:{SCORING_HEIGHT}:flags=bicubic,setsar=1,format=yuv420p"
    )
    log = workspace / f"vmaf-{id(distorted):x}.json"
    options = ":".join(
        [
            f"model=version={MODEL}",
            f"n_threads={threads}",
            "shortest=1",
            "ts_sync_mode=nearest",
            "log_fmt=json",
            f"log_path={filter_value(log)}",
        ]
    )
    graph = (
        f"[0:v]{distorted.frame_limit()}{scale}[distorted];"
        f"[1:v]{reference.frame_limit()}{scale}[reference];"
        f"[distorted][reference]libvmaf={options}"
    )
    arguments = [
        *distorted.input_arguments(),
        *reference.input_arguments(),
        "-lavfi", graph,
        "-f", "null", "-",
    ]  # fmt: skip
    try:
        run_ffmpeg(
            arguments,
            action="measure VMAF",
            on_progress=on_progress,
            stall_timeout=stall_timeout,
        )
        report = json.loads(log.read_text())
    finally:
        log.unlink(missing_ok=True)
    scores = {
        _source_frame(frame["frameNum"], subsample): frame["metrics"]["vmaf"]
        for frame in report["frames"]
        if subsample == 1 or frame["frameNum"] % 2 == 0
    }
    if not scores:
        raise MediaError("Could not measure VMAF: no frames were compared.")
    if reference.frames is not None:
        expected = math.ceil(reference.frames / subsample)
        # Frames kept sparsely are paired at the end only once the other
        # stream has a frame past them; the very last may go unscored.
        allowed = expected - (1 if subsample > 1 else 0)
        if len(scores) < allowed:
            raise MediaError(
                f"Could not measure VMAF: {len(scores)} frames were compared, "
                f"{expected} expected; the encode lost frames."
            )
    return FrameScores(scores)


def _source_frame(scored: int, subsample: int) -> int:
    """The reference's frame index of the ``scored``-th frame libvmaf saw.

    Subsampled, libvmaf sees frame 0, then the frames n - 1 and n, 2n - 1 and
    2n, and so on.
    """
    return scored if subsample == 1 else scored // 2 * subsample


def _summary(scores: list[float]) -> Score:
    return Score(
        mean=statistics.fmean(scores), p5=percentile(scores, 5), frames=len(scores)
    )


def percentile(values: list[float], rank: float) -> float:
    """The ``rank``-th percentile, interpolated between the closest values."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * rank / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
