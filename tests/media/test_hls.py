import dataclasses
import functools
import io
import itertools
import os
import re
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import pytest
from av.video.stream import VideoStream

from reelhouse.media import MediaError, MediaInfo, Profile, probe
from reelhouse.media.hls import (
    Ladder,
    Rung,
    default_maxrate_kbps,
    ladder_heights,
    package_hls,
)
from reelhouse.media.targeting import KeyFrameGrid, encode_targeted

pytestmark = pytest.mark.slow

MP4 = "mov,mp4,m4a,3gp,3g2,mj2"


@dataclasses.dataclass
class Packaged:
    source: Path
    info: MediaInfo
    ladder: Ladder
    progress: list[float]


@dataclasses.dataclass
class Variant:
    attributes: dict[str, str]
    uri: str


@dataclasses.dataclass
class Decoded:
    frames: int
    keyframes: list[Fraction]
    """Presentation times of the keyframes, in seconds."""
    sample_aspect_ratio: Fraction | None
    codec: str


def package(
    source: Path,
    folder: Path,
    rungs: list[Rung] | None = None,
    segment_seconds: float = 4.0,
) -> Packaged:
    info = probe(source)
    if rungs is None:
        rungs = [Rung(h, 23, default_maxrate_kbps(h)) for h in ladder_heights(info)]
    progress: list[float] = []
    ladder = package_hls(
        source,
        folder,
        info,
        rungs,
        segment_seconds=segment_seconds,
        preset="veryfast",
        on_progress=progress.append,
    )
    return Packaged(source, info, ladder, progress)


def variants(master: Path) -> list[Variant]:
    lines = master.read_text().splitlines()
    assert lines[0] == "#EXTM3U"
    found = []
    for line, uri in itertools.pairwise(lines):
        if line.startswith("#EXT-X-STREAM-INF:"):
            pairs = re.findall(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)', line.split(":", 1)[1])
            attributes = {key: value.strip('"') for key, value in pairs}
            found.append(Variant(attributes, uri))
    return found


def audio_media_tags(master: Path) -> list[str]:
    return [
        line
        for line in master.read_text().splitlines()
        if line.startswith("#EXT-X-MEDIA:TYPE=AUDIO")
    ]


def segment_files(playlist: Path) -> list[Path]:
    """The init segment, then the media segments, as the playlist names them."""
    text = playlist.read_text()
    init = re.search(r'^#EXT-X-MAP:URI="([^"]+)"$', text, re.MULTILINE)
    assert init is not None
    names = [line for line in text.splitlines() if line and not line.startswith("#")]
    return [playlist.parent / name for name in [init.group(1), *names]]


def segment_durations(playlist: Path) -> list[float]:
    return [
        float(s)
        for s in re.findall(r"^#EXTINF:([0-9.]+),", playlist.read_text(), re.MULTILINE)
    ]


def decode(playlist: Path) -> Decoded:
    # A player appends the init segment and the media segments into one
    # buffer; decoding their concatenation does the same.
    data = b"".join(path.read_bytes() for path in segment_files(playlist))
    with av.open(io.BytesIO(data), "r") as container:
        stream = container.streams[0]
        assert stream.time_base is not None
        frames = 0
        keyframes = []
        for packet in container.demux(stream):
            if packet.size and packet.is_keyframe:
                assert packet.pts is not None
                keyframes.append(packet.pts * stream.time_base)
            frames += len(packet.decode())
        aspect = stream.sample_aspect_ratio if isinstance(stream, VideoStream) else None
        return Decoded(frames, keyframes, aspect, stream.codec_context.name)


@functools.cache
def source_frames(source: Path) -> int:
    """Frames a player decodes from ``source``, which a damaged start can lower."""
    with av.open(source) as container:
        return sum(1 for _ in container.decode(container.streams.video[0]))


@pytest.fixture(scope="module")
def hello(clips: Path, tmp_path_factory: pytest.TempPathFactory) -> Packaged:
    folder = tmp_path_factory.mktemp("hello") / "ladder"
    rungs = [Rung(h, 23, default_maxrate_kbps(h)) for h in (720, 540, 360)]
    return package(clips / "hello-720p-screen.mp4", folder, rungs)


@pytest.fixture(scope="module")
def tour(clips: Path, tmp_path_factory: pytest.TempPathFactory) -> Packaged:
    return package(
        clips / "tour-540p-animation.mp4", tmp_path_factory.mktemp("tour") / "ladder"
    )


@pytest.fixture(scope="module")
def city(clips: Path, tmp_path_factory: pytest.TempPathFactory) -> Packaged:
    return package(
        clips / "city-405p-camera-mpeg2.mpg",
        tmp_path_factory.mktemp("city") / "ladder",
    )


