"""Converting a video to a web-playable MP4 and taking a poster frame from it."""

import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from reelhouse.media.errors import MediaError
from reelhouse.media.ffmpeg import EVEN_CROP, file_url, run_ffmpeg
from reelhouse.media.probe import MediaInfo, ensure_complete, probe

# Browsers ignore a JPEG's pixel aspect, so non-square pixels are scaled out.
_DISPLAY_SIZE = "scale=iw*sar:ih,setsar=1"

_PROGRESS_INTERVAL = 0.25


@dataclass(frozen=True)
class EncodeResult:
    path: Path
    size: int
    """Bytes."""
    duration: float
    """Seconds, as probed from the written file."""
    width: int
    height: int


def encode_mp4(
    source: Path,
    target: Path,
    info: MediaInfo,
    on_progress: Callable[[float], None] | None = None,
    *,
    stall_timeout: float = 120.0,
) -> EncodeResult:
    """Convert ``source`` (described by ``info``) to H.264/AAC MP4 at ``target``.

    ``on_progress`` gets a rising fraction of the work done, a few times a second
    at most, then 1.0 once the file is in place. ``target`` appears only when the
    whole conversion succeeded; a failure, a stall of ``stall_timeout`` seconds or
    an output clearly shorter than ``info.duration`` raises MediaError.
    """
    arguments = ["-i", file_url(source), "-map", "0:V:0"]
    if info.audio_codec is not None:
        arguments += ["-map", "0:a:0", "-c:a", "aac", "-b:a", "128k"]
    arguments += [
        "-vf", EVEN_CROP,
        "-c:v", "libx264",
        "-preset", "medium",
        "-crf", "23",
        "-profile:v", "high",
        "-pix_fmt", "yuv420p",
        "-movflags", "+faststart",
        "-f", "mp4",
    ]  # fmt: skip
    reporter = _ProgressReporter(on_progress, info.duration) if on_progress else None

    with _staged(target) as staged:
        run_ffmpeg(
            [*arguments, file_url(staged)],
            action="convert the video",
            on_progress=reporter,
            stall_timeout=stall_timeout,
        )
        # FFmpeg stops at the end of whatever it could read and still exits 0, so
        # an upload cut short shows only as an output shorter than announced.
        output = probe(staged)
        ensure_complete(output.duration, info.duration)

    if on_progress is not None:
        on_progress(1.0)
    return _result(target, output)


# What browsers decode of H.264: 8-bit 4:2:0 (High 4:4:4 or 10-bit streams
# play nowhere but in desktop players).
BROWSER_PIXELS = {"yuv420p", "yuvj420p"}


def can_remux(info: MediaInfo) -> bool:
    """Whether ``info``'s streams play in browsers as they are, in an MP4."""
    return (
        info.video_codec == "h264"
        and info.pixel_format in BROWSER_PIXELS
        and info.audio_codec in (None, "aac")
    )


def remux_mp4(
    source: Path, target: Path, info: MediaInfo, *, stall_timeout: float = 120.0
) -> EncodeResult:
    """Copy ``source``'s first video and audio streams into a faststart MP4.

    For a source already smaller than its re-encode: a download should never
    be larger than what was uploaded. Raises MediaError when ``info`` says
    the streams cannot play as they are (see :func:`can_remux`).
    """
    if not can_remux(info):
        raise MediaError(
            f"Could not remux the video: {info.video_codec} with "
            f"{info.audio_codec or 'no'} audio needs converting."
        )
    arguments = ["-i", file_url(source), "-map", "0:V:0"]
    if info.audio_codec is not None:
        arguments += ["-map", "0:a:0"]
    arguments += ["-c", "copy", "-movflags", "+faststart", "-f", "mp4"]
    with _staged(target) as staged:
        run_ffmpeg(
            [*arguments, file_url(staged)],
            action="remux the video",
            stall_timeout=stall_timeout,
        )
        output = probe(staged)
        ensure_complete(output.duration, info.duration)
    return _result(target, output)


def make_poster(
    source: Path, target: Path, info: MediaInfo, *, stall_timeout: float = 120.0
) -> None:
    """Write a JPEG of the frame about 1 s in (the middle of shorter clips)."""
    position = 1.0 if info.duration >= 2.0 else info.duration / 2
    arguments = [
        # Before -i, -ss seeks the input instead of decoding up to the position.
        *info.seek(position),
        "-i", file_url(source),
        "-map", "0:V:0",
        "-frames:v", "1",
        "-vf", _DISPLAY_SIZE,
        "-c:v", "mjpeg",
        "-q:v", "3",
        "-f", "image2",
        "-update", "1",
    ]  # fmt: skip
    with _staged(target) as staged:
        run_ffmpeg(
            [*arguments, file_url(staged)],
            action="make a poster",
            stall_timeout=stall_timeout,
        )
        # The image muxer creates its file only when a frame arrives.
        if not staged.exists() or staged.stat().st_size == 0:
            raise MediaError(
                f"Could not make a poster: no frame was found at {position:.1f} s."
            )


def _result(target: Path, output: MediaInfo) -> EncodeResult:
    return EncodeResult(
        path=target,
        size=target.stat().st_size,
        duration=output.duration,
        width=output.width,
        height=output.height,
    )


@contextmanager
def _staged(target: Path) -> Iterator[Path]:
    # Readers of target never see a half-written file: FFmpeg writes beside it
    # (same file system, so the rename is atomic) and only success renames.
    staged = target.with_name(f".{target.name}.{secrets.token_hex(6)}.part")
    # Creating the file first turns a missing or read-only folder into an OSError
    # here rather than an FFmpeg failure blamed on the upload.
    staged.touch(exist_ok=False)
    try:
        yield staged
        staged.replace(target)
    finally:
        staged.unlink(missing_ok=True)


class _ProgressReporter:
    """Turns FFmpeg's output time into the fraction promised to on_progress."""

    def __init__(self, on_progress: Callable[[float], None], duration: float) -> None:
        self._on_progress = on_progress
        self._duration = duration
        self._reported = 0.0
        self._reported_at = float("-inf")

    def __call__(self, seconds: float) -> None:
        fraction = min(seconds / self._duration, 1.0)
        now = time.monotonic()
        # 1.0 is kept for encode_mp4 to send once the file has passed its checks.
        if fraction <= self._reported or fraction >= 1.0:
            return
        if now - self._reported_at < _PROGRESS_INTERVAL:
            return
        self._reported = fraction
        self._reported_at = now
        self._on_progress(fraction)
