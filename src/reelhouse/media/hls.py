"""Packaging a video as an HLS ladder of CMAF renditions for adaptive streaming.

One FFmpeg process decodes the source once, scales it to every rung and writes
fragmented-MP4 segments cut on one keyframe grid, so a player can switch rungs
at any segment boundary. Audio, when there is any, is encoded once as its own
rendition that every rung refers to.
"""

import dataclasses
import math
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from reelhouse.media.errors import MediaError
from reelhouse.media.ffmpeg import file_url, run_ffmpeg
from reelhouse.media.probe import MediaInfo, ensure_complete

# Every rung has a key frame at each multiple of this many seconds.
SEGMENT_SECONDS = 4.0
MASTER_PLAYLIST = "master.m3u8"
MEDIA_PLAYLIST = "index.m3u8"
AUDIO_FOLDER = "audio"

# Standard rung sizes, named by the shorter side of the picture (the height of
# a landscape video). The top rung is never larger than the source nor 1080p.
_STANDARD_SIZES = (1080, 720, 540, 360, 240)
_MAX_RUNGS = 5
# A rung closer than this to the one above costs an encode and a segment set
# for a picture few players would switch to.
_MIN_STEP = 1.25

_ENCODERS = {"h264": "libx264", "hevc": "libx265", "av1": "libsvtav1"}
_CRF_RANGES = {"h264": (0.0, 51.0), "hevc": (0.0, 51.0), "av1": (1.0, 63.0)}

# SVT-AV1 numbers its presets; these sit near the x264 preset of the same name
# in speed on two cores.
_SVT_PRESETS = {
    "ultrafast": 12,
    "superfast": 11,
    "veryfast": 10,
    "faster": 10,
    "fast": 9,
    "medium": 8,
    "slow": 6,
    "slower": 5,
    "veryslow": 4,
    "placebo": 3,
}

_AUDIO_BITRATE = "128k"
_AUDIO_GROUP = "audio"

_TARGET_DURATION = re.compile(r"^#EXT-X-TARGETDURATION:(\d+)", re.MULTILINE)
_INIT_SEGMENT = re.compile(r'^#EXT-X-MAP:URI="([^"]+)"', re.MULTILINE)
_SEGMENT = re.compile(r"^#EXTINF:([0-9.]+),[^\n]*\n([^#\n][^\n]*)$", re.MULTILINE)
_ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^",]*)')


@dataclasses.dataclass(frozen=True)
class Rung:
    height: int
    """Output height in pixels, even; the width follows the display aspect."""
    crf: float
    """Constant rate factor, on the encoder's own scale."""
    maxrate_kbps: int | None = None
    """Peak rate for streaming (capped CRF, with a buffer of twice this); None
    leaves the rate uncapped."""
    codec: str = "h264"
    """"h264" (x264), "hevc" (x265) or "av1" (SVT-AV1)."""
    encoded: Path | None = None
    """An encode of the source at this size and codec, with a key frame on
    every mark of the segment grid, whose video is copied instead of encoding
    the rung again (the CRF and peak rate are then not used)."""


@dataclasses.dataclass(frozen=True)
class LadderRendition:
    name: str
    """Folder of the rendition inside the ladder, e.g. "720p" or "720p-av1"."""
    width: int
    height: int
    codec: str
    """RFC 6381 codec string as in the master playlist, e.g. "avc1.64001f"."""
    playlist: Path
    bytes: int
    """Size of the init and media segments."""
    bitrate: int
    """Average bits per second of the media segments."""
    peak_bitrate: int
    """Highest bits per second over about one segment duration."""
    segments: int


@dataclasses.dataclass(frozen=True)
class Ladder:
    master: Path
    renditions: list[LadderRendition]
    audio_playlist: Path | None
    """The audio rendition shared by every rung; None for a silent source."""
    segment_seconds: float


@dataclasses.dataclass(frozen=True)
class _MediaPlaylist:
    target_duration: int
    init: str
    segments: list[tuple[str, float]]
    """File name and seconds of each media segment, in order."""

    @property
    def duration(self) -> float:
        return sum(seconds for _, seconds in self.segments)


