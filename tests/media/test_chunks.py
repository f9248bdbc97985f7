"""Planning the chunks of a long video; cutting, encoding and joining them."""

import itertools
from pathlib import Path

import av
import pytest

from reelhouse.media import Codec, Profile, probe
from reelhouse.media.chunks import (
    ChunkEncode,
    extract_chunk,
    join_chunks,
    plan_chunks,
)
from reelhouse.media.codecs import ENCODERS
from reelhouse.media.errors import MediaError
from reelhouse.media.ffmpeg import file_url, run_ffmpeg
from reelhouse.media.targeting import (
    Frames,
    Scene,
    Target,
    encode_targeted,
    join_parts,
    scan_frames,
)

FPS = 25


def frames(seconds: float, cuts: tuple[float, ...] = (), first: float = 0.0) -> Frames:
    times = [first + index / FPS for index in range(round(seconds * FPS))]
    return Frames(times, [round(cut * FPS) for cut in cuts if cut < seconds])


def boundaries(chunks: list[Scene]) -> list[float]:
    """Seconds from the first frame to each chunk after the first."""
    return [round(chunk.start, 3) for chunk in chunks[1:]]


def test_a_video_no_longer_than_a_chunk_is_one_chunk() -> None:
    scanned = frames(29.9)

    chunks = plan_chunks(scanned, chunk_seconds=20)

    assert [(chunk.first, chunk.frames) for chunk in chunks] == [
        (0, len(scanned.times))
    ]


def test_chunks_cover_every_frame_in_order_at_segment_boundaries() -> None:
    scanned = frames(100, first=1.4)  # timestamps need not start at zero

    chunks = plan_chunks(scanned, chunk_seconds=20, segment_seconds=4)

    assert boundaries(chunks) == [20.0, 40.0, 60.0, 80.0]
    assert [chunk.first for chunk in chunks] == [0, 500, 1000, 1500, 2000]
    assert sum(chunk.frames for chunk in chunks) == len(scanned.times)
    for before, after in itertools.pairwise(chunks):
        assert before.first + before.frames == after.first


def test_a_boundary_moves_to_the_segment_boundary_nearest_a_shot_change() -> None:
    # A cut at 22.5 s: the segment boundary at 24 s is within reach of it, the
    # one at 20 s is not. From there, a cut at 37 s pulls the next one to 36 s.
    scanned = frames(100, cuts=(22.5, 37.0))

    chunks = plan_chunks(scanned, chunk_seconds=20, segment_seconds=4)

    assert boundaries(chunks)[:2] == [24.0, 36.0]
    assert all(chunk.start % 4 == 0 for chunk in chunks)


def test_a_short_tail_joins_the_last_chunk() -> None:
    scanned = frames(50)

    chunks = plan_chunks(scanned, chunk_seconds=20, segment_seconds=4)

    assert [round(chunk.frames / FPS, 3) for chunk in chunks] == [20.0, 30.0]


@pytest.mark.parametrize("seconds", [31, 45, 59.96, 137])
def test_every_chunk_is_between_half_and_one_and_a_half_chunks(seconds: float) -> None:
    chunks = plan_chunks(frames(seconds, cuts=(7.3, 18.0, 41.1)), chunk_seconds=20)

    lengths = [chunk.frames / FPS for chunk in chunks]
    assert len(chunks) > 1
    assert all(10 <= length <= 30 for length in lengths), lengths


def thumbnails(path: Path) -> list[bytes]:
    """Every frame of ``path``'s video, as 32x18 grey pixels."""
    with av.open(str(path)) as container:
        return [_grey(frame) for frame in container.decode(video=0)]


def _grey(frame: av.VideoFrame) -> bytes:
    plane = frame.reformat(32, 18, "gray").planes[0]
    rows = bytes(plane)
    return b"".join(
        rows[row * plane.line_size : row * plane.line_size + 32] for row in range(18)
    )


def difference(one: bytes, other: bytes) -> float:
    return sum(abs(a - b) for a, b in zip(one, other, strict=True)) / len(one)


