"""Quality-targeted encoding: the fewest bytes that reach a VMAF target.

The video is cut into scenes (frame-exact, at the cuts FFmpeg's scene
detector finds), and each scene gets its own search: probe encodes at a few
CRFs, each scored with VMAF, the next CRF interpolated from the two that
bracket the target. A screencast scene ends at a high CRF, a busy camera scene
at a low one; one CRF for the whole file would overspend on the first or
starve the second. The scenes are encoded at their CRFs and joined without
re-encoding; the audio is encoded once, whole. The joined result is scored
once more, frame by frame, and if it missed the target the scenes that missed
by their own frames are encoded again, each as much better as it fell short
(once).
"""

import itertools
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from reelhouse.media.codecs import ENCODERS, Codec, Encoder, Profile
from reelhouse.media.errors import MediaError
from reelhouse.media.ffmpeg import EVEN_CROP, file_url, filter_value, run_ffmpeg
from reelhouse.media.probe import MediaInfo, ensure_complete, probe
from reelhouse.media.vmaf import Clip, FrameScores, Score, measure_frames

log = logging.getLogger(__name__)

# FFmpeg's scene detector scores each frame's change from 0 to 100.
SCENE_THRESHOLD = 10.0
# Scenes shorter than this join the one before: every scene costs probes and a
# key frame. Longer ones are split, so that a search never spans too much.
MIN_SCENE_SECONDS = 2.0
MAX_SCENE_SECONDS = 10.0
# Within this much VMAF above the target, a search stops: the next probe would
# save little.
TOLERANCE = 0.75
# Scene files are decoded twice by every probe (encode and score): UT Video
# decodes about five times faster than FFV1, for files about 2.5 times larger
# (some 2 GB a minute of 1080p at 30 fps). Each of its frames is a key frame,
# so the segment muxer can cut at any frame.
LOSSLESS = ["-c:v", "utvideo"]
# The largest CRF step a search takes from one probe to the next.
MAX_STEP = 8
# Below this much VMAF per CRF step, more bytes buy nothing visible; scores
# within PLATEAU_MARGIN of the best are as good as the best.
PLATEAU_SLOPE = 0.1
PLATEAU_MARGIN = 0.3


@dataclass(frozen=True)
class Target:
    mean: float = 95.0
    """The VMAF the whole video must reach on average."""
    p5: float = 90.0
    """The VMAF that 95 % of frames must reach."""

    def margin(self, score: Score) -> float:
        """How far ``score`` is above the target on its tighter side."""
        return min(score.mean - self.mean, score.p5 - self.p5)


@dataclass(frozen=True)
class KeyFrameGrid:
    """Key frames at every multiple of ``every`` seconds of the video, as the
    HLS ladder has them: an encode on the grid can serve as a rung as it is."""

    every: float
    offset: float = 0.0
    """Seconds of the video before the encoded file's first frame (where a
    chunk starts)."""

    def times(self, scene: "Scene") -> list[float]:
        """The grid's times inside ``scene``, in seconds from its first frame.

        Each is a millisecond early, so that the key frame lands on the first
        frame at or after the mark, as in the ladder, whatever the rounding.
        """
        start = self.offset + scene.start
        end = start + scene.frames * scene.frame_duration
        mark = (math.floor(start / self.every + 1e-6) + 1) * self.every
        times = []
        while mark < end - 1e-6:
            times.append(round(mark - start - 0.001, 6))
            mark += self.every
        return times


@dataclass(frozen=True)
class Scene:
    first: int
    """Index of the scene's first frame in the video."""
    frames: int
    start: float
    """Seconds from the start of the video to the first frame."""
    frame_duration: float

    def clip(self, path: Path) -> Clip:
        """This scene of the video in ``path``."""
        # Half a frame early, so that rounding never skips the first frame.
        return Clip(path, max(0.0, self.start - self.frame_duration / 2), self.frames)

    def middle(self, seconds: float | None) -> "Scene":
        """The scene's middle ``seconds`` (all of it for None or a short scene)."""
        if seconds is None:
            return self
        frames = max(1, round(seconds / self.frame_duration))
        if frames >= self.frames:
            return self
        skip = (self.frames - frames) // 2
        return Scene(
            self.first + skip,
            frames,
            self.start + skip * self.frame_duration,
            self.frame_duration,
        )