@dataclasses.dataclass(frozen=True)
class _Rates:
    bytes: int
    average: int
    peak: int


def ladder_heights(info: MediaInfo) -> list[int]:
    """Pick two to five rung heights for ``info``'s video, tallest first.

    The top rung keeps the source's size, up to 1080p; the standard sizes below
    it follow, skipping one too close to the rung above. Portrait videos are
    sized by their width, as if turned on their side. Heights are even and
    never above the source's.
    """
    short_side = min(info.width, info.height)
    sizes: list[float] = [min(short_side, _STANDARD_SIZES[0])]
    for size in _STANDARD_SIZES:
        if size * _MIN_STEP <= sizes[-1]:
            sizes.append(size)
    if len(sizes) == 1:
        sizes.append(sizes[0] * 2 / 3)
    heights = [_even(size * info.height / short_side) for size in sizes]
    return sorted(set(heights[:_MAX_RUNGS]), reverse=True)


def default_maxrate_kbps(height: int) -> int:
    """A peak rate for an H.264 rung ``height`` pixels tall, in kbit/s.

    3 Mbit/s at 720p, growing with the picture's area to the power 0.75:
    about 5.5 Mbit/s at 1080p, 1 Mbit/s at 360p and 600 kbit/s at 240p.
    """
    area_factor = math.pow(height / 720, 1.5)
    return max(100, round(3000 * area_factor / 50) * 50)


def package_hls(
    source: Path,
    folder: Path,
    info: MediaInfo,
    rungs: list[Rung],
    *,
    segment_seconds: float = SEGMENT_SECONDS,
    preset: str = "medium",
    on_progress: Callable[[float], None] | None = None,
    stall_timeout: float = 120.0,
) -> Ladder:
    """Encode ``source`` (described by ``info``) as an HLS ladder in ``folder``.

    ``folder`` gets ``master.m3u8``, one folder per rung (``<name>/index.m3u8``
    with its init and ``seg_NNNNN.m4s`` segments) and ``audio/`` when the source
    has audio. Every rung has a keyframe each ``segment_seconds`` and nowhere
    else. ``preset`` is an x264 preset name, mapped to a similar one for
    SVT-AV1. ``on_progress`` gets the seconds of video written so far.

    ``folder`` appears, or replaces an earlier ladder, only once the whole
    ladder is written. A failure, a stall of ``stall_timeout`` seconds or an
    output clearly shorter than ``info.duration`` raises MediaError. Rungs
    taller than the source, of odd height, repeated, or with an unknown codec,
    CRF or preset raise ValueError.
    """
    names = _rung_names(rungs, info, preset)
    if segment_seconds <= 0:
        raise ValueError(f"segment_seconds must be positive, not {segment_seconds}")
    if "%" in str(folder.absolute()):
        # The HLS muxer reads % in its output names as a pattern.
        raise ValueError(f"The ladder folder must not contain '%': {folder}")

    with _staged_folder(folder) as staged:
        run_ffmpeg(
            _arguments(source, staged, info, rungs, names, segment_seconds, preset),
            action="package the video for streaming",
            on_progress=_rising(on_progress) if on_progress else None,
            stall_timeout=stall_timeout,
        )
        ladder = _write_master(staged, info, names, segment_seconds)

    return _relocated(ladder, staged, folder)


def _rung_names(rungs: list[Rung], info: MediaInfo, preset: str) -> list[str]:
    if not rungs:
        raise ValueError("A ladder needs at least one rung.")
    if preset not in _SVT_PRESETS:
        raise ValueError(f"Unknown preset {preset!r}.")
    names = []
    for rung in rungs:
        if rung.codec not in _ENCODERS:
            raise ValueError(f"Unknown codec {rung.codec!r} for a rung.")
        low, high = _CRF_RANGES[rung.codec]
        if not low <= rung.crf <= high:
            raise ValueError(f"CRF {rung.crf} is outside {low:g}-{high:g}.")
        if rung.height < 2 or rung.height % 2 or rung.height > info.height:
            raise ValueError(
                f"Rung height {rung.height} must be even, and at most the "
                f"source's {info.height}."
            )
        suffix = "" if rung.codec == "h264" else f"-{rung.codec}"
        names.append(f"{rung.height}p{suffix}")
    if len(set(names)) < len(names):
        raise ValueError(f"Two rungs share a height and codec: {names}")
    return names


