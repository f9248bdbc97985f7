"""Long videos in chunks: encoded apart, by as many workers as there are, then
joined into one stream without re-encoding.

A chunk ends where an HLS segment ends (a multiple of the segment length, where
every rung has a key frame), at the segment boundary nearest a shot change
when one is close: a cut there costs the download nothing it would not spend
anyway, and each chunk's quality search sees whole shots. Each chunk is a
frame-exact span of the source, like a scene, and carries its own per-scene
search; the audio is left out of the chunks and encoded once, whole, by the
join.
"""

import itertools
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import av

from reelhouse.media.codecs import ENCODERS, Codec, Profile
from reelhouse.media.errors import MediaError
from reelhouse.media.ffmpeg import file_url, run_ffmpeg
from reelhouse.media.hls import SEGMENT_SECONDS
from reelhouse.media.probe import MediaInfo, ensure_complete, probe
from reelhouse.media.targeting import (
    Frames,
    Scene,
    Target,
    TargetedEncode,
    join_parts,
)
from reelhouse.media.vmaf import Clip, Score, measure

# A boundary this close to a shot change counts as being at it.
NEAR_CUT = SEGMENT_SECONDS / 2

# How many VMAF points below the target a joined video may score (twice that
# for its 5th percentile) before the join counts as broken.
JOIN_SLACK = 2.5


def plan_chunks(
    frames: Frames, chunk_seconds: float, segment_seconds: float = SEGMENT_SECONDS
) -> list[Scene]:
    """Spans of about ``chunk_seconds`` covering every frame, in order.

    Each chunk is between half and one and a half times ``chunk_seconds``
    long, except a video shorter than that, which is one chunk.
    """
    times = [time - frames.times[0] for time in frames.times]
    frame_duration = frames.frame_duration
    end = times[-1] + frame_duration
    # The first frame of each segment after the first: where the ladder's
    # key frames fall (FFmpeg forces one at the first frame at or after each
    # multiple of the segment length).
    grid: list[int] = []
    for index, moment in enumerate(times):
        if moment >= (len(grid) + 1) * segment_seconds - 1e-6:
            grid.append(index)
    cut_times = [times[cut] for cut in frames.cuts]

    def near_cut(frame: int) -> bool:
        return any(abs(times[frame] - cut) <= NEAR_CUT for cut in cut_times)

    starts = [0]
    while end - times[starts[-1]] > 1.5 * chunk_seconds:
        begun = times[starts[-1]]
        wanted = begun + chunk_seconds
        candidates = [
            frame
            for frame in grid
            if begun + chunk_seconds / 2 <= times[frame] <= wanted + chunk_seconds / 2
            and end - times[frame] >= chunk_seconds / 2
        ]
        if not candidates:
            break
        starts.append(
            min(
                candidates,
                key=lambda frame: (not near_cut(frame), abs(times[frame] - wanted)),
            )
        )
    bounds = [*starts, len(times)]
    return [
        Scene(first, following - first, times[first], frame_duration)
        for first, following in itertools.pairwise(bounds)
    ]


def extract_chunk(
    source: Path,
    info: MediaInfo,
    chunk: Scene,
    target: Path,
    *,
    stall_timeout: float = 120.0,
) -> None:
    """Decode ``chunk`` of ``source`` (described by ``info``) into a lossless
    file of its own (no audio), frame-exact.

    The chunk's encode reads this file, never the source, so that probes and
    final encode see the same frames; its timestamps start at zero.

    A seek lands at a key frame before the wanted time only where the file
    has an index; in a stream without one (MPEG program streams) it may land
    past it. So decoding starts a little early, the chunk is cut out by its
    timestamps, and a chunk that comes out short is cut again from further
    back, at last from the start.
    """
    for lead in SEEK_LEADS:
        if _cut(source, info, chunk, target, lead, stall_timeout) >= chunk.frames:
            return
    raise MediaError(
        f"Could not cut the chunk at {chunk.start:.2f} s: the video has fewer "
        "frames there than it had when it was scanned."
    )


