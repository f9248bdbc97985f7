import dataclasses
import os
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import pytest

from reelhouse.media import EncodeResult, MediaError, encode_mp4, make_poster, probe

pytestmark = pytest.mark.slow


@dataclasses.dataclass
class Encoded:
    source: Path
    result: EncodeResult
    progress: list[float]


def encode(source: Path, target: Path) -> Encoded:
    progress: list[float] = []
    result = encode_mp4(source, target, probe(source), progress.append)
    return Encoded(source, result, progress)


@pytest.fixture(scope="module")
def city(clips: Path, tmp_path_factory: pytest.TempPathFactory) -> Encoded:
    target = tmp_path_factory.mktemp("city") / "city.mp4"
    return encode(clips / "city-405p-camera-mpeg2.mpg", target)


@pytest.fixture(scope="module")
def cockatoo(cockatoo_2s: Path, tmp_path_factory: pytest.TempPathFactory) -> Encoded:
    return encode(cockatoo_2s, tmp_path_factory.mktemp("cockatoo") / "cockatoo.mp4")


def test_encode_mp4_odd_height_becomes_even(city: Encoded) -> None:
    assert (city.result.width, city.result.height) == (720, 404)
    assert city.result.path.name == "city.mp4"
    assert city.result.size == city.result.path.stat().st_size


def test_encode_mp4_odd_height_keeps_duration(city: Encoded) -> None:
    assert city.result.duration == pytest.approx(probe(city.source).duration, abs=0.1)


def test_encode_mp4_silent_source_gives_h264_without_audio(city: Encoded) -> None:
    with av.open(city.result.path) as output:
        assert [stream.type for stream in output.streams] == ["video"]
        video = output.streams.video[0]
        assert video.codec_context.name == "h264"
        assert video.codec_context.profile == "High"
        assert video.codec_context.pix_fmt == "yuv420p"
        assert video.sample_aspect_ratio in (None, Fraction(1))


def test_encode_mp4_output_is_faststart(city: Encoded) -> None:
    # Browsers start playing before the download ends only when moov comes first.
    head = city.result.path.read_bytes()[:64]
    assert head.index(b"moov") < 64


def test_encode_mp4_progress_rises_to_one(city: Encoded) -> None:
    assert len(city.progress) >= 3
    assert city.progress == sorted(set(city.progress))
    assert all(0.0 <= fraction < 1.0 for fraction in city.progress[:-1])
    assert city.progress[-1] == 1.0


def test_encode_mp4_mp3_source_gives_aac(cockatoo: Encoded) -> None:
    with av.open(cockatoo.result.path) as output:
        assert [stream.type for stream in output.streams] == ["video", "audio"]
        assert output.streams.audio[0].codec_context.name == "aac"
        assert output.streams.video[0].codec_context.name == "h264"


def test_encode_mp4_keeps_frame_rate(cockatoo: Encoded) -> None:
    assert probe(cockatoo.result.path).frame_rate == pytest.approx(20.0)
    assert (cockatoo.result.width, cockatoo.result.height) == (1280, 720)


def test_encode_mp4_anamorphic_source_keeps_sample_aspect_ratio(
    tmp_path: Path, ffmpeg: Callable[..., None]
) -> None:
    # Odd width and height and wide pixels, as on a DVD rip.
    source = tmp_path / "anamorphic.mkv"
    lavfi = "-f lavfi -i testsrc2=size=161x91:rate=25:duration=1 -vf setsar=4/3"
    ffmpeg(*lavfi.split(), "-c:v", "ffv1", str(source))

    result = encode_mp4(source, tmp_path / "out.mp4", probe(source))

    assert (result.width, result.height) == (160, 90)
    with av.open(result.path) as output:
        assert output.streams.video[0].sample_aspect_ratio == Fraction(4, 3)


def test_probe_and_encode_truncated_mp4_raise(
    clips: Path,
    bunny_faststart: Path,
    tmp_path: Path,
    first_half: Callable[[Path, Path], Path],
) -> None:
    # Whichever step notices, a cut-off upload must never become a video.
    for whole in (clips / "bunny-animation.mp4", bunny_faststart):
        cut = first_half(whole, tmp_path / f"cut-{whole.name}")
        with pytest.raises(MediaError):
            encode_mp4(cut, tmp_path / "out.mp4", probe(cut))
        assert not (tmp_path / "out.mp4").exists()


