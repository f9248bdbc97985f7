"""Compression: Reelhouse's quality-targeted encodes beside FFmpeg's defaults.

Run as a program, not a test: `.venv/bin/python bench/compression.py
[--clips DIR] [--codecs h264,av1] [--profiles balanced,max] [--only NAME...]`.
On every clip in ../shared/media (camera, animation and screen content) it
encodes, for each codec:

- the baseline, `ffmpeg -i clip -c:v libx264 out.mp4`: x264 preset medium at
  CRF 23, FFmpeg's defaults; the AV1 table is measured against it too;
- Reelhouse's profiles, `encode_targeted` at its default target (VMAF 95, 5th
  percentile 90);
- x264 medium at the VMAF balanced reached, found by bisection over integer
  CRFs. Between two CRFs, bytes, p5 and seconds are interpolated linearly in
  VMAF, and the CRF is marked `*`.

The bench scores every output itself, all in the same way: VMAF of every frame
at 1080 lines against the clip (Reelhouse's own report is not used). Bytes are
whole files, and every output carries the clip's audio, if any, as AAC 128k.
A clip with an odd width or height loses its last column or line in every
output, as in Reelhouse's (x264 refuses odd 4:2:0 sizes), and VMAF crops the
clip alike. Seconds are the wall time of one encode (for Reelhouse, its whole
search and verification); speed is clip seconds over encode seconds. One table
per codec, totals per row, then the targets as PASS or FAIL lines.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from reelhouse.media.codecs import Codec, Profile
from reelhouse.media.ffmpeg import file_url, run_ffmpeg
from reelhouse.media.probe import MediaInfo, probe
from reelhouse.media.targeting import encode_targeted
from reelhouse.media.vmaf import EVEN_CROP, Clip, Score, measure

CLIPS = Path(__file__).resolve().parents[1] / ".." / "shared" / "media"
DEFAULT_CRF = 23  # libx264's own default; -crf 23 changes nothing
AUDIO = ["-c:a", "aac", "-b:a", "128k"]  # as Reelhouse's encodes write it
BASELINE = "x264 default"
MATCHED = "x264 @balanced"
FLOOR = 95.0


@dataclass(frozen=True)
class Source:
    path: Path
    info: MediaInfo

    @property
    def name(self) -> str:
        return self.path.stem


@dataclass(frozen=True)
class Output:
    size: int
    """Bytes of the whole file, audio included."""
    score: Score
    seconds: float
    note: str


def score(path: Path, source: Source, scratch: Path) -> Score:
    return measure(
        Clip(path),
        Clip(source.path),
        display_aspect=source.info.display_aspect,
        workspace=scratch,
        subsample=1,
    )


def x264(source: Source, crf: int, scratch: Path) -> Output:
    path = scratch / f"{source.name}-x264-{crf}.mp4"
    info = source.info
    crop = ["-vf", EVEN_CROP] if info.width % 2 or info.height % 2 else []
    audio = ["-map", "0:a:0", *AUDIO] if info.audio_codec else []
    arguments = [
        "-i", file_url(source.path), "-map", "0:V:0", *crop,
        "-c:v", "libx264", "-crf", str(crf), *audio, file_url(path),
    ]  # fmt: skip
    started = time.perf_counter()
    run_ffmpeg(arguments, action="encode with x264")
    seconds = time.perf_counter() - started
    measured = score(path, source, scratch)
    size = path.stat().st_size
    path.unlink()
    return Output(size, measured, seconds, f"CRF {crf}")


def reelhouse(source: Source, codec: Codec, profile: Profile, scratch: Path) -> Output:
    path = scratch / f"{source.name}-{codec}-{profile}.mp4"
    workspace = scratch / "workspace"
    encoded = encode_targeted(
        source.path,
        path,
        source.info,
        codec=codec,
        profile=profile,
        workspace=workspace,
    )
    shutil.rmtree(workspace)
    measured = score(path, source, scratch)
    path.unlink()
    crfs = ",".join(str(crf) for crf in encoded.crfs)
    # Corrected: its first result missed the target and it encoded again.
    again = ", corrected" if encoded.corrected else ""
    note = f"CRF {crfs}{again}"
    return Output(encoded.size, measured, encoded.encode_seconds, note)


def matched(
    source: Source, wanted: float, encodes: dict[int, Output], scratch: Path
) -> Output:
    """x264 medium at VMAF ``wanted``; ``encodes`` caches the CRFs tried."""

    def at(crf: int) -> Output:
        if crf not in encodes:
            encodes[crf] = x264(source, crf, scratch)
        return encodes[crf]

    # Sentinels just outside x264's CRF scale, 0 to 51; neither is encoded.
    passing, failing = -1, 52
    crf = DEFAULT_CRF
    while failing - passing > 1:
        if at(crf).score.mean >= wanted:
            passing = crf
        else:
            failing = crf
        crf = (passing + failing) // 2
    if passing < 0:
        return replace(at(0), note="CRF 0, still below")
    if failing > 51:
        return replace(at(51), note="CRF 51, still above")
    better, worse = at(passing), at(failing)
    if better.score.mean == wanted:
        return better
    weight = (better.score.mean - wanted) / (better.score.mean - worse.score.mean)

    def mix(a: float, b: float) -> float:
        return a + (b - a) * weight

    return Output(
        round(mix(better.size, worse.size)),
        Score(wanted, mix(better.score.p5, worse.score.p5), better.score.frames),
        mix(better.seconds, worse.seconds),
        f"CRF {passing + weight:.1f}*",
    )


Results = dict[tuple[Codec, str], dict[str, Output]]
"""Outputs by codec and row, then by clip."""


def run(
    sources: list[Source], codecs: list[Codec], profiles: list[Profile], scratch: Path
) -> Results:
    results: Results = {}

    def keep(codec: Codec, row: str, source: Source, output: Output) -> None:
        results.setdefault((codec, row), {})[source.name] = output
        print(
            f"{source.name} {codec} {row}: {output.size} B, VMAF "
            f"{output.score.mean:.2f}/{output.score.p5:.2f}, {output.seconds:.1f} s",
            file=sys.stderr,
            flush=True,
        )

    for source in sources:
        encodes = {DEFAULT_CRF: x264(source, DEFAULT_CRF, scratch)}
        for codec in codecs:
            keep(codec, BASELINE, source, encodes[DEFAULT_CRF])
            for profile in profiles:
                keep(codec, profile, source, reelhouse(source, codec, profile, scratch))
            if Profile.BALANCED in profiles:
                wanted = results[(codec, Profile.BALANCED)][source.name].score.mean
                keep(codec, MATCHED, source, matched(source, wanted, encodes, scratch))
    return results


def rows(codec: Codec, results: Results) -> list[str]:
    return [row for (c, row) in results if c == codec]


def speed(duration: float, seconds: float) -> float:
    return duration / seconds


def print_table(codec: Codec, sources: list[Source], results: Results) -> None:
    base = results[(codec, BASELINE)]
    base_total = sum(output.size for output in base.values())
    print(f"\n{codec}: bytes are whole files (video + AAC 128k audio if any)")
    head = f"{'clip':<23}{'encode':<15}{'bytes':>11}{'VMAF':>7}{'p5':>7}"
    print(f"{head}{'sec':>7}{'speed':>7}{'vs base':>8}  note")
    for source in sources:
        for row in rows(codec, results):
            out = results[(codec, row)][source.name]
            print(
                f"{source.name:<23}{row:<15}{out.size:>11,}{out.score.mean:>7.2f}"
                f"{out.score.p5:>7.2f}{out.seconds:>7.1f}"
                f"{speed(source.info.duration, out.seconds):>7.2f}"
                f"{out.size / base[source.name].size:>8.2f}  {out.note}"
            )
    print(f"{'total':<23}{'encode':<15}{'bytes':>11}{'min':>7}{'min p5':>7}")
    duration = sum(source.info.duration for source in sources)
    for row in rows(codec, results):
        outputs = results[(codec, row)].values()
        total = sum(output.size for output in outputs)
        seconds = sum(output.seconds for output in outputs)
        print(
            f"{'':<23}{row:<15}{total:>11,}"
            f"{min(output.score.mean for output in outputs):>7.2f}"
            f"{min(output.score.p5 for output in outputs):>7.2f}{seconds:>7.1f}"
            f"{speed(duration, seconds):>7.2f}{total / base_total:>8.2f}"
        )
    notes = [
        o.note for row in rows(codec, results) for o in results[(codec, row)].values()
    ]
    if any(note.endswith("*") for note in notes):
        print("* interpolated between the two integer CRFs around it")


def verdict(passed: bool, text: str) -> None:
    print(f"{'PASS' if passed else 'FAIL'} {text}")


def print_targets(sources: list[Source], results: Results) -> None:
    print()
    for (codec, row), outputs in results.items():
        if row in (BASELINE, MATCHED):
            continue
        base = results[(codec, BASELINE)]
        low = [
            f"{name} {output.score.mean:.2f}"
            for name, output in outputs.items()
            if output.score.mean < min(FLOOR, base[name].score.mean - 1)
        ]
        misses = f": {'; '.join(low)}" if low else ""
        verdict(not low, f"(a) {codec} {row} VMAF >= min(95, baseline - 1){misses}")
    for codec, limit, label in ((Codec.H264, 0.7, "(b)"), (Codec.AV1, 0.5, "(c)")):
        if (codec, Profile.BALANCED) not in results:
            continue
        total = sum(o.size for o in results[(codec, Profile.BALANCED)].values())
        base = sum(o.size for o in results[(codec, BASELINE)].values())
        verdict(
            total <= limit * base,
            f"{label} {codec} balanced total bytes {total / base:.2f} x baseline"
            f" (at most {limit})",
        )
    for (codec, row), outputs in results.items():
        if row != Profile.BALANCED:
            continue
        speeds = {
            s.name: speed(s.info.duration, outputs[s.name].seconds)
            for s in sources
            if s.info.height == 720
        }
        if not speeds:
            print(f"SKIP (d) {codec} balanced: no 720p clip")
            continue
        listed = ", ".join(f"{name} {value:.2f}x" for name, value in speeds.items())
        verdict(
            all(value >= 1 for value in speeds.values()),
            f"(d) {codec} balanced at least realtime on 720p clips: {listed}",
        )


def print_frame_counts(sources: list[Source], results: Results) -> None:
    # VMAF stops at the shorter stream: an output that lost frames scores fewer.
    for source in sources:
        counts = {o[source.name].score.frames for o in results.values()}
        if len(counts) > 1:
            print(f"WARNING {source.name}: outputs scored {sorted(counts)} frames")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=Path, default=CLIPS, help="folder of clips")
    parser.add_argument(
        "--codecs",
        type=lambda text: [Codec(name) for name in text.split(",")],
        default=[Codec.H264, Codec.AV1],
        help="comma-separated: h264, hevc, av1",
    )
    parser.add_argument(
        "--profiles",
        type=lambda text: [Profile(name) for name in text.split(",")],
        default=[Profile.BALANCED, Profile.MAX],
        help="comma-separated: fast, balanced, max",
    )
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", help="clips whose name holds NAME"
    )
    arguments = parser.parse_args()
    paths = sorted(
        path
        for path in arguments.clips.iterdir()
        if path.is_file() and path.suffix != ".md"
        if not arguments.only or any(name in path.name for name in arguments.only)
    )
    if not paths:
        sys.exit(f"Error: no clips in {arguments.clips} match; check --only.")
    sources = [Source(path, probe(path)) for path in paths]
    print(f"cores: {os.cpu_count()}", flush=True)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="reelhouse-bench-") as folder:
        results = run(sources, arguments.codecs, arguments.profiles, Path(folder))
    for codec in arguments.codecs:
        print_table(codec, sources, results)
    print_frame_counts(sources, results)
    print_targets(sources, results)
    print(f"\nwall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