@dataclass(frozen=True)
class Probe:
    crf: int
    score: Score
    size: int
    """Bytes of the probe encode."""


@dataclass
class SceneResult:
    scene: Scene
    crf: int
    probes: list[Probe] = field(default_factory=list)


@dataclass(frozen=True)
class TargetedEncode:
    path: Path
    size: int
    duration: float
    width: int
    height: int
    codec: Codec
    profile: Profile
    score: Score
    """VMAF of the whole result against the source."""
    crfs: list[int]
    """The CRF chosen for each scene, in order."""
    probes: int
    """Probe encodes the searches made."""
    corrected: bool
    """Whether the first result missed the target and was encoded again."""
    encode_seconds: float


def search(
    probe: Callable[[int], Probe],
    target: Target,
    encoder: Encoder,
    limit: int,
    first: int | None = None,
) -> tuple[int, list[Probe]]:
    """The highest CRF (fewest bytes) whose probe meets ``target``.

    ``probe`` encodes and scores at a CRF. At most ``limit`` probes; with one,
    the CRF is predicted from the first probe's distance to the target. When
    no probe meets the target, the answer is the highest CRF whose score is as
    good as any: content whose score has stopped rising with bytes (a still
    screen, an already blocky upload) gets no bytes that buy nothing.
    """
    low, high = encoder.crf_range
    crf = first if first is not None else encoder.first_crf
    probes: dict[int, Probe] = {}
    while True:
        probes[crf] = probe(crf)
        if limit == 1:
            step = target.margin(probes[crf].score) / encoder.points_per_crf
            return _clamp(crf + math.floor(step), low, high), list(probes.values())
        tried = sorted(probes.values(), key=lambda p: p.crf)
        passing = [p for p in tried if target.margin(p.score) >= 0]
        failing = [p for p in tried if target.margin(p.score) < 0]
        best = passing[-1] if passing else None
        worst = failing[0] if failing else None
        if best is not None and target.margin(best.score) <= TOLERANCE:
            return best.crf, tried
        following = _next_crf(best, worst, tried, target, encoder)
        if following is None or following in probes or len(probes) >= limit:
            if best is not None:
                return best.crf, tried
            return _plateau(tried, target), tried
        crf = following


def _next_crf(
    best: Probe | None,
    worst: Probe | None,
    tried: list[Probe],
    target: Target,
    encoder: Encoder,
) -> int | None:
    low, high = encoder.crf_range
    if best is not None and worst is not None:
        if worst.crf - best.crf <= 1:
            return None
        above, below = target.margin(best.score), target.margin(worst.score)
        # Linear between the bracketing probes, kept strictly inside them.
        guess = best.crf + (worst.crf - best.crf) * above / (above - below)
        return _clamp(round(guess), best.crf + 1, worst.crf - 1)
    # One side only: step by how far the target is, at the slope seen so far.
    slope = encoder.points_per_crf
    if len(tried) >= 2:
        rise = target.margin(tried[0].score) - target.margin(tried[-1].score)
        slope = rise / (tried[-1].crf - tried[0].crf)
        if best is None and slope < PLATEAU_SLOPE:
            return None  # more bytes no longer buy quality
        slope = max(slope, PLATEAU_SLOPE)
    if best is not None:
        step = round(target.margin(best.score) / slope)
        return (
            None if best.crf >= high else _clamp(best.crf + _bounded(step), low, high)
        )
    assert worst is not None
    step = math.ceil(-target.margin(worst.score) / slope)
    return None if worst.crf <= low else _clamp(worst.crf - _bounded(step), low, high)