def _arguments(
    source: Path,
    staged: Path,
    info: MediaInfo,
    rungs: list[Rung],
    names: list[str],
    segment_seconds: float,
    preset: str,
) -> list[str]:
    has_audio = info.audio_codec is not None
    arguments = ["-i", file_url(source)]
    copied = [rung.encoded for rung in rungs if rung.encoded is not None]
    for encoded in copied:
        arguments += ["-i", file_url(encoded)]
    if len(copied) < len(rungs):
        arguments += ["-filter_complex", _filter_graph(rungs)]
    # Output streams in rung order: the index of each is its rung's.
    inputs = iter(range(1, len(copied) + 1))
    for index, rung in enumerate(rungs):
        source_stream = f"{next(inputs)}:V:0" if rung.encoded else f"[v{index}]"
        arguments += ["-map", source_stream]
    if has_audio:
        arguments += ["-map", "0:a:0"]

    keyint = _keyint(info, segment_seconds)
    for index, rung in enumerate(rungs):
        if rung.encoded is not None:
            arguments += [f"-c:v:{index}", "copy"]
            continue
        arguments += _video_options(index, rung, preset, keyint)
        arguments += [
            f"-pix_fmt:v:{index}", "yuv420p",
            f"-force_key_frames:v:{index}",
            f"expr:gte(t,n_forced*{segment_seconds:g})",
        ]  # fmt: skip
    if has_audio:
        arguments += ["-c:a", "aac", "-b:a", _AUDIO_BITRATE, "-ac", "2"]

    # The HLS muxer makes the folders and names the files itself from these
    # patterns, with %v the rendition's name; it does not understand a file:
    # URL there. An absolute path cannot be read as another protocol either.
    arguments += [
        "-f", "hls",
        "-hls_time", f"{segment_seconds:g}",
        "-hls_playlist_type", "vod",
        "-hls_segment_type", "fmp4",
        "-hls_flags", "independent_segments",
        "-start_number", "1",
        "-master_pl_name", MASTER_PLAYLIST,
        "-var_stream_map", _stream_map(names, has_audio),
        "-hls_segment_filename", str(staged.absolute() / "%v" / "seg_%05d.m4s"),
        str(staged.absolute() / "%v" / MEDIA_PLAYLIST),
    ]  # fmt: skip
    return arguments


def _filter_graph(rungs: list[Rung]) -> str:
    # Each rung gets square pixels at the source's display aspect and an even
    # width; the height is clamped to the decoded picture, which FFmpeg may
    # have turned upright, so that no rung is an upscale.
    encoded = [index for index, rung in enumerate(rungs) if rung.encoded is None]
    branches = "".join(f"[s{index}]" for index in encoded)
    chains = [f"[0:V:0]split={len(encoded)}{branches}"]
    for index in encoded:
        rung = rungs[index]
        size = f"w='max(2,2*round(oh*dar/2))':h='min({rung.height},2*trunc(ih/2))'"
        chains.append(f"[s{index}]scale={size},setsar=1[v{index}]")
    return ";".join(chains)


def _keyint(info: MediaInfo, segment_seconds: float) -> int:
    # The forced keyframes on the segment grid are the only ones wanted: an
    # encoder's own limit is set to two segments so that it never comes first.
    frame_rate = info.frame_rate or 60.0
    return max(2, math.ceil(2 * segment_seconds * frame_rate))