# How far before a chunk decoding starts, in turn; None: at the very start.
SEEK_LEADS: tuple[float | None, ...] = (2.0, 30.0, None)


def _cut(
    source: Path,
    info: MediaInfo,
    chunk: Scene,
    target: Path,
    lead: float | None,
    stall_timeout: float,
) -> int:
    """Cut ``chunk`` into ``target``, seeking ``lead`` seconds before it;
    return the frames the cut holds."""
    # Half a frame early, so that rounding never skips the first frame.
    wanted = max(0.0, chunk.start - chunk.frame_duration / 2)
    seek = 0.0 if lead is None else max(0.0, wanted - lead)
    # After a seek, timestamps count from the seek point.
    seeking = info.seek(seek) if seek else []
    arguments = [
        *seeking, "-i", file_url(source),
        "-map", "0:V:0", "-an",
        "-vf", f"trim=start={wanted - seek:.6f},setpts=PTS-STARTPTS",
        "-frames:v", str(chunk.frames),
        "-c:v", "ffv1", "-level", "3", "-threads", "2",
        "-f", "matroska", file_url(target),
    ]  # fmt: skip
    run_ffmpeg(arguments, action="cut the chunk", stall_timeout=stall_timeout)
    with av.open(str(target)) as container:
        return sum(1 for packet in container.demux(video=0) if packet.size)


@dataclass(frozen=True)
class ChunkEncode:
    """One chunk's encode, as the join needs it (kept as JSON between jobs)."""

    frames: int
    crfs: list[int]
    probes: int
    corrected: bool
    encode_seconds: float

    @classmethod
    def of(cls, chunk: Scene, encoded: TargetedEncode) -> "ChunkEncode":
        return cls(
            chunk.frames,
            encoded.crfs,
            encoded.probes,
            encoded.corrected,
            encoded.encode_seconds,
        )


def join_chunks(
    parts: list[Path],
    encodes: list[ChunkEncode],
    source: Path,
    target_path: Path,
    info: MediaInfo,
    *,
    codec: Codec,
    profile: Profile,
    target: Target,
    workspace: Path,
    stall_timeout: float = 120.0,
) -> TargetedEncode:
    """Join the chunks' encodes (in order) with the source's audio, and score
    the whole against the source.

    Each chunk met ``target`` on its own, correction included, so the whole
    meets it too, but for the odd frame at a boundary; the whole's score is
    the one reported. A whole that falls clearly short means the join went
    wrong, and raises MediaError rather than passing a damaged video on.
    """
    started = time.monotonic()
    effort = ENCODERS[codec].efforts[profile]
    workspace.mkdir(parents=True, exist_ok=True)
    joined = workspace / "joined.mp4"
    join_parts(parts, source, info, joined, stall_timeout)
    frames = sum(encode.frames for encode in encodes)
    score: Score = measure(
        Clip(joined),
        Clip(source, frames=frames),
        display_aspect=info.display_aspect,
        workspace=workspace,
        subsample=effort.verify_subsample,
        stall_timeout=stall_timeout,
    )
    if score.mean < target.mean - JOIN_SLACK or score.p5 < target.p5 - 2 * JOIN_SLACK:
        raise MediaError(
            f"The encoded chunks, joined, scored VMAF {score.mean:.1f} "
            f"(5th percentile {score.p5:.1f}) against a target of {target.mean:g}."
        )
    output = probe(joined)
    ensure_complete(output.duration, info.duration)
    shutil.move(joined, target_path)
    return TargetedEncode(
        path=target_path,
        size=target_path.stat().st_size,
        duration=output.duration,
        width=output.width,
        height=output.height,
        codec=codec,
        profile=profile,
        score=score,
        crfs=[crf for encode in encodes for crf in encode.crfs],
        probes=sum(encode.probes for encode in encodes),
        corrected=any(encode.corrected for encode in encodes),
        encode_seconds=sum(encode.encode_seconds for encode in encodes)
        + time.monotonic()
        - started,
    )