def _bounded(step: int) -> int:
    return max(1, min(MAX_STEP, step))


def _plateau(tried: list[Probe], target: Target) -> int:
    """The highest CRF scoring within a little of the best score tried."""
    top = max(target.margin(p.score) for p in tried)
    near = [p.crf for p in tried if target.margin(p.score) >= top - PLATEAU_MARGIN]
    return max(near)


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def find_scenes(
    source: Path,
    *,
    threshold: float = SCENE_THRESHOLD,
    min_seconds: float = MIN_SCENE_SECONDS,
    max_seconds: float = MAX_SCENE_SECONDS,
    stall_timeout: float = 120.0,
) -> list[Scene]:
    """Cut the video into scenes, frame-exact, from one pass over a small copy."""
    frames = scan_frames(source, threshold=threshold, stall_timeout=stall_timeout)
    return _scenes(frames.times, frames.cuts, min_seconds, max_seconds)


@dataclass(frozen=True)
class Frames:
    """Every frame's timestamp, and where the picture changes."""

    times: list[float]
    """Seconds, as the source stamps them (the first need not be zero)."""
    cuts: list[int]
    """Indexes of the frames that start a new shot."""

    @property
    def frame_duration(self) -> float:
        span = self.times[-1] - self.times[0]
        return span / max(1, len(self.times) - 1) or 1 / 25


def scan_frames(
    source: Path, *, threshold: float = SCENE_THRESHOLD, stall_timeout: float = 120.0
) -> Frames:
    """Time every frame and find the shot changes, decoding the video once."""
    # A scratch file of our own: the source's folder may be read-only, and
    # two runs on one source must not share it.
    handle, name = tempfile.mkstemp(prefix="reelhouse-scenes-", suffix=".txt")
    os.close(handle)
    scene_log = Path(name)
    graph = (
        f"scale=320:-2,scdet=threshold={threshold},"
        f"metadata=mode=print:file={filter_value(scene_log)}"
    )
    arguments = [
        "-i", file_url(source), "-map", "0:V:0", "-vf", graph, "-f", "null", "-",
    ]  # fmt: skip
    try:
        run_ffmpeg(arguments, action="find scenes", stall_timeout=stall_timeout)
        lines = scene_log.read_text().splitlines()
    finally:
        scene_log.unlink(missing_ok=True)
    times: list[float] = []
    cuts: list[int] = []
    for line in lines:
        if line.startswith("frame:"):
            fields = dict(part.split(":", 1) for part in line.split())
            times.append(float(fields["pts_time"]))
        elif line.startswith("lavfi.scd.time") and times:
            cuts.append(len(times) - 1)
    if not times:
        raise MediaError("Could not find scenes: the video has no frames.")
    return Frames(times, cuts)


def _scenes(
    times: list[float], cuts: list[int], min_seconds: float, max_seconds: float
) -> list[Scene]:
    frame_duration = Frames(times, cuts).frame_duration
    starts = [0]
    for cut in cuts:
        if cut > 0 and times[cut] - times[starts[-1]] >= min_seconds:
            starts.append(cut)
    # A short last scene joins the one before it.
    end_time = times[-1] + frame_duration
    if len(starts) > 1 and end_time - times[starts[-1]] < min_seconds:
        starts.pop()
    bounds = [*starts, len(times)]
    scenes: list[Scene] = []
    for first, end in itertools.pairwise(bounds):
        span = (times[end - 1] + frame_duration) - times[first]
        pieces = max(1, math.ceil(span / max_seconds - 1e-9))
        size = math.ceil((end - first) / pieces)
        for piece_first in range(first, end, size):
            frames = min(size, end - piece_first)
            scenes.append(
                Scene(
                    piece_first, frames, times[piece_first] - times[0], frame_duration
                )
            )
    return scenes


