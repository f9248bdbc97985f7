"""Quality-targeted encoding: the CRF search and the scene cutting on their own,
then whole encodes of short real clips (a screencast, a hard cut from a 2D
animation to a screencast, a camera clip with damaged slices)."""

import dataclasses
import functools
import hashlib
import itertools
import math
import os
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import pytest

from reelhouse.media import Codec, MediaInfo, Profile, probe, targeting
from reelhouse.media.codecs import ENCODERS
from reelhouse.media.targeting import (
    MAX_SCENE_SECONDS,
    MIN_SCENE_SECONDS,
    PLATEAU_MARGIN,
    TOLERANCE,
    Probe,
    Scene,
    SceneResult,
    Target,
    TargetedEncode,
    _scenes,
    encode_targeted,
    find_scenes,
    search,
    split_scenes,
)
from reelhouse.media.vmaf import Clip, FrameScores, Score, measure, percentile

H264 = ENCODERS[Codec.H264]
AV1 = ENCODERS[Codec.AV1]

# The hard cut: at CUT_RATE fps, CUT_FRAME frames of a 2D animation, then as
# many of a screencast.
CUT_RATE = 24
CUT_FRAME = 60
# Scenes this long cut the 4.1 s camera clip in four; the last starts at 3.15 s.
DAMAGED_SCENE_SECONDS = 1.2


# The search, with synthetic encoders: no FFmpeg.


@dataclasses.dataclass
class Curve:
    """A synthetic encoder whose VMAF falls with CRF as ``mean`` says."""

    mean: Callable[[int], float]
    p5_below_mean: float = 3.0
    probed: list[int] = dataclasses.field(default_factory=list)

    def score(self, crf: int) -> Score:
        mean = self.mean(crf)
        return Score(mean=mean, p5=mean - self.p5_below_mean, frames=100)

    def probe(self, crf: int) -> Probe:
        self.probed.append(crf)
        return Probe(crf, self.score(crf), size=round(10_000_000 * 0.9**crf))

    def highest_passing(self, target: Target, codec: Codec) -> int:
        low, high = ENCODERS[codec].crf_range
        crfs = range(low, high + 1)
        return max(crf for crf in crfs if target.margin(self.score(crf)) >= 0)


def _steep_then_flat(crf: int) -> float:
    # Below CRF 22 more bytes buy nothing; above it every step costs 1.5 points.
    return 93.0 if crf <= 22 else 93.0 - 1.5 * (crf - 22)


@pytest.mark.parametrize(
    ("codec", "mean", "p5_below_mean", "target", "expected"),
    [
        pytest.param(
            Codec.H264, lambda crf: 130 - 1.5 * crf, 3.0, Target(95, 90), 23,
            id="linear-mean-side",
        ),
        pytest.param(
            Codec.H264, lambda crf: 130 - 1.5 * crf, 8.0, Target(95, 90), 21,
            id="linear-p5-side",
        ),
        pytest.param(
            Codec.H264, lambda crf: 100 - 0.05 * (crf - 14) ** 2, 3.0,
            Target(92, 85), 26,
            id="curved-mean-side",
        ),
        pytest.param(
            Codec.H264, lambda crf: 100 - 0.05 * (crf - 14) ** 2, 6.0,
            Target(95, 90), 22,
            id="curved-p5-side",
        ),
        pytest.param(
            Codec.AV1, lambda crf: 120 - 0.8 * crf, 3.0, Target(95, 90), 31,
            id="av1-linear",
        ),
    ],
)  # fmt: skip
def test_search_falling_scores_returns_highest_crf_meeting_target(
    codec: Codec,
    mean: Callable[[int], float],
    p5_below_mean: float,
    target: Target,
    expected: int,
) -> None:
    curve = Curve(mean, p5_below_mean)

    crf, probes = search(curve.probe, target, ENCODERS[codec], limit=4)

    assert crf == expected == curve.highest_passing(target, codec)
    assert target.margin(curve.score(crf)) >= 0
    assert [probe.crf for probe in probes] == sorted(curve.probed)