def _video_options(index: int, rung: Rung, preset: str, keyint: int) -> list[str]:
    stream = f"v:{index}"
    options = [f"-c:{stream}", _ENCODERS[rung.codec], f"-g:{stream}", str(keyint)]
    # Scene-cut keyframes would land at different frames in different rungs and
    # shift their segment boundaries apart.
    if rung.codec == "h264":
        options += [
            f"-preset:{stream}", preset,
            f"-profile:{stream}", "high",
            f"-crf:{stream}", f"{rung.crf:g}",
            f"-x264-params:{stream}", "scenecut=0",
        ]  # fmt: skip
    elif rung.codec == "hevc":
        options += [
            f"-preset:{stream}", preset,
            f"-crf:{stream}", f"{rung.crf:g}",
            f"-x265-params:{stream}", "scenecut=0:open-gop=0:log-level=error",
            # Without it x265 makes forced keyframes open-GOP I frames, which a
            # segment cannot start with.
            f"-forced-idr:{stream}", "1",
            # Apple players play HEVC in MP4 only under the hvc1 sample entry.
            f"-tag:{stream}", "hvc1",
        ]  # fmt: skip
    else:
        options += [
            f"-preset:{stream}", str(_SVT_PRESETS[preset]),
            # FFmpeg's -crf for SVT-AV1 takes whole numbers only; the encoder's
            # own parameter takes fractions and wins.
            f"-crf:{stream}", str(round(rung.crf)),
            f"-svtav1-params:{stream}", f"crf={rung.crf:g}:scd=0",
        ]  # fmt: skip
    if rung.maxrate_kbps is not None:
        options += [
            f"-maxrate:{stream}", f"{rung.maxrate_kbps}k",
            f"-bufsize:{stream}", f"{2 * rung.maxrate_kbps}k",
        ]  # fmt: skip
    return options


def _stream_map(names: list[str], has_audio: bool) -> str:
    group = f",agroup:{_AUDIO_GROUP}" if has_audio else ""
    entries = [f"v:{index}{group},name:{name}" for index, name in enumerate(names)]
    if has_audio:
        entries.append(f"a:0{group},name:{AUDIO_FOLDER},default:yes")
    return " ".join(entries)


def _write_master(
    staged: Path, info: MediaInfo, names: list[str], segment_seconds: float
) -> Ladder:
    """Rewrite FFmpeg's master playlist with bit rates measured on the segments.

    FFmpeg's BANDWIDTH leaves out the audio rendition and can fall below its own
    AVERAGE-BANDWIDTH; the HLS spec wants the peak of what a player downloads.
    Its codec strings and resolutions are kept.
    """
    variants = _read_master(staged / MASTER_PLAYLIST)
    audio: _Rates | None = None
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    if info.audio_codec is not None:
        audio_playlist = _read_media_playlist(staged / AUDIO_FOLDER / MEDIA_PLAYLIST)
        audio = _rates(staged / AUDIO_FOLDER, audio_playlist)
        lines.append(
            f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="{_AUDIO_GROUP}",NAME="Audio",'
            f'DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",'
            f'URI="{AUDIO_FOLDER}/{MEDIA_PLAYLIST}"'
        )

    renditions = []
    for name in names:
        uri = f"{name}/{MEDIA_PLAYLIST}"
        if uri not in variants:
            raise MediaError(
                f"Could not package the video for streaming: no {name} rendition "
                "was written."
            )
        playlist = _read_media_playlist(staged / uri)
        ensure_complete(playlist.duration, info.duration)
        rates = _rates(staged / name, playlist)
        codecs = variants[uri]["CODECS"].strip('"')
        width, height = (int(side) for side in variants[uri]["RESOLUTION"].split("x"))

        attributes = [
            f"BANDWIDTH={rates.peak + (audio.peak if audio else 0)}",
            f"AVERAGE-BANDWIDTH={rates.average + (audio.average if audio else 0)}",
            f'CODECS="{codecs}"',
            f"RESOLUTION={width}x{height}",
        ]
        if info.frame_rate:
            attributes.append(f"FRAME-RATE={info.frame_rate:.3f}")
        if audio is not None:
            attributes.append(f'AUDIO="{_AUDIO_GROUP}"')
        lines += ["#EXT-X-STREAM-INF:" + ",".join(attributes), uri]

        renditions.append(
            LadderRendition(
                name=name,
                width=width,
                height=height,
                codec=codecs.split(",")[0],
                playlist=staged / uri,
                bytes=rates.bytes,
                bitrate=rates.average,
                peak_bitrate=rates.peak,
                segments=len(playlist.segments),
            )
        )

    master = staged / MASTER_PLAYLIST
    master.write_text("\n".join(lines) + "\n")
    audio_path = staged / AUDIO_FOLDER / MEDIA_PLAYLIST if audio else None
    return Ladder(master, renditions, audio_path, segment_seconds)