@pytest.fixture(scope="module")
def mixed(clips: Path, tmp_path_factory: pytest.TempPathFactory) -> Packaged:
    rungs = [
        Rung(360, 23, 1000),
        Rung(240, 28, 400, codec="hevc"),
        Rung(240, 35.5, 400, codec="av1"),
    ]
    return package(
        clips / "bunny-animation.mp4",
        tmp_path_factory.mktemp("bunny") / "ladder",
        rungs,
        segment_seconds=2.0,
    )


LADDERS = ["hello", "tour", "city", "mixed"]


@pytest.fixture(params=LADDERS)
def packaged(request: pytest.FixtureRequest) -> Packaged:
    result: Packaged = request.getfixturevalue(request.param)
    return result


def test_package_hls_master_lists_every_rung(packaged: Packaged) -> None:
    ladder = packaged.ladder
    assert ladder.master == ladder.master.parent / "master.m3u8"
    found = variants(ladder.master)

    assert [v.uri for v in found] == [f"{r.name}/index.m3u8" for r in ladder.renditions]
    for variant, rendition in zip(found, ladder.renditions, strict=True):
        attributes = variant.attributes
        assert (ladder.master.parent / variant.uri).is_file()
        assert ladder.master.parent / variant.uri == rendition.playlist
        assert attributes["RESOLUTION"] == f"{rendition.width}x{rendition.height}"
        assert attributes["CODECS"].split(",")[0] == rendition.codec
        bandwidth = int(attributes["BANDWIDTH"])
        average = int(attributes["AVERAGE-BANDWIDTH"])
        assert bandwidth >= average >= rendition.bitrate > 0
        assert bandwidth >= rendition.peak_bitrate >= rendition.bitrate


def test_package_hls_playlists_name_existing_files(packaged: Packaged) -> None:
    ladder = packaged.ladder
    playlists = [r.playlist for r in ladder.renditions]
    if ladder.audio_playlist is not None:
        playlists.append(ladder.audio_playlist)
    for playlist in playlists:
        files = segment_files(playlist)
        assert all(path.is_file() for path in files)
        assert [path.name for path in files[1:]] == [
            f"seg_{number:05d}.m4s" for number in range(1, len(files))
        ]
    for rendition in ladder.renditions:
        files = segment_files(rendition.playlist)
        assert rendition.segments == len(files) - 1
        assert rendition.bytes == sum(path.stat().st_size for path in files)


def test_package_hls_leaves_only_the_ladder_folder(packaged: Packaged) -> None:
    folder = packaged.ladder.master.parent
    assert os.listdir(folder.parent) == [folder.name]
    expected = {r.name for r in packaged.ladder.renditions} | {"master.m3u8"}
    if packaged.ladder.audio_playlist is not None:
        expected.add("audio")
    assert set(os.listdir(folder)) == expected


def test_package_hls_rungs_decode_every_frame(packaged: Packaged) -> None:
    expected = source_frames(packaged.source)
    for rendition in packaged.ladder.renditions:
        decoded = decode(rendition.playlist)
        assert decoded.frames == expected, rendition.name
        assert decoded.sample_aspect_ratio in (None, Fraction(1))


def test_package_hls_keyframes_align_on_segment_grid(packaged: Packaged) -> None:
    ladder = packaged.ladder
    assert packaged.info.frame_rate is not None
    frame = 1 / packaged.info.frame_rate
    keyframes = [decode(r.playlist).keyframes for r in ladder.renditions]

    assert all(times == keyframes[0] for times in keyframes[1:])
    first = keyframes[0][0]
    offsets = [float(time - first) for time in keyframes[0]]
    # The encoder forces a keyframe on the first frame at or past each mark.
    grid = [index * ladder.segment_seconds for index in range(len(offsets))]
    assert offsets == pytest.approx(grid, abs=frame + 0.001)
    assert len(offsets) == ladder.renditions[0].segments


def test_package_hls_segments_last_the_segment_time(packaged: Packaged) -> None:
    ladder = packaged.ladder
    assert packaged.info.frame_rate is not None
    frame = 1 / packaged.info.frame_rate
    for rendition in ladder.renditions:
        durations = segment_durations(rendition.playlist)
        assert len(durations) == rendition.segments >= 2
        assert durations[:-1] == pytest.approx(
            [ladder.segment_seconds] * (len(durations) - 1), abs=frame + 0.001
        )
        assert 0 < durations[-1] <= ladder.segment_seconds + frame
        assert sum(durations) == pytest.approx(packaged.info.duration, abs=0.1)