def split_scenes(
    source: Path, scenes: list[Scene], workspace: Path, stall_timeout: float
) -> list[Path]:
    """Decode the video once into one lossless file per scene.

    Every probe and every kept encode of a scene reads its file, never a seek
    into the source: a seek lands only on the source's key frames, and in a
    damaged stream (common in uploads) the frames decoded after a seek differ
    from those decoded from the start, which is what viewers and the final
    score see.
    """
    pattern = workspace / "scene-%05d.mkv"
    splits = ",".join(str(scene.first) for scene in scenes[1:])
    arguments = [
        "-i", file_url(source), "-map", "0:V:0", "-an",
        # Every encode drops an odd last row or column anyway (4:2:0 needs
        # even sizes, UT Video's too); the scene files lose it up front.
        "-vf", EVEN_CROP, *LOSSLESS,
        "-f", "segment", "-reset_timestamps", "1",
        # Without split points the muxer would cut every 2 s by default.
        *(["-segment_frames", splits] if splits else ["-segment_time", "100000000"]),
        file_url(pattern),
    ]  # fmt: skip
    run_ffmpeg(arguments, action="split the video", stall_timeout=stall_timeout)
    pieces = [workspace / f"scene-{index:05d}.mkv" for index in range(len(scenes))]
    missing = [piece.name for piece in pieces if not piece.exists()]
    extra = workspace / f"scene-{len(scenes):05d}.mkv"
    if missing or extra.exists():
        raise MediaError("Could not split the video: the scenes came out wrong.")
    return pieces


class _Workbench:
    """Encodes and scores the scenes of one video inside a workspace folder."""

    def __init__(
        self,
        info: MediaInfo,
        encoder: Encoder,
        workspace: Path,
        stall_timeout: float,
        heartbeat: Callable[[float], None],
    ) -> None:
        self.heartbeat = heartbeat
        """Called on every progress report of every FFmpeg run."""
        self.encoder = encoder
        self.workspace = workspace
        self.stall_timeout = stall_timeout
        self.aspect = info.display_aspect
        self.kept: dict[tuple[Path, int], Path] = {}
        self.key_times: dict[Path, list[float]] = {}
        """Scene file -> where its encodes must have key frames (seconds)."""

    def encode(
        self, clip: Clip, crf: int, preset: str, target: Path, *, whole: bool = True
    ) -> int:
        """Encode ``clip``; ``whole`` when it is all of a scene file, whose
        encode then carries the scene's key frames."""
        keys = self.key_times.get(clip.path, []) if whole else []
        forced = ["-force_key_frames", ",".join(f"{t:g}" for t in keys)]
        arguments = [
            *clip.input_arguments(),
            "-map", "0:V:0",
            *(["-frames:v", str(clip.frames)] if clip.frames else []),
            "-vf", EVEN_CROP,
            *self.encoder.arguments(crf, preset),
            *(forced if keys else []),
            "-an", "-f", "mp4", file_url(target),
        ]  # fmt: skip
        run_ffmpeg(
            arguments,
            action="encode the video",
            on_progress=self.heartbeat,
            stall_timeout=self.stall_timeout,
        )
        return target.stat().st_size

    def score(self, encoded: Clip, reference: Clip, subsample: int) -> Score:
        return self.score_frames(encoded, reference, subsample).score()

    def score_frames(
        self, encoded: Clip, reference: Clip, subsample: int
    ) -> FrameScores:
        return measure_frames(
            encoded,
            reference,
            display_aspect=self.aspect,
            workspace=self.workspace,
            subsample=subsample,
            on_progress=self.heartbeat,
            stall_timeout=self.stall_timeout,
        )

    def prober(
        self,
        piece: Path,
        scene: Scene,
        preset: str,
        seconds: float | None,
        subsample: int,
    ) -> Callable[[int], Probe]:
        """Probe encodes of the scene's middle; those of the whole scene are
        kept in ``self.kept`` for reuse as the final encode."""
        whole = Scene(0, scene.frames, 0.0, scene.frame_duration)
        sample = whole.middle(seconds)

        def probe_at(crf: int) -> Probe:
            path = self.workspace / f"probe-{piece.stem}-{crf}.mp4"
            reference = Clip(piece) if sample is whole else sample.clip(piece)
            size = self.encode(reference, crf, preset, path, whole=sample is whole)
            try:
                score = self.score(Clip(path), reference, subsample)
            except BaseException:
                path.unlink(missing_ok=True)
                raise
            if sample is whole:
                self.kept[(piece, crf)] = path
            else:
                path.unlink()
            return Probe(crf, score, size)

        return probe_at


