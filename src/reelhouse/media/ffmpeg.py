"""Running the FFmpeg command-line tool under a watchdog.

The binary comes from imageio-ffmpeg, so a host needs no FFmpeg of its own.
"""

import ctypes
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import IO

import imageio_ffmpeg

from reelhouse.media.errors import MediaError, MediaStalled

# A progress block's fields that move only when FFmpeg gets work done; fps, speed
# and bitrate are recomputed on every report even when it is stuck.
_PROGRESS_FIELDS = ("frame", "out_time_us", "total_size")

_STDERR_TAIL = 40

# FFmpeg 7+ prefixes lines with the component that wrote them, sometimes two:
# "[vost#0:0/libx264 @ 0x55d0] [enc:libx264 @ 0x55d1] Could not open encoder".
_COMPONENT_PREFIX = re.compile(r"^(\[[^\]]*\]\s*)+")

# Lines FFmpeg's scheduler adds after the real error, or that only repeat it
# with a file path the user should not see.
_AFTERMATH = re.compile(
    r"^(Task finished with error code"
    r"|Terminating thread with return code"
    r"|Conversion failed"
    r"|Error opening (input|output) files?\b)"
)

ProgressBlock = dict[str, str]

# 4:2:0 video needs even sizes; cropping the odd last row or column resamples
# nothing, where scaling by one pixel would blur the whole picture.
EVEN_CROP = "crop=trunc(iw/2)*2:trunc(ih/2)*2:0:0"

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


@cache
def ffmpeg_executable() -> str:
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def file_url(path: Path) -> str:
    """Name a local file so FFmpeg cannot read it as another protocol or an option.

    Without the ``file:`` prefix a name like ``concat:a|b`` or ``http:x`` selects
    another protocol, and a relative name starting with ``-`` reads as an option.
    """
    return f"file:{path.absolute()}"


def filter_value(path: Path) -> str:
    """``path`` escaped as the value of a filter option inside a filter graph.

    In a graph ':' separates options and '\\' escapes; a path holding either
    must not break it.
    """
    return str(path).replace("\\", "\\\\").replace(":", "\\:").replace("'", "\\'")


def run_ffmpeg(
    arguments: Sequence[str],
    *,
    action: str,
    on_progress: Callable[[float], None] | None = None,
    stall_timeout: float = 120.0,
) -> None:
    """Run FFmpeg with ``arguments`` (inputs, options, outputs) and wait for it.

    ``on_progress`` receives the seconds of output written so far, about twice a
    second. FFmpeg is killed when it reports no progress for ``stall_timeout``
    seconds. A failure raises MediaError reading "Could not <action>: <why>".
    """
    command = [
        ffmpeg_executable(),
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostats",
        "-progress",
        "pipe:1",
        "-y",
        *arguments,
    ]
    blocks: queue.Queue[ProgressBlock | None] = queue.Queue()
    stderr_tail: deque[str] = deque(maxlen=_STDERR_TAIL)
    with subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        readers = [
            threading.Thread(
                target=_read_progress, args=(process.stdout, blocks), daemon=True
            ),
            # Draining stderr keeps FFmpeg from blocking on a full pipe.
            threading.Thread(
                target=stderr_tail.extend, args=(process.stderr,), daemon=True
            ),
        ]
        for reader in readers:
            reader.start()
        progressed = False
        try:
            progressed = _watch(blocks, on_progress, stall_timeout)
            if progressed:
                process.wait(timeout=stall_timeout)
        except subprocess.TimeoutExpired:
            progressed = False
        finally:
            if process.poll() is None:
                process.kill()
            for reader in readers:
                reader.join()

    if not progressed:
        last = _last_error(stderr_tail)
        said = f" Its last message: {last}" if last else ""
        raise MediaStalled(
            f"Could not {action}: FFmpeg made no progress for {stall_timeout:g} s."
            + said
        )
    if process.returncode != 0:
        why = _last_error(stderr_tail) or f"FFmpeg exited with {process.returncode}."
        raise MediaError(f"Could not {action}: {why}")


def _die_with_parent() -> None:
    """Have the kernel kill FFmpeg when the thread that started it ends.

    A server stopped or killed mid-encode would otherwise leave FFmpeg running
    on, an orphan writing a file nobody will read.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _read_progress(stream: IO[str], blocks: queue.Queue[ProgressBlock | None]) -> None:
    # -progress writes "key=value" lines; a "progress=continue|end" line closes
    # each block.
    block: ProgressBlock = {}
    for line in stream:
        key, _, value = line.strip().partition("=")
        block[key] = value
        if key == "progress":
            blocks.put(block)
            block = {}
    blocks.put(None)


def _watch(
    blocks: queue.Queue[ProgressBlock | None],
    on_progress: Callable[[float], None] | None,
    stall_timeout: float,
) -> bool:
    """Follow FFmpeg's progress until it ends; False if it stopped progressing."""
    last_seen: tuple[str, ...] = ()
    deadline = time.monotonic() + stall_timeout
    while True:
        try:
            block = blocks.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return False
        if block is None:
            return True

        seen = tuple(block.get(field, "") for field in _PROGRESS_FIELDS)
        if seen == last_seen:
            continue
        last_seen = seen
        deadline = time.monotonic() + stall_timeout
        seconds = _out_time(block)
        if on_progress is not None and seconds is not None:
            on_progress(seconds)


def _out_time(block: ProgressBlock) -> float | None:
    # "N/A" until the first packet is muxed; slightly negative with B-frames.
    try:
        return max(0.0, int(block.get("out_time_us", "")) / 1_000_000)
    except ValueError:
        return None


def _last_error(stderr_lines: Iterable[str]) -> str | None:
    for line in reversed(list(stderr_lines)):
        message = _COMPONENT_PREFIX.sub("", line).strip()
        if message and not _AFTERMATH.match(message):
            return message
    return None
