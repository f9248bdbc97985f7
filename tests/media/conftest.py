"""Clips for the media tests: the shared real clips and short cuts made from them."""

import subprocess
from collections.abc import Callable
from pathlib import Path

import imageio_ffmpeg
import pytest

MEDIA = Path(__file__).resolve().parents[2] / ".." / "shared" / "media"


def _ffmpeg(*arguments: str) -> None:
    """Prepare a test input with the same FFmpeg binary the code under test uses."""
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-y"]
    subprocess.run([*command, *arguments], check=True)


def _first_half(source: Path, target: Path) -> Path:
    """Copy the first half of ``source``'s bytes, like an upload cut off midway."""
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


@pytest.fixture(scope="session")
def ffmpeg() -> Callable[..., None]:
    """Run FFmpeg with the given arguments, to synthesize media inside a test."""
    return _ffmpeg


@pytest.fixture(scope="session")
def first_half() -> Callable[[Path, Path], Path]:
    """Copy the first half of a file's bytes, like an upload cut off midway."""
    return _first_half


@pytest.fixture(scope="session")
def clips() -> Path:
    if not MEDIA.is_dir():
        pytest.fail(f"the shared clips are missing: expected them in {MEDIA}")
    return MEDIA


@pytest.fixture(scope="session")
def cuts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cuts")


@pytest.fixture(scope="session")
def cockatoo_2s(clips: Path, cuts: Path) -> Path:
    # A stream copy keeps the MP3 audio and the 20 fps video of the original.
    target = cuts / "cockatoo-2s.mp4"
    _ffmpeg(
        "-i",
        str(clips / "cockatoo-720p-camera.mp4"),
        "-t",
        "2",
        "-c",
        "copy",
        str(target),
    )
    return target


@pytest.fixture(scope="session")
def bunny_faststart(clips: Path, cuts: Path) -> Path:
    # The shared copy has its moov atom at the end; faststart moves it in front of
    # the media data, as phones and most web tools write MP4s.
    target = cuts / "bunny-faststart.mp4"
    _ffmpeg(
        "-i",
        str(clips / "bunny-animation.mp4"),
        "-c",
        "copy",
        "-movflags",
        "+faststart",
        str(target),
    )
    return target


@pytest.fixture(scope="session")
def bunny_2s_matroska(clips: Path, cuts: Path) -> Path:
    # Matroska writes its duration up front and its index (cues) at the end, so a
    # cut-off copy opens with the full duration and no index to betray the cut.
    target = cuts / "bunny-2s.mkv"
    _ffmpeg(
        "-i", str(clips / "bunny-animation.mp4"), "-t", "2", "-c", "copy", str(target)
    )
    return target