def _read_master(path: Path) -> dict[str, dict[str, str]]:
    """Map each variant's URI to the attributes of its EXT-X-STREAM-INF tag."""
    variants = {}
    attributes: dict[str, str] | None = None
    for line in path.read_text().splitlines():
        if line.startswith("#EXT-X-STREAM-INF:"):
            attributes = dict(_ATTRIBUTE.findall(line.partition(":")[2]))
        elif line and not line.startswith("#") and attributes is not None:
            variants[line] = attributes
            attributes = None
    return variants


def _read_media_playlist(path: Path) -> _MediaPlaylist:
    text = path.read_text()
    target = _TARGET_DURATION.search(text)
    init = _INIT_SEGMENT.search(text)
    if target is None or init is None:
        raise MediaError(
            "Could not package the video for streaming: FFmpeg wrote a playlist "
            "without a target duration or init segment."
        )
    segments = [(name, float(seconds)) for seconds, name in _SEGMENT.findall(text)]
    return _MediaPlaylist(int(target.group(1)), init.group(1), segments)


def _rates(folder: Path, playlist: _MediaPlaylist) -> _Rates:
    # The HLS spec (RFC 8216bis) defines the peak segment bit rate as the
    # highest rate of any run of consecutive segments lasting 0.5 to 1.5 target
    # durations, and both rates over media segments only.
    sizes = [(folder / name).stat().st_size for name, _ in playlist.segments]
    durations = [seconds for _, seconds in playlist.segments]
    total = sum(durations)
    average = sum(sizes) * 8 / total if total > 0 else 0.0

    low, high = 0.5 * playlist.target_duration, 1.5 * playlist.target_duration
    peak = average
    for start in range(len(sizes)):
        size, seconds = 0, 0.0
        for end in range(start, len(sizes)):
            size += sizes[end]
            seconds += durations[end]
            if seconds > high:
                break
            if seconds >= low:
                peak = max(peak, size * 8 / seconds)

    init_size = (folder / playlist.init).stat().st_size
    return _Rates(init_size + sum(sizes), round(average), math.ceil(peak))


def _relocated(ladder: Ladder, staged: Path, folder: Path) -> Ladder:
    def moved(path: Path) -> Path:
        return folder / path.relative_to(staged)

    return dataclasses.replace(
        ladder,
        master=moved(ladder.master),
        renditions=[
            dataclasses.replace(rendition, playlist=moved(rendition.playlist))
            for rendition in ladder.renditions
        ],
        audio_playlist=moved(ladder.audio_playlist) if ladder.audio_playlist else None,
    )


@contextmanager
def _staged_folder(folder: Path) -> Iterator[Path]:
    # A player or a cleanup job never sees half a ladder: FFmpeg writes into a
    # sibling folder (same file system, so renames are atomic), which replaces
    # the target only on success. An earlier ladder is moved aside first, since
    # a folder cannot be renamed over one that has files in it.
    token = secrets.token_hex(6)
    staged = folder.with_name(f".{folder.name}.{token}.part")
    retired = folder.with_name(f".{folder.name}.{token}.old")
    # Made before FFmpeg runs, so that a missing or read-only parent is an
    # OSError here rather than an FFmpeg failure blamed on the upload.
    staged.mkdir()
    try:
        yield staged
        if folder.exists():
            folder.rename(retired)
        try:
            staged.rename(folder)
        except OSError:
            if retired.exists():
                retired.rename(folder)
            raise
    finally:
        shutil.rmtree(staged, ignore_errors=True)
        shutil.rmtree(retired, ignore_errors=True)


def _rising(on_progress: Callable[[float], None]) -> Callable[[float], None]:
    # With several outputs FFmpeg reports the time of whichever stream it last
    # wrote, which can step back; a caller expects progress to only rise.
    reported = -1.0

    def report(seconds: float) -> None:
        nonlocal reported
        if seconds > reported:
            reported = seconds
            on_progress(seconds)

    return report


def _even(size: float) -> int:
    return max(2, int(size) // 2 * 2)