def encode_targeted(
    source: Path,
    target_path: Path,
    info: MediaInfo,
    *,
    codec: Codec = Codec.H264,
    profile: Profile = Profile.BALANCED,
    target: Target | None = None,
    key_frames: KeyFrameGrid | None = None,
    workspace: Path,
    on_progress: Callable[[float], None] | None = None,
    stall_timeout: float = 120.0,
) -> TargetedEncode:
    """Encode ``source`` to an MP4 at ``target_path`` that just reaches ``target``.

    ``key_frames`` puts a key frame on every mark of that grid (besides the
    first frame of each scene). ``on_progress`` gets a rising fraction of the
    work. ``target_path`` appears only when everything succeeded; otherwise
    MediaError.
    """
    wanted = target or Target()
    encoder = ENCODERS[codec]
    effort = encoder.efforts[profile]
    started = time.monotonic()
    workspace.mkdir(parents=True, exist_ok=True)
    report = on_progress or (lambda _fraction: None)
    # Long searches report often: a job that stops reporting is presumed dead.
    reached = [0.0]

    def progress(fraction: float) -> None:
        reached[0] = max(reached[0], fraction)
        report(reached[0])

    bench = _Workbench(
        info, encoder, workspace, stall_timeout, lambda _s: progress(reached[0])
    )

    scenes = find_scenes(source, stall_timeout=stall_timeout)
    pieces = split_scenes(source, scenes, workspace, stall_timeout)
    if key_frames is not None:
        for scene, piece in zip(scenes, pieces, strict=True):
            bench.key_times[piece] = key_frames.times(scene)
    total_frames = sum(scene.frames for scene in scenes)
    results: list[SceneResult] = []
    done = 0
    for scene, piece in zip(scenes, pieces, strict=True):
        crf, probes = search(
            bench.prober(
                piece,
                scene,
                effort.preset,
                effort.probe_seconds,
                effort.probe_subsample,
            ),
            wanted,
            encoder,
            effort.probes,
        )
        results.append(SceneResult(scene, crf, probes))
        done += scene.frames
        progress(0.6 * done / total_frames)

    lowest = encoder.crf_range[0]
    parts: dict[int, Path] = {}
    """Scene index -> its encode at the scene's current CRF."""

    def encode_parts(indexes: Iterable[int]) -> None:
        for index in indexes:
            piece, crf = pieces[index], results[index].crf
            part = bench.kept.pop((piece, crf), None)
            if part is None:
                part = piece.with_suffix(f".{crf}.mp4")
                bench.encode(Clip(piece), crf, effort.preset, part)
            replaced = parts.get(index)
            if replaced is not None and replaced != part:
                replaced.unlink()
            parts[index] = part

    def join_and_score(name: str) -> tuple[Path, FrameScores]:
        joined = workspace / f"joined-{name}.mp4"
        join_parts(
            [parts[i] for i in range(len(pieces))], source, info, joined, stall_timeout
        )
        whole = Clip(source, frames=total_frames)
        return joined, bench.score_frames(Clip(joined), whole, effort.verify_subsample)

    encode_parts(range(len(pieces)))
    joined, verified = join_and_score("first")
    score = verified.score()
    progress(0.85)
    corrected = False
    if wanted.margin(score) < 0:
        # One correction, of the scenes that missed, each by as much as it
        # missed; the others keep their encodes.
        steps = _correction_steps(scenes, results, verified, score, wanted, encoder)
        log.info(
            "target_missed vmaf=%.2f p5=%.2f steps=%s", score.mean, score.p5, steps
        )
        if any(steps):
            for result, step in zip(results, steps, strict=True):
                result.crf = max(lowest, result.crf - step)
            encode_parts(index for index, step in enumerate(steps) if step)
            joined.unlink()
            joined, verified = join_and_score("corrected")
            score = verified.score()
            corrected = True
    for part in parts.values():
        part.unlink()

    output = probe(joined)
    ensure_complete(output.duration, info.duration)
    shutil.move(joined, target_path)
    progress(1.0)
    return TargetedEncode(
        path=target_path,
        size=target_path.stat().st_size,
        duration=output.duration,
        width=output.width,
        height=output.height,
        codec=codec,
        profile=profile,
        score=score,
        crfs=[result.crf for result in results],
        probes=sum(len(result.probes) for result in results),
        corrected=corrected,
        encode_seconds=time.monotonic() - started,
    )