@pytest.mark.parametrize("codec", list(Codec))
@pytest.mark.parametrize("limit", [1, 6])
@pytest.mark.parametrize(
    ("mean", "end"),
    [
        pytest.param(lambda crf: 100.0, 1, id="passes-everywhere"),
        pytest.param(lambda crf: 80.0 - crf, 0, id="fails-everywhere"),
    ],
)
def test_search_never_leaves_crf_range(
    codec: Codec, limit: int, mean: Callable[[int], float], end: int
) -> None:
    encoder = ENCODERS[codec]
    low, high = encoder.crf_range
    curve = Curve(mean)

    crf, _ = search(curve.probe, Target(95, 90), encoder, limit)

    assert all(low <= probed <= high for probed in curve.probed)
    if limit > 1:
        # Searched to the end of the range that the content asks for.
        assert crf == encoder.crf_range[end]
    assert low <= crf <= high


@pytest.mark.parametrize(("codec", "score"), [(Codec.H264, 99.0), (Codec.AV1, 40.0)])
def test_search_single_probe_prediction_stays_in_crf_range(
    codec: Codec, score: float
) -> None:
    # A low target on easy content, or a high one on hopeless content, would
    # predict far outside the range.
    encoder = ENCODERS[codec]
    curve = Curve(lambda crf: score)

    crf, _ = search(curve.probe, Target(60, 55), encoder, limit=1)

    expected = encoder.crf_range[1] if score > 60 else encoder.crf_range[0]
    assert (crf, curve.probed) == (expected, [encoder.first_crf])


@pytest.mark.parametrize("limit", [2, 3, 4])
def test_search_stops_at_probe_limit(limit: int) -> None:
    # A shallow curve on which interpolation needs five probes to land.
    curve = Curve(lambda crf: 100 - 0.02 * (crf - 14) ** 2)
    target = Target(93, 85)

    crf, probes = search(curve.probe, target, H264, limit)

    assert len(curve.probed) == len(set(curve.probed)) == len(probes) == limit
    assert target.margin(curve.score(crf)) >= 0
    assert crf < curve.highest_passing(target, Codec.H264) == 32


def test_search_with_enough_probes_finds_what_the_limit_cut_short() -> None:
    curve = Curve(lambda crf: 100 - 0.02 * (crf - 14) ** 2)

    crf, probes = search(curve.probe, Target(93, 85), H264, limit=6)

    assert (crf, len(probes)) == (32, 5)


@pytest.mark.parametrize(
    ("codec", "mean", "p5_below_mean", "expected"),
    [
        pytest.param(Codec.H264, 98.4, 3.0, 24 + 3, id="above-by-3.4"),
        pytest.param(Codec.H264, 92.5, 3.0, 24 - 3, id="below-by-2.5"),
        pytest.param(Codec.H264, 99.0, 11.0, 24 - 2, id="p5-below-by-2"),
        pytest.param(Codec.AV1, 96.2, 3.0, 36 + 2, id="av1-half-point-per-crf"),
    ],
)
def test_search_single_probe_predicts_from_its_margin(
    codec: Codec, mean: float, p5_below_mean: float, expected: int
) -> None:
    encoder = ENCODERS[codec]
    curve = Curve(lambda crf: mean, p5_below_mean)

    crf, probes = search(curve.probe, Target(95, 90), encoder, limit=1)

    assert crf == expected
    assert curve.probed == [encoder.first_crf]
    assert [probe.crf for probe in probes] == [encoder.first_crf]


@pytest.mark.parametrize(
    ("mean", "expected", "probed"),
    [
        pytest.param(lambda crf: 93.0, 24, [24, 22], id="flat"),
        pytest.param(lambda crf: 93.0 - 0.05 * (crf - 24), 24, [24, 22], id="creeping"),
        pytest.param(_steep_then_flat, 19, [24, 19, 15, 14], id="steep-then-flat"),
    ],
)
def test_search_plateau_below_target_returns_highest_of_near_best(
    mean: Callable[[int], float], expected: int, probed: list[int]
) -> None:
    curve = Curve(mean)
    target = Target(95, 90)

    crf, probes = search(curve.probe, target, H264, limit=4)

    assert curve.probed == probed
    best = max(target.margin(probe.score) for probe in probes)
    near_best = [
        probe.crf
        for probe in probes
        if target.margin(probe.score) >= best - PLATEAU_MARGIN
    ]
    assert crf == expected == max(near_best)
    assert crf > min(near_best)