def test_package_hls_source_with_audio_gets_one_audio_group(
    hello: Packaged,
) -> None:
    ladder = hello.ladder
    assert ladder.audio_playlist == ladder.master.parent / "audio" / "index.m3u8"
    [media] = audio_media_tags(ladder.master)
    assert 'GROUP-ID="audio"' in media
    assert 'URI="audio/index.m3u8"' in media
    for variant in variants(ladder.master):
        assert variant.attributes["AUDIO"] == "audio"
        assert variant.attributes["CODECS"].split(",")[1] == "mp4a.40.2"

    audio = decode(ladder.audio_playlist)
    assert audio.codec == "aac"
    assert sum(segment_durations(ladder.audio_playlist)) == pytest.approx(
        hello.info.duration, abs=0.1
    )


@pytest.mark.parametrize("name", ["tour", "city"])
def test_package_hls_silent_source_has_no_audio_group(
    request: pytest.FixtureRequest, name: str
) -> None:
    packaged: Packaged = request.getfixturevalue(name)
    ladder = packaged.ladder

    assert ladder.audio_playlist is None
    assert not (ladder.master.parent / "audio").exists()
    assert audio_media_tags(ladder.master) == []
    for variant in variants(ladder.master):
        assert "AUDIO" not in variant.attributes
        assert "mp4a" not in variant.attributes["CODECS"]


def test_package_hls_keeps_display_aspect_with_even_sizes(
    hello: Packaged, tour: Packaged, city: Packaged
) -> None:
    def sizes(packaged: Packaged) -> list[tuple[str, int, int]]:
        return [(r.name, r.width, r.height) for r in packaged.ladder.renditions]

    assert sizes(hello) == [
        ("720p", 1280, 720),
        ("540p", 960, 540),
        ("360p", 640, 360),
    ]
    assert sizes(tour) == [
        ("540p", 960, 540),
        ("360p", 640, 360),
        ("240p", 426, 240),
    ]
    # 720x405: the odd height becomes 404 and the widths follow 16:9.
    assert sizes(city) == [("404p", 718, 404), ("240p", 426, 240)]


def test_package_hls_mixed_codecs_are_named_and_decode(mixed: Packaged) -> None:
    # Alignment and frame counts are checked for this ladder with the others.
    ladder = mixed.ladder
    assert [r.name for r in ladder.renditions] == ["360p", "240p-hevc", "240p-av1"]
    assert [r.codec.split(".")[0] for r in ladder.renditions] == [
        "avc1",
        "hvc1",
        "av01",
    ]
    decoders = [decode(r.playlist).codec for r in ladder.renditions]
    assert decoders[:2] == ["h264", "hevc"]
    assert decoders[2] in ("av1", "libdav1d")
    # 5.3 s cut into 2 s segments.
    assert [r.segments for r in ladder.renditions] == [3, 3, 3]


def test_package_hls_progress_rises_to_the_duration(hello: Packaged) -> None:
    assert len(hello.progress) >= 2
    assert hello.progress == sorted(set(hello.progress))
    assert hello.progress[-1] == pytest.approx(hello.info.duration, abs=0.2)


def test_package_hls_replaces_an_earlier_ladder(
    tmp_path: Path, ffmpeg: Callable[..., None]
) -> None:
    source = tmp_path / "tiny.mkv"
    lavfi = "-f lavfi -i testsrc2=size=320x180:rate=25:duration=1.5"
    ffmpeg(*lavfi.split(), "-c:v", "ffv1", str(source))
    folder = tmp_path / "ladder"
    folder.mkdir()
    (folder / "stale.m3u8").write_text("#EXTM3U\n")

    packaged = package(source, folder, [Rung(180, 30), Rung(90, 30)], 0.5)

    assert sorted(os.listdir(tmp_path)) == ["ladder", "tiny.mkv"]
    assert sorted(os.listdir(folder)) == ["180p", "90p", "master.m3u8"]
    assert [r.segments for r in packaged.ladder.renditions] == [3, 3]


def test_package_hls_ffmpeg_failure_leaves_no_folder(
    clips: Path, tmp_path: Path
) -> None:
    # Probed as a video, but what FFmpeg then finds is text.
    info = probe(clips / "bunny-animation.mp4")
    source = tmp_path / "swapped.mp4"
    source.write_text("not a video any more\n")

    with pytest.raises(MediaError) as caught:
        package_hls(source, tmp_path / "ladder", info, [Rung(360, 23)])

    assert caught.value.reason.startswith("Could not package the video for streaming: ")
    assert os.listdir(tmp_path) == ["swapped.mp4"]


