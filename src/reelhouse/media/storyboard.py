"""Storyboards: a sprite of thumbnails and its WebVTT index, for scrubbing previews.

Players (hls.js, video.js, Vidstack, Plyr) show the thumbnail under the pointer
from a WebVTT file whose cues each name a rectangle of one image with a media
fragment, ``storyboard.jpg#xywh=X,Y,W,H``.
"""

import math
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from reelhouse.media.errors import MediaError
from reelhouse.media.ffmpeg import file_url, run_ffmpeg
from reelhouse.media.probe import MediaInfo

# Browsers ignore a JPEG's pixel aspect, so non-square pixels are scaled out
# before the thumbnails are sized.
_DISPLAY_SIZE = "scale=iw*sar:ih,setsar=1"

# framecrc writes this header once its first frame arrives.
_THUMBNAIL_SIZE = re.compile(r"^#dimensions 0: (\d+)x(\d+)$", re.MULTILINE)

_ACTION = "make a storyboard"


@dataclass(frozen=True)
class Storyboard:
    image: Path
    """The sprite: a JPEG grid of thumbnails, left to right, then top to bottom."""
    index: Path
    """The WebVTT file giving each thumbnail's time range and rectangle."""
    tiles: int
    """Thumbnails in the sprite; cells after the last one are blank."""
    tile_width: int
    tile_height: int
    interval: float
    """Seconds between thumbnails."""


def make_storyboard(
    source: Path,
    folder: Path,
    info: MediaInfo,
    *,
    image_name: str = "storyboard.jpg",
    tile_width: int = 160,
    max_tiles: int = 100,
    columns: int = 10,
    stall_timeout: float = 120.0,
) -> Storyboard:
    """Write a sprite of ``source``'s thumbnails and its WebVTT index into ``folder``.

    A thumbnail is taken every ``interval`` seconds, the smallest whole number
    that keeps them within ``max_tiles``, and they fill rows of at most
    ``columns``. They are ``tile_width`` pixels wide (an even number) and as high
    as the display aspect ratio makes them, rounded to an even number.

    The index is ``image_name`` with a ``.vtt`` suffix and names the image
    relatively, so the two must be served from one folder. Its cues run from 0 to
    ``info.duration`` without a gap; when the video's frames end early, the last
    thumbnail covers the rest.

    Both files appear only when the whole storyboard succeeded, the index last. A
    failed FFmpeg run, a stall of ``stall_timeout`` seconds or a video with no
    frame raises MediaError.
    """
    _check_layout(image_name, tile_width, max_tiles, columns)
    duration_ms = max(1, round(info.duration * 1000))
    interval = max(1, math.ceil(duration_ms / (max_tiles * 1000)))
    expected = math.ceil(duration_ms / (interval * 1000))
    columns = min(columns, expected)
    rows = math.ceil(expected / columns)
    graph = _graph(interval, expected, tile_width, columns, rows)

    image = folder / image_name
    index = image.with_suffix(".vtt")
    with _staged(image, index, image.with_suffix(".frames")) as (sprite, vtt, record):
        arguments = [
            "-i", file_url(source),
            "-filter_complex", graph,
            "-map", "[sprite]",
            "-c:v", "mjpeg",
            "-q:v", "4",
            "-f", "image2",
            "-update", "1",
            file_url(sprite),
            # One line per thumbnail, to learn how many the sprite holds: the tile
            # filter fills the cells it gets no frame for with black.
            "-map", "[record]",
            "-c:v", "rawvideo",
            "-f", "framecrc",
            file_url(record),
        ]  # fmt: skip
        run_ffmpeg(arguments, action=_ACTION, stall_timeout=stall_timeout)
        tiles, width, height = _read_record(record)
        vtt.write_text(
            _webvtt(image_name, tiles, columns, width, height, interval, duration_ms),
            encoding="utf-8",
        )
        sprite.replace(image)
        vtt.replace(index)

    return Storyboard(
        image=image,
        index=index,
        tiles=tiles,
        tile_width=width,
        tile_height=height,
        interval=float(interval),
    )


def _check_layout(
    image_name: str, tile_width: int, max_tiles: int, columns: int
) -> None:
    name = Path(image_name)
    if name.name != image_name or name.suffix.lower() not in (".jpg", ".jpeg"):
        raise ValueError(
            f"image_name must be a file name ending in .jpg: {image_name!r}"
        )
    if tile_width < 2 or tile_width % 2:
        raise ValueError(f"tile_width must be even and positive, not {tile_width}")
    if max_tiles < 1 or columns < 1:
        raise ValueError("max_tiles and columns must be positive")


def _graph(interval: int, tiles: int, width: int, columns: int, rows: int) -> str:
    # start_time=0 puts thumbnail k at k * interval even when the video starts
    # late; eof_action=pass gives the last, shorter interval a thumbnail of its
    # own; trim keeps a video running on past its stated duration within the grid.
    thumbnails = (
        f"[0:V:0]fps=1/{interval}:start_time=0:eof_action=pass,"
        f"trim=end_frame={tiles},{_DISPLAY_SIZE},scale={width}:-2"
    )
    grid = f"tile={columns}x{rows}"
    # FFmpeg reports no progress until every output has written something, and the
    # tile filter writes nothing before the last thumbnail: on a long video the
    # watchdog would see a stall. So a draft holding only the first thumbnail goes
    # out first, and the image muxer overwrites it with the whole grid.
    return ";".join(
        [
            f"{thumbnails},split=3[record][tiles][first]",
            f"[first]trim=end_frame=1,{grid}[draft]",
            f"[tiles]{grid}[whole]",
            "[draft][whole]concat[sprite]",
        ]
    )


def _read_record(record: Path) -> tuple[int, int, int]:
    """Count the thumbnails in a framecrc record and read their width and height."""
    text = record.read_text(encoding="utf-8")
    size = _THUMBNAIL_SIZE.search(text)
    tiles = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    if size is None or tiles == 0:
        raise MediaError(f"Could not {_ACTION}: the video has no frame to show.")
    return tiles, int(size[1]), int(size[2])


def _webvtt(
    image_name: str,
    tiles: int,
    columns: int,
    width: int,
    height: int,
    interval: int,
    duration_ms: int,
) -> str:
    url = quote(image_name)
    lines = ["WEBVTT", ""]
    for tile in range(tiles):
        start = tile * interval * 1000
        end = duration_ms if tile == tiles - 1 else start + interval * 1000
        x, y = tile % columns * width, tile // columns * height
        lines += [
            f"{_timestamp(start)} --> {_timestamp(end)}",
            f"{url}#xywh={x},{y},{width},{height}",
            "",
        ]
    return "\n".join(lines)


def _timestamp(milliseconds: int) -> str:
    seconds, milliseconds = divmod(milliseconds, 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02}:{minutes:02}:{seconds:02}.{milliseconds:03}"


@contextmanager
def _staged(*targets: Path) -> Iterator[list[Path]]:
    # Readers of a target never see a half-written file: each is written beside
    # it (same file system, so the caller's rename is atomic) and whatever is
    # left when the block ends, renamed or not, is removed.
    parts = [
        target.with_name(f".{target.name}.{secrets.token_hex(6)}.part")
        for target in targets
    ]
    try:
        for part in parts:
            # Creating the files first turns a missing or read-only folder into an
            # OSError here rather than an FFmpeg failure blamed on the upload.
            part.touch(exist_ok=False)
        yield parts
    finally:
        for part in parts:
            part.unlink(missing_ok=True)
