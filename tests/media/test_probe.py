import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from reelhouse.media import MediaError, MediaInfo, can_remux, probe

MP4 = "mov,mp4,m4a,3gp,3g2,mj2"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "bunny-animation.mp4",
            MediaInfo(5.312, 1280, 720, 25.0, "h264", "aac", 1_589_963, MP4),
        ),
        (
            "cockatoo-720p-camera.mp4",
            MediaInfo(
                14.0,
                1280,
                720,
                20.0,
                "h264",
                "mp3",
                416_429,
                MP4,
                1.0,
                # x264 named its version in the stream: a seek must pass it on.
                ("-x264_build", "142"),
            ),
        ),
        (
            "city-405p-camera-mpeg2.mpg",
            MediaInfo(7.6, 720, 405, 25.0, "mpeg2video", None, 4_813_877, "mpeg"),
        ),
        (
            "hello-720p-screen.mp4",
            MediaInfo(
                8.329,
                1280,
                720,
                30.12,
                "h264",
                "aac",
                4_118_919,
                MP4,
                1.0,
                ("-x264_build", "160"),
            ),
        ),
        (
            "tour-540p-animation.mp4",
            MediaInfo(
                11.333,
                960,
                540,
                24.0,
                "h264",
                None,
                970_066,
                MP4,
                1.0,
                ("-x264_build", "148"),
            ),
        ),
    ],
)
def test_probe_real_clip_describes_it(
    clips: Path, name: str, expected: MediaInfo
) -> None:
    info = probe(clips / name)

    assert info.duration == pytest.approx(expected.duration, abs=0.001)
    assert info.frame_rate == pytest.approx(expected.frame_rate, abs=0.01)
    assert (info.width, info.height) == (expected.width, expected.height)
    assert (info.video_codec, info.audio_codec) == (
        expected.video_codec,
        expected.audio_codec,
    )
    assert info.bit_rate == expected.bit_rate
    assert info.format_name == expected.format_name
    assert info.seek_options == expected.seek_options


def test_probe_zero_byte_file_raises(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.touch()

    with pytest.raises(MediaError) as caught:
        probe(empty)

    assert caught.value.reason == "The file is empty."


def test_probe_text_named_mp4_raises(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("Shopping list: eggs, milk, a better video.\n" * 20)

    with pytest.raises(
        MediaError, match=r"^The file is not a video that can be decoded: \w"
    ):
        probe(text)


def test_probe_missing_file_raises_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        probe(tmp_path / "gone.mp4")


def test_probe_audio_only_file_raises(tmp_path: Path) -> None:
    # A WAV header with a few silent samples: media FFmpeg opens, but no video.
    samples = b"\x00\x00" * 800
    header = (
        b"RIFF"
        + (36 + len(samples)).to_bytes(4, "little")
        + b"WAVEfmt "
        + (16).to_bytes(4, "little")
        + (1).to_bytes(2, "little")  # PCM
        + (1).to_bytes(2, "little")  # mono
        + (8000).to_bytes(4, "little")
        + (16000).to_bytes(4, "little")
        + (2).to_bytes(2, "little")
        + (16).to_bytes(2, "little")
        + b"data"
        + len(samples).to_bytes(4, "little")
    )
    wav = tmp_path / "voice.mp4"
    wav.write_bytes(header + samples)

    with pytest.raises(MediaError, match=r"^The file has no video stream\.$"):
        probe(wav)


def test_probe_truncated_mp4_with_index_at_end_raises(
    clips: Path, tmp_path: Path, first_half: Callable[[Path, Path], Path]
) -> None:
    # The moov atom, which says where every frame is, never arrived.
    cut = first_half(clips / "bunny-animation.mp4", tmp_path / "cut.mp4")

    with pytest.raises(MediaError, match="moov atom not found"):
        probe(cut)


def test_probe_truncated_faststart_mp4_raises(
    bunny_faststart: Path, tmp_path: Path, first_half: Callable[[Path, Path], Path]
) -> None:
    # The index arrived and the first frames decode; only the index entries
    # pointing past the end of the file show that the rest is missing.
    cut = first_half(bunny_faststart, tmp_path / "cut.mp4")

    with pytest.raises(MediaError) as caught:
        probe(cut)

    assert caught.value.reason == (
        "The file is truncated: only 2.1 s of 5.3 s could be decoded."
    )


def test_probe_undecodable_video_raises(bunny_faststart: Path, tmp_path: Path) -> None:
    # Keep the index but blank out the media data it points to.
    data = bytearray(bunny_faststart.read_bytes())
    media_data = data.index(b"mdat") + 4
    data[media_data:] = bytes(len(data) - media_data)
    blank = tmp_path / "blank.mp4"
    blank.write_bytes(data)

    with pytest.raises(MediaError, match=r"^The video stream could not be decoded"):
        probe(blank)


def test_only_what_browsers_decode_is_remuxed(clips: Path) -> None:
    screen = probe(clips / "hello-720p-screen.mp4")  # H.264 4:2:0 with AAC
    bird = probe(clips / "cockatoo-720p-camera.mp4")  # H.264 High 4:4:4

    assert (screen.pixel_format, bird.pixel_format) == ("yuv420p", "yuv444p")
    assert can_remux(screen)
    # Even with AAC beside it, 4:4:4 plays in no browser.
    assert not can_remux(dataclasses.replace(bird, audio_codec="aac"))