@pytest.mark.parametrize(
    ("rungs", "message"),
    [
        ([Rung(1080, 23)], "at most the source's 720"),
        ([Rung(361, 23)], "must be even"),
        ([Rung(360, 23), Rung(360, 28)], "share a height and codec"),
        ([Rung(360, 23, codec="vp9")], "Unknown codec 'vp9'"),
        ([Rung(360, 0, codec="av1")], "CRF 0 is outside 1-63"),
        ([], "at least one rung"),
    ],
)
def test_package_hls_bad_rungs_raise_before_ffmpeg(
    tmp_path: Path, rungs: list[Rung], message: str
) -> None:
    info = MediaInfo(5.0, 1280, 720, 25.0, "h264", "aac", None, MP4)

    with pytest.raises(ValueError, match=re.escape(message)):
        package_hls(tmp_path / "absent.mp4", tmp_path / "ladder", info, rungs)

    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("size", "heights"),
    [
        ((3840, 2160), [1080, 720, 540, 360, 240]),
        ((1920, 1080), [1080, 720, 540, 360, 240]),
        ((1280, 720), [720, 540, 360, 240]),
        ((960, 540), [540, 360, 240]),
        ((720, 405), [404, 240]),
        ((426, 240), [240, 160]),
        ((160, 90), [90, 60]),
        ((1080, 1920), [1920, 1280, 960, 640, 426]),
    ],
)
def test_ladder_heights_follow_source_size(
    size: tuple[int, int], heights: list[int]
) -> None:
    width, height = size
    info = MediaInfo(10.0, width, height, 25.0, "h264", None, None, MP4)

    assert ladder_heights(info) == heights


def test_default_maxrate_kbps_grows_with_height() -> None:
    rates = [default_maxrate_kbps(h) for h in (240, 360, 540, 720, 1080)]

    assert rates == [600, 1050, 1950, 3000, 5500]


def test_package_hls_scene_cut_adds_no_keyframe(
    tmp_path: Path, ffmpeg: Callable[..., None]
) -> None:
    # A hard cut 1.3 s in, between segment marks: an encoder left to detect
    # scene cuts puts a keyframe there.
    source = tmp_path / "cut.mkv"
    graph = (
        "testsrc2=size=320x180:rate=25:duration=1.3[a];"
        "mandelbrot=size=320x180:rate=25,trim=duration=1.5[b];"
        "[a][b]concat=n=2"
    )
    ffmpeg("-filter_complex", graph, "-c:v", "ffv1", str(source))
    rungs = [Rung(180, 30), Rung(180, 30, codec="hevc"), Rung(180, 40, codec="av1")]

    packaged = package(source, tmp_path / "ladder", rungs, segment_seconds=1.0)

    for rendition in packaged.ladder.renditions:
        times = decode(rendition.playlist).keyframes
        offsets = [float(time - times[0]) for time in times]
        assert offsets == pytest.approx([0.0, 1.0, 2.0]), rendition.name


@pytest.fixture(scope="module")
def reused(clips: Path, tmp_path_factory: pytest.TempPathFactory) -> Packaged:
    """A ladder whose top rung is a quality-targeted download, copied.

    The cockatoo clip has a shot change between the grid's marks: the download
    has a key frame there too, which the segments must not follow.
    """
    source = clips / "cockatoo-720p-camera.mp4"
    work = tmp_path_factory.mktemp("reused")
    download = encode_targeted(
        source,
        work / "download.mp4",
        probe(source),
        profile=Profile.FAST,
        key_frames=KeyFrameGrid(4.0),
        workspace=work / "encode",
    )
    rungs = [Rung(720, 23, None, encoded=download.path), Rung(360, 26, 1000)]
    return package(source, work / "ladder", rungs)


def _video_packets(data: bytes) -> list[bytes]:
    with av.open(io.BytesIO(data), "r") as container:
        stream = container.streams.video[0]
        return [bytes(packet) for packet in container.demux(stream) if packet.size]


def test_package_hls_copies_an_encode_on_the_grid_as_a_rung(reused: Packaged) -> None:
    top, lower = reused.ladder.renditions
    download = reused.ladder.master.parent.parent / "download.mp4"

    # Not encoded twice: the rung's pictures are the download's, byte for byte.
    rung_data = b"".join(path.read_bytes() for path in segment_files(top.playlist))
    assert _video_packets(rung_data) == _video_packets(download.read_bytes())
    # Segments start on the grid in both rungs, whatever other key frames the
    # download has (its scenes each start with one).
    assert segment_durations(top.playlist) == pytest.approx(
        segment_durations(lower.playlist), abs=0.051
    )
    assert top.segments == lower.segments == 4
    assert decode(top.playlist).frames == decode(lower.playlist).frames
    assert len(decode(top.playlist).keyframes) > top.segments