def _correction_steps(
    scenes: list[Scene],
    results: list[SceneResult],
    verified: FrameScores,
    whole: Score,
    target: Target,
    encoder: Encoder,
) -> list[int]:
    """How many CRF steps each scene should go down for the whole to reach
    ``target``: the scenes that missed by their own frames in the whole
    video's score, by how far each missed; none for a scene already at the
    encoder's lowest CRF.

    When no scene missed on its own (the whole's 5th percentile can fall
    below every scene's), every scene takes the whole's shortfall.
    """
    lowest = encoder.crf_range[0]

    def step(shortfall: float) -> int:
        return max(1, math.ceil(shortfall / encoder.points_per_crf))

    own = [verified.within(scene.first, scene.frames) for scene in scenes]
    shortfalls = [-target.margin(score) if score else 0.0 for score in own]
    if not any(shortfall > 0 for shortfall in shortfalls):
        shortfalls = [-target.margin(whole)] * len(scenes)
    return [
        step(shortfall) if shortfall > 0 and result.crf > lowest else 0
        for shortfall, result in zip(shortfalls, results, strict=True)
    ]


def join_parts(
    parts: list[Path], source: Path, info: MediaInfo, target: Path, stall: float
) -> None:
    """Concatenate the scene encodes without re-encoding; add the audio, once.

    The joined MP4 keeps the first part's stream headers for every part, so
    parts whose headers differ would decode wrongly after the first: that is
    refused, never joined.
    """
    _ensure_same_headers(parts)
    listing = target.with_suffix(".txt")
    listing.write_text("".join(f"file '{_concat_path(part)}'\n" for part in parts))
    arguments = ["-f", "concat", "-safe", "0", "-i", file_url(listing)]
    if info.audio_codec is not None:
        arguments += ["-i", file_url(source), "-map", "0:v:0", "-map", "1:a:0"]
        arguments += ["-c:a", "aac", "-b:a", "128k"]
    else:
        arguments += ["-map", "0:v:0"]
    arguments += ["-c:v", "copy", "-movflags", "+faststart", "-f", "mp4"]
    try:
        run_ffmpeg(
            [*arguments, file_url(target)],
            action="join the scenes",
            stall_timeout=stall,
        )
    finally:
        listing.unlink(missing_ok=True)


def _ensure_same_headers(parts: list[Path]) -> None:
    import av

    headers = set()
    for part in parts:
        with av.open(str(part)) as container:
            headers.add(container.streams.video[0].codec_context.extradata)
    if len(headers) > 1:
        raise MediaError(
            "The encoded parts of the video have different stream headers "
            "and cannot be joined."
        )


def _concat_path(path: Path) -> str:
    # The concat list quotes with single quotes; a quote inside is '\''.
    return str(path.absolute()).replace("'", "'\\''")