@pytest.mark.parametrize(
    "clip",
    [
        # An MPEG program stream has no index: a seek may land past the
        # wanted time, and its first frame is at 0.54 s.
        "city-405p-camera-mpeg2.mpg",
        # Made by an old x264 in 4:4:4, which decodes right from a later key
        # frame only when FFmpeg is told that x264's version.
        "cockatoo-720p-camera.mp4",
    ],
)
def test_each_chunk_is_cut_frame_exact_from_the_source(
    media: Path, tmp_path: Path, clip: str
) -> None:
    source = media / clip
    info = probe(source)
    chunks = plan_chunks(scan_frames(source), chunk_seconds=3)
    assert len(chunks) >= 2
    whole = thumbnails(source)

    for index, chunk in enumerate(chunks):
        piece = tmp_path / f"chunk-{index}.mkv"
        extract_chunk(source, info, chunk, piece)

        cut = thumbnails(piece)
        assert len(cut) == chunk.frames
        wanted = whole[chunk.first : chunk.first + chunk.frames]
        # Lossless: each frame is the source's, but for the scaling's rounding.
        for frame, (got, expected) in enumerate(zip(cut, wanted, strict=True)):
            assert difference(got, expected) < 1.0, (index, frame)


def test_parts_whose_stream_headers_differ_are_never_joined(
    media: Path, tmp_path: Path
) -> None:
    source = media / "tour-540p-animation.mp4"
    parts = []
    for profile in ("baseline", "high"):
        part = tmp_path / f"{profile}.mp4"
        encode = [
            "-i", file_url(source), "-frames:v", "10", "-an", "-c:v", "libx264",
            "-profile:v", profile, "-pix_fmt", "yuv420p", file_url(part),
        ]  # fmt: skip
        run_ffmpeg(encode, action="encode a part")
        parts.append(part)
    joined = tmp_path / "joined.mp4"

    with pytest.raises(MediaError, match="different stream headers"):
        join_parts(parts, source, probe(source), joined, stall=60)
    assert not joined.exists()


def test_a_join_that_scores_far_below_the_target_is_refused(
    media: Path, tmp_path: Path
) -> None:
    # Parts that are not the source's pictures stand for a join gone wrong.
    source = media / "tour-540p-animation.mp4"
    parts, encodes = [], []
    for index in range(2):
        part = tmp_path / f"part-{index}.mp4"
        encode = [
            "-f", "lavfi", "-i", "testsrc2=size=960x540:rate=24", "-frames:v", "24",
            *ENCODERS[Codec.H264].arguments(23, "veryfast"), file_url(part),
        ]  # fmt: skip
        run_ffmpeg(encode, action="encode a part")
        parts.append(part)
        encodes.append(ChunkEncode(24, [23], 1, False, 0.1))
    joined = tmp_path / "joined.mp4"

    with pytest.raises(MediaError, match="joined, scored VMAF"):
        join_chunks(
            parts,
            encodes,
            source,
            joined,
            probe(source),
            codec=Codec.H264,
            profile=Profile.FAST,
            target=Target(93, 88),
            workspace=tmp_path / "join",
        )
    assert not joined.exists()


@pytest.mark.slow
def test_chunks_encoded_apart_join_into_the_whole_video(
    media: Path, tmp_path: Path
) -> None:
    source = media / "cockatoo-720p-camera.mp4"  # 14 s, 20 fps, with audio
    info = probe(source)
    scanned = scan_frames(source)
    chunks = plan_chunks(scanned, chunk_seconds=4)
    assert len(chunks) == 3

    parts, encodes = [], []
    for index, chunk in enumerate(chunks):
        piece = tmp_path / f"chunk-{index}.mkv"
        extract_chunk(source, info, chunk, piece)
        encoded = encode_targeted(
            piece,
            tmp_path / f"chunk-{index}.mp4",
            probe(piece),
            profile=Profile.FAST,
            target=Target(93, 88),
            workspace=tmp_path / f"work-{index}",
        )
        parts.append(encoded.path)
        encodes.append(ChunkEncode.of(chunk, encoded))

    joined = join_chunks(
        parts,
        encodes,
        source,
        tmp_path / "joined.mp4",
        info,
        codec=Codec.H264,
        profile=Profile.FAST,
        target=Target(93, 88),
        workspace=tmp_path / "join",
    )

    with av.open(str(joined.path)) as container:
        stream = container.streams.video[0]
        stamps = sorted(
            float(frame.pts * stream.time_base) for frame in container.decode(stream)
        )
        assert container.streams.audio, "the source's audio is kept"
    assert len(stamps) == len(scanned.times)
    steps = {round(after - before, 4) for before, after in itertools.pairwise(stamps)}
    assert steps == {round(1 / 20, 4)}, "timestamps run on without a gap"
    assert abs(joined.duration - info.duration) <= 1 / 20
    assert len(joined.crfs) >= 3  # every chunk searched on its own
    # Each chunk met the target, so the whole does, within a point: the
    # chunks that start past the source's first key frame decoded right (an
    # old x264 4:4:4 stream), and parts at different CRFs joined right.
    assert len(set(joined.crfs)) > 1
    assert joined.score.mean >= 92 and joined.score.p5 >= 87