def test_encode_mp4_truncated_matroska_raises(
    bunny_2s_matroska: Path, tmp_path: Path, first_half: Callable[[Path, Path], Path]
) -> None:
    cut = first_half(bunny_2s_matroska, tmp_path / "cut.mkv")
    info = probe(cut)
    target = tmp_path / "out.mp4"

    with pytest.raises(MediaError) as caught:
        encode_mp4(cut, target, info)

    assert caught.value.reason.startswith("The file is truncated: only 0.")
    assert caught.value.reason.endswith(" s of 2.0 s could be decoded.")
    assert sorted(os.listdir(tmp_path)) == ["cut.mkv"]


def test_encode_mp4_ffmpeg_failure_leaves_no_target(
    clips: Path, tmp_path: Path
) -> None:
    # Probed as a video, but what FFmpeg then finds is text.
    info = probe(clips / "bunny-animation.mp4")
    source = tmp_path / "swapped.mp4"
    source.write_text("not a video any more\n")
    target = tmp_path / "out.mp4"
    target.write_bytes(b"the previous rendition")

    with pytest.raises(MediaError) as caught:
        encode_mp4(source, target, info)

    assert caught.value.reason.startswith("Could not convert the video: ")
    assert "Conversion failed" not in caught.value.reason
    assert target.read_bytes() == b"the previous rendition"
    assert sorted(os.listdir(tmp_path)) == ["out.mp4", "swapped.mp4"]


def test_encode_mp4_progress_callback_error_stops_ffmpeg(
    clips: Path, tmp_path: Path
) -> None:
    source = clips / "city-405p-camera-mpeg2.mpg"

    class Cancelled(Exception):
        pass

    def cancel(fraction: float) -> None:
        raise Cancelled

    with pytest.raises(Cancelled):
        encode_mp4(source, tmp_path / "out.mp4", probe(source), cancel)

    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_encode_mp4_stalled_ffmpeg_is_stopped(clips: Path, tmp_path: Path) -> None:
    # FFmpeg blocks opening a pipe that nobody writes to.
    info = probe(clips / "city-405p-camera-mpeg2.mpg")
    source = tmp_path / "stuck.mpg"
    os.mkfifo(source)

    with pytest.raises(MediaError) as caught:
        encode_mp4(source, tmp_path / "out.mp4", info, stall_timeout=0.5)

    assert caught.value.reason == (
        "Could not convert the video: FFmpeg made no progress for 0.5 s."
    )
    assert sorted(os.listdir(tmp_path)) == ["stuck.mpg"]


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("city-405p-camera-mpeg2.mpg", (720, 405)),
        ("tour-540p-animation.mp4", (960, 540)),
    ],
)
def test_make_poster_writes_jpeg_of_display_size(
    clips: Path, tmp_path: Path, name: str, size: tuple[int, int]
) -> None:
    source = clips / name
    target = tmp_path / "poster.jpg"

    make_poster(source, target, probe(source))

    assert target.read_bytes()[:3] == b"\xff\xd8\xff"
    with av.open(target) as poster:
        image = poster.streams.video[0].codec_context
        assert image.name == "mjpeg"
        assert (image.width, image.height) == size
    assert os.listdir(tmp_path) == ["poster.jpg"]


def test_make_poster_short_clip_takes_middle_frame(
    tmp_path: Path, ffmpeg: Callable[..., None]
) -> None:
    source = tmp_path / "short.mkv"
    lavfi = "-f lavfi -i testsrc2=size=160x90:rate=25:duration=0.4"
    ffmpeg(*lavfi.split(), "-c:v", "ffv1", str(source))

    make_poster(source, tmp_path / "poster.jpg", probe(source))

    assert (tmp_path / "poster.jpg").stat().st_size > 0


def test_make_poster_anamorphic_source_is_scaled_to_display_size(
    tmp_path: Path, ffmpeg: Callable[..., None]
) -> None:
    source = tmp_path / "anamorphic.mkv"
    lavfi = "-f lavfi -i testsrc2=size=160x90:rate=25:duration=2 -vf setsar=3/2"
    ffmpeg(*lavfi.split(), "-c:v", "ffv1", str(source))
    target = tmp_path / "poster.jpg"

    make_poster(source, target, probe(source))

    with av.open(target) as poster:
        image = poster.streams.video[0].codec_context
        assert (image.width, image.height) == (240, 90)
