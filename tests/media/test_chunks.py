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
from reelhouse.media.targeting import (
    Frames,
    Scene,
    Target,
    encode_targeted,
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
        extract_chunk(source, chunk, piece)
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