@pytest.mark.parametrize(
    ("margin", "probed"),
    [
        pytest.param(TOLERANCE - 0.25, [24], id="within"),
        pytest.param(TOLERANCE + 0.05, [24, 25], id="just-beyond"),
    ],
)
def test_search_stops_early_within_tolerance(margin: float, probed: list[int]) -> None:
    # One VMAF point per CRF: the first probe at 24 is ``margin`` above 95.
    curve = Curve(lambda crf: 95 + margin + 24 - crf)

    crf, _ = search(curve.probe, Target(95, 90), H264, limit=6)

    assert (crf, curve.probed) == (24, probed)


# Scenes from the scene detector's frame times: no FFmpeg.


def _times(rate: float, frames: int, first: float = 0.0) -> list[float]:
    return [first + index / rate for index in range(frames)]


def _spans(scenes: list[Scene]) -> list[tuple[int, int]]:
    return [(scene.first, scene.frames) for scene in scenes]


def _cut(times: list[float], cuts: list[int]) -> list[Scene]:
    return _scenes(times, cuts, MIN_SCENE_SECONDS, MAX_SCENE_SECONDS)


def test_scenes_cuts_closer_than_minimum_merge() -> None:
    # At 25 fps: cuts at 1.2 s, 4 s, 5.2 s and 7.6 s of a 10 s video.
    scenes = _cut(_times(25, 250), [30, 100, 130, 190])

    assert _spans(scenes) == [(0, 100), (100, 90), (190, 60)]


def test_scenes_short_last_scene_joins_the_one_before() -> None:
    # The cut at 8.8 s would leave 1.2 s.
    scenes = _cut(_times(25, 250), [100, 220])

    assert _spans(scenes) == [(0, 100), (100, 150)]


def test_scenes_longer_than_maximum_split_evenly() -> None:
    # 2 s, then 22 s without a cut.
    scenes = _cut(_times(25, 600), [50])

    assert _spans(scenes) == [(0, 50), (50, 184), (234, 184), (418, 182)]
    assert all(scene.frames / 25 <= MAX_SCENE_SECONDS for scene in scenes)


@pytest.mark.parametrize(
    ("rate", "frames", "first", "cuts"),
    [
        pytest.param(24, 120, 0.0, [60], id="hard-cut"),
        pytest.param(25, 1000, 0.0, [], id="40-s-no-cut"),
        pytest.param(30000 / 1001, 900, 0.0, [5, 61, 100, 400, 430, 890], id="ntsc"),
        pytest.param(30, 250, 1 / 30, [47, 148], id="late-first-frame"),
        pytest.param(20, 30, 0.0, [10], id="shorter-than-minimum"),
    ],
)
def test_scenes_cover_every_frame_once_with_consistent_starts(
    rate: float, frames: int, first: float, cuts: list[int]
) -> None:
    times = _times(rate, frames, first)

    scenes = _cut(times, cuts)

    assert scenes[0].first == 0
    for before, after in itertools.pairwise(scenes):
        assert after.first == before.first + before.frames
    assert sum(scene.frames for scene in scenes) == frames
    for scene in scenes:
        assert scene.frame_duration == pytest.approx(1 / rate)
        assert scene.start == pytest.approx(times[scene.first] - times[0])
        assert scene.start == pytest.approx(scene.first / rate)
        seconds = scene.frames / rate
        assert seconds <= MAX_SCENE_SECONDS + 1 / rate
        if frames / rate >= MIN_SCENE_SECONDS:
            assert seconds >= MIN_SCENE_SECONDS


@pytest.mark.parametrize(
    ("values", "rank", "expected"),
    [
        ([1.0, 2.0, 3.0, 4.0, 5.0], 50, 3.0),
        ([4.0, 1.0, 3.0, 2.0], 25, 1.75),
        ([float(value) for value in range(101)], 5, 5.0),
        ([10.0, 20.0], 5, 10.5),
        ([90.0, 99.0, 95.0], 0, 90.0),
        ([90.0, 99.0, 95.0], 100, 99.0),
        ([42.0], 5, 42.0),
    ],
)
def test_percentile_interpolates_between_closest_values(
    values: list[float], rank: float, expected: float
) -> None:
    assert percentile(values, rank) == pytest.approx(expected)


def _scene_results(*crfs: int) -> tuple[list[Scene], list[SceneResult]]:
    scenes = [Scene(10 * index, 10, index * 0.4, 0.04) for index in range(len(crfs))]
    return scenes, [
        SceneResult(scene, crf) for scene, crf in zip(scenes, crfs, strict=True)
    ]


def _verified(*per_scene: list[float]) -> FrameScores:
    """Per-frame scores, ten frames a scene, every other frame scored."""
    return FrameScores(
        {
            10 * scene + frame: values[frame // 2]
            for scene, values in enumerate(per_scene)
            for frame in range(0, 10, 2)
        }
    )


def test_correction_steps_only_the_scenes_that_missed() -> None:
    target, encoder = Target(95, 90), ENCODERS[Codec.H264]
    scenes, results = _scene_results(26, 30, 14)
    verified = _verified(
        [96.0] * 5,  # passes
        [94.0, 93.5, 94.0, 95.0, 93.5],  # mean 94.0: one point short
        [90.0] * 5,  # short, but already at the lowest CRF
    )

    steps = targeting._correction_steps(
        scenes, results, verified, verified.score(), target, encoder
    )

    assert steps == [0, 1, 0]


def test_correction_steps_every_scene_when_none_missed_alone() -> None:
    target, encoder = Target(95, 90), ENCODERS[Codec.H264]
    scenes, results = _scene_results(26, 30)
    verified = _verified([95.5] * 5, [95.5] * 5)
    whole = Score(mean=95.5, p5=88.6, frames=10)  # short by 1.4 on p5

    steps = targeting._correction_steps(
        scenes, results, verified, whole, target, encoder
    )

    assert steps == [2, 2]


# Real clips through FFmpeg.


@dataclasses.dataclass(frozen=True)
class Targeted:
    source: Path
    info: MediaInfo
    target: Target
    result: TargetedEncode


def _encode(
    source: Path,
    folder: Path,
    target: Target,
    codec: Codec = Codec.H264,
    profile: Profile = Profile.BALANCED,
) -> Targeted:
    info = probe(source)
    result = encode_targeted(
        source,
        folder / "out.mp4",
        info,
        codec=codec,
        profile=profile,
        target=target,
        workspace=folder / "work",
    )
    return Targeted(source, info, target, result)


def _frame_times(path: Path) -> list[Fraction]:
    """Presentation times of the video frames, in the order they are shown."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        time_base = stream.time_base
        assert time_base is not None
        return [
            frame.pts * time_base
            for frame in container.decode(stream)
            if frame.pts is not None
        ]


def _pictures(path: Path, seek: float | None = None) -> dict[Fraction, bytes]:
    """A digest of each frame's pixels by its time, decoded from the start or
    from the key frame before ``seek`` seconds."""
    pictures: dict[Fraction, bytes] = {}
    with av.open(path) as container:
        stream = container.streams.video[0]
        time_base = stream.time_base
        assert time_base is not None
        if seek is not None:
            container.seek(round(seek / time_base), stream=stream)
        for frame in container.decode(stream):
            assert frame.pts is not None
            digest = hashlib.sha256()
            for plane in frame.planes:
                data = memoryview(plane)
                if plane.line_size == plane.width:
                    digest.update(data[: plane.width * plane.height])
                    continue
                # Rows only: the padding at the end of each line is not picture.
                for row in range(plane.height):
                    start = row * plane.line_size
                    digest.update(data[start : start + plane.width])
            pictures[frame.pts * time_base] = digest.digest()
    return pictures


def _key_frame_times(path: Path) -> list[Fraction]:
    with av.open(path) as container:
        stream = container.streams.video[0]
        time_base = stream.time_base
        assert time_base is not None
        return sorted(
            packet.pts * time_base
            for packet in container.demux(stream)
            if packet.is_keyframe and packet.pts is not None
        )


def _video_codec(path: Path) -> str:
    with av.open(path) as container:
        return container.streams.video[0].codec.canonical_name


def _measure(encoded: Targeted, workspace: Path) -> Score:
    """VMAF of the output against the source, every frame, as a viewer sees it."""
    frames = len(_frame_times(encoded.source))
    score = measure(
        Clip(encoded.result.path),
        Clip(encoded.source, frames=frames),
        display_aspect=encoded.info.display_aspect,
        workspace=workspace,
        subsample=1,
    )
    assert score.frames == frames
    return score


def _hard_cut(
    ffmpeg: Callable[..., None],
    clips: Path,
    target: Path,
    rate: int,
    cut: int,
    frames: int,
) -> Path:
    """``frames`` frames at ``rate`` fps: a 2D animation that cuts to a
    screencast at frame ``cut``."""
    animation = f"fps={rate},trim=end_frame={cut},setpts=PTS-STARTPTS,setsar=1"
    screen = (
        f"scale=960:540,fps={rate},trim=end_frame={frames - cut},"
        "setpts=PTS-STARTPTS,setsar=1"
    )
    graph = (
        f"[0:v]{animation}[a];[1:v]{screen}[b];"
        "[a][b]concat=n=2:v=1:a=0,format=yuv420p[v]"
    )
    ffmpeg(
        "-ss", "2", "-i", str(clips / "tour-540p-animation.mp4"),
        "-ss", "1", "-i", str(clips / "hello-720p-screen.mp4"),
        "-filter_complex", graph, "-map", "[v]", "-r", str(rate),
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "14", str(target),
    )  # fmt: skip
    return target


@pytest.fixture(scope="module")
def screen(clips: Path, cuts: Path, ffmpeg: Callable[..., None]) -> Path:
    # 3 s of a terminal with a webcam inset, 30 fps, with its audio.
    target = cuts / "hello-3s.mp4"
    ffmpeg(
        "-ss", "1", "-i", str(clips / "hello-720p-screen.mp4"), "-t", "3",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "14", "-c:a", "aac",
        str(target),
    )  # fmt: skip
    return target


@pytest.fixture(scope="module")
def hard_cut(clips: Path, cuts: Path, ffmpeg: Callable[..., None]) -> Path:
    target = cuts / "hard-cut.mp4"
    return _hard_cut(ffmpeg, clips, target, CUT_RATE, CUT_FRAME, 2 * CUT_FRAME)


@pytest.fixture(scope="module")
def damaged(clips: Path, cuts: Path, ffmpeg: Callable[..., None]) -> Path:
    # A stream copy from 1 s to 5 s keeps the damaged slices and the key frame
    # at 3.8 s (2.8 s into the cut), after which a seek decodes other pictures.
    target = cuts / "cockatoo-damaged-4s.mp4"
    ffmpeg(
        "-ss", "1", "-i", str(clips / "cockatoo-720p-camera.mp4"), "-t", "4",
        "-map", "0:v", "-c", "copy", str(target),
    )  # fmt: skip
    return target


@pytest.fixture(scope="module")
def off_grid_cut(clips: Path, cuts: Path, ffmpeg: Callable[..., None]) -> Path:
    # 25 fps, the cut at frame 61: FFV1's default key frame interval is 12.
    return _hard_cut(ffmpeg, clips, cuts / "off-grid-cut.mp4", 25, 61, 120)


@pytest.fixture(scope="module")
def animation_18fps(clips: Path, cuts: Path, ffmpeg: Callable[..., None]) -> Path:
    target = cuts / "tour-4s-18fps.mp4"
    ffmpeg(
        "-ss", "1", "-i", str(clips / "tour-540p-animation.mp4"), "-t", "4",
        "-vf", "fps=18", "-c:v", "libx264", "-preset", "veryfast", "-crf", "14",
        str(target),
    )  # fmt: skip
    return target


@pytest.fixture(scope="module")
def screen_90(screen: Path, tmp_path_factory: pytest.TempPathFactory) -> Targeted:
    return _encode(screen, tmp_path_factory.mktemp("screen-90"), Target(90, 85))


@pytest.fixture(scope="module")
def screen_97(screen: Path, tmp_path_factory: pytest.TempPathFactory) -> Targeted:
    return _encode(screen, tmp_path_factory.mktemp("screen-97"), Target(97, 92))


@pytest.fixture(scope="module")
def hard_cut_encoded(
    hard_cut: Path, tmp_path_factory: pytest.TempPathFactory
) -> Targeted:
    return _encode(hard_cut, tmp_path_factory.mktemp("hard-cut"), Target(95, 90))


@pytest.fixture(scope="module")
def damaged_encoded(
    damaged: Path, tmp_path_factory: pytest.TempPathFactory
) -> Targeted:
    # The camera clip has no cut: shorter scenes make the last one start after
    # the key frame from which a seek decodes other pictures.
    find = targeting.find_scenes
    folder = tmp_path_factory.mktemp("damaged")
    with pytest.MonkeyPatch.context() as patch:
        shorter = functools.partial(find, max_seconds=DAMAGED_SCENE_SECONDS)
        patch.setattr(targeting, "find_scenes", shorter)
        return _encode(damaged, folder, Target(95, 90), profile=Profile.FAST)


@pytest.fixture(scope="module")
def damaged_measured(
    damaged_encoded: Targeted, tmp_path_factory: pytest.TempPathFactory
) -> Score:
    return _measure(damaged_encoded, tmp_path_factory.mktemp("damaged-vmaf"))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["screen_90", "screen_97"])
def test_encode_targeted_reaches_target_measured_independently(
    name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    encoded: Targeted = request.getfixturevalue(name)

    score = _measure(encoded, tmp_path)

    assert score.mean >= encoded.target.mean - 1
    assert score.p5 >= encoded.target.p5 - 1
    assert score.mean == pytest.approx(encoded.result.score.mean, abs=1)


@pytest.mark.slow
def test_encode_targeted_higher_target_costs_more_bytes(
    screen_90: Targeted, screen_97: Targeted
) -> None:
    assert screen_97.result.size > screen_90.result.size
    assert screen_97.result.crfs[0] < screen_90.result.crfs[0]
    assert screen_97.result.size == screen_97.result.path.stat().st_size


@pytest.mark.slow
@pytest.mark.parametrize("name", ["screen_90", "screen_97"])
def test_encode_targeted_keeps_every_frame_and_the_duration(
    name: str, request: pytest.FixtureRequest
) -> None:
    encoded: Targeted = request.getfixturevalue(name)
    frame = Fraction(1, 30)

    source, output = _frame_times(encoded.source), _frame_times(encoded.result.path)

    assert len(output) == len(source) == 90
    assert abs((output[-1] - output[0]) - (source[-1] - source[0])) < frame
    assert abs(encoded.result.duration - encoded.info.duration) < frame
    assert (encoded.result.width, encoded.result.height) == (1280, 720)


@pytest.mark.slow
def test_find_scenes_puts_boundary_at_hard_cut(hard_cut: Path) -> None:
    folder = sorted(os.listdir(hard_cut.parent))

    scenes = find_scenes(hard_cut)

    assert len(scenes) == 2
    assert abs(scenes[1].first - CUT_FRAME) <= 1
    assert scenes[1].start == pytest.approx(scenes[1].first / CUT_RATE, abs=1e-3)
    assert sum(scene.frames for scene in scenes) == 2 * CUT_FRAME
    assert sorted(os.listdir(hard_cut.parent)) == folder


@pytest.mark.slow
def test_split_scenes_writes_one_lossless_file_per_scene(
    hard_cut: Path, tmp_path: Path
) -> None:
    scenes = find_scenes(hard_cut)

    pieces = split_scenes(hard_cut, scenes, tmp_path, stall_timeout=60)

    assert [len(_frame_times(piece)) for piece in pieces] == [
        scene.frames for scene in scenes
    ]
    assert {_video_codec(piece) for piece in pieces} == {"utvideo"}
    pictures = [picture for piece in pieces for picture in _pictures(piece).values()]
    assert pictures == list(_pictures(hard_cut).values())


@pytest.mark.slow
def test_split_scenes_scene_starting_at_any_frame_keeps_its_frames(
    off_grid_cut: Path, tmp_path: Path
) -> None:
    scenes = find_scenes(off_grid_cut)
    assert _spans(scenes) == [(0, 61), (61, 59)]

    pieces = split_scenes(off_grid_cut, scenes, tmp_path, stall_timeout=60)

    assert [len(_frame_times(piece)) for piece in pieces] == [61, 59]


@pytest.mark.slow
def test_encode_targeted_hard_cut_joins_scenes_seamlessly(
    hard_cut_encoded: Targeted,
) -> None:
    frame = Fraction(1, CUT_RATE)

    times = _frame_times(hard_cut_encoded.result.path)

    gaps = [after - before for before, after in itertools.pairwise(times)]
    assert min(gaps) > 0
    assert max(gaps) <= frame * 3 / 2
    assert len(times) == 2 * CUT_FRAME
    source = _frame_times(hard_cut_encoded.source)
    assert abs((times[-1] - times[0]) - (source[-1] - source[0])) < frame
    result = hard_cut_encoded.result
    assert abs(result.duration - hard_cut_encoded.info.duration) < frame


@pytest.mark.slow
def test_encode_targeted_hard_cut_gives_screen_a_higher_crf(
    hard_cut_encoded: Targeted,
) -> None:
    # The screencast reaches the target with fewer bits than the animation.
    animation, screen = hard_cut_encoded.result.crfs

    assert screen > animation


@pytest.mark.slow
def test_encode_targeted_hard_cut_reaches_target_measured_independently(
    hard_cut_encoded: Targeted, tmp_path: Path
) -> None:
    score = _measure(hard_cut_encoded, tmp_path)

    assert score.mean >= hard_cut_encoded.target.mean - 1
    assert score.p5 >= hard_cut_encoded.target.p5 - 1


@pytest.mark.slow
def test_encode_targeted_av1_fast_names_codec_av1(screen: Path, tmp_path: Path) -> None:
    encoded = _encode(screen, tmp_path, Target(95, 90), Codec.AV1, Profile.FAST)

    result = encoded.result
    assert _video_codec(result.path) == "av1"
    assert (result.codec, result.profile) == (Codec.AV1, Profile.FAST)
    low, high = AV1.crf_range
    assert all(low <= crf <= high for crf in result.crfs)
    assert result.probes == len(result.crfs)
    assert len(_frame_times(result.path)) == len(_frame_times(screen))


@pytest.mark.slow
def test_encode_targeted_fast_profile_at_18_fps_scores_its_probe(
    animation_18fps: Path, tmp_path: Path
) -> None:
    # The fast probe's 2 s sample is 36 frames, every 5th scored: the last frame,
    # lost to pairing by timestamp, is a whole scored frame of the 8.
    encoded = _encode(animation_18fps, tmp_path, Target(95, 90), profile=Profile.FAST)

    assert encoded.result.probes == len(encoded.result.crfs) == 1
    assert len(_frame_times(encoded.result.path)) == 72


@pytest.mark.slow
def test_damaged_clip_decodes_differently_after_seek(damaged: Path) -> None:
    last = find_scenes(damaged, max_seconds=DAMAGED_SCENE_SECONDS)[-1]
    # Where a seek into the source for this scene would start decoding.
    seek = last.clip(damaged).start
    key_frame = max(time for time in _key_frame_times(damaged) if time <= seek)

    from_start = _pictures(damaged)
    after_seek = _pictures(damaged, seek=seek)

    assert len(from_start) == 82
    assert min(after_seek) == key_frame > 0
    shown = [time for time in after_seek if time >= seek]
    assert len(shown) == last.frames
    assert any(after_seek[time] != from_start[time] for time in shown)


@pytest.fixture(scope="module")
def city_x264(clips: Path, cuts: Path, ffmpeg: Callable[..., None]) -> Path:
    # A busy camera pan, encoded with x264's defaults: B-frames score lower
    # than the frames around them, and motion masks much.
    target = cuts / "city-x264.mp4"
    ffmpeg(
        "-i", str(clips / "city-405p-camera-mpeg2.mpg"),
        "-vf", "crop=720:404:0:0", "-c:v", "libx264", str(target),
    )  # fmt: skip
    return target


@pytest.mark.slow
@pytest.mark.parametrize("subsample", [5, 7])
def test_measure_subsampled_busy_content_is_within_a_point_of_every_frame(
    city_x264: Path, clips: Path, tmp_path: Path, subsample: int
) -> None:
    source = Clip(clips / "city-405p-camera-mpeg2.mpg")
    aspect = probe(source.path).display_aspect

    def scored(step: int) -> Score:
        return measure(
            Clip(city_x264),
            source,
            display_aspect=aspect,
            workspace=tmp_path,
            subsample=step,
        )

    every, sampled = scored(1), scored(subsample)

    assert sampled.mean == pytest.approx(every.mean, abs=1.5)
    assert sampled.p5 == pytest.approx(every.p5, abs=2)
    assert sampled.frames == math.ceil(every.frames / subsample)


@pytest.mark.parametrize("subsample", [2, 3, 4, 6])
def test_measure_refuses_a_subsample_in_step_with_frame_types(
    subsample: int, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="subsample"):
        measure(
            Clip(tmp_path / "a.mp4"),
            Clip(tmp_path / "b.mp4"),
            display_aspect=16 / 9,
            workspace=tmp_path,
            subsample=subsample,
        )


@pytest.mark.slow
def test_encode_targeted_odd_sized_source_loses_one_line(
    clips: Path, tmp_path: Path
) -> None:
    source = clips / "city-405p-camera-mpeg2.mpg"  # 720x405
    info = probe(source)

    encoded = encode_targeted(
        source,
        tmp_path / "city.mp4",
        info,
        profile=Profile.FAST,
        workspace=tmp_path / "work",
    )

    assert (encoded.width, encoded.height) == (720, 404)
    assert encoded.duration == pytest.approx(info.duration, abs=0.1)


@pytest.mark.slow
def test_split_scenes_damaged_clip_keeps_decode_from_start(
    damaged: Path, tmp_path: Path
) -> None:
    scenes = find_scenes(damaged, max_seconds=DAMAGED_SCENE_SECONDS)

    pieces = split_scenes(damaged, scenes, tmp_path, stall_timeout=60)

    assert len(pieces) == 4
    pictures = [picture for piece in pieces for picture in _pictures(piece).values()]
    assert pictures == list(_pictures(damaged).values())


@pytest.mark.slow
def test_encode_targeted_damaged_clip_reaches_target(
    damaged_encoded: Targeted, damaged_measured: Score
) -> None:
    assert len(damaged_encoded.result.crfs) == 4
    assert damaged_measured.mean >= damaged_encoded.target.mean - 1
    assert damaged_measured.p5 >= damaged_encoded.target.p5 - 1


@pytest.mark.slow
def test_encode_targeted_reported_score_is_the_every_frame_score(
    damaged_encoded: Targeted, damaged_measured: Score
) -> None:
    # The fast profile scores every 5th frame: an estimate, but of the same score.
    reported = damaged_encoded.result.score

    assert reported.mean == pytest.approx(damaged_measured.mean, abs=1)
    assert reported.p5 == pytest.approx(damaged_measured.p5, abs=2)


def test_a_crf_carries_over_to_another_encoders_scale() -> None:
    h264, hevc, av1 = (ENCODERS[codec] for codec in (Codec.H264, Codec.HEVC, Codec.AV1))

    # Each encoder's usual answer matches the other's.
    assert av1.equivalent_crf(av1.first_crf, h264) == h264.first_crf
    # AV1's steps are half as steep: eight of them are four of H.264's.
    assert av1.equivalent_crf(av1.first_crf + 8, h264) == h264.first_crf + 4
    assert hevc.equivalent_crf(hevc.first_crf - 3, h264) == h264.first_crf - 3
    # Never past the other scale's ends.
    assert av1.equivalent_crf(av1.crf_range[1], h264) <= h264.crf_range[1]
    assert h264.equivalent_crf(h264.crf_range[0], av1) >= av1.crf_range[0]
