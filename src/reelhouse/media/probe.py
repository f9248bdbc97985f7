"""What a video file holds, read with PyAV, and whether it can be decoded at all."""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import av
import av.logging
from av.container import InputContainer
from av.stream import Disposition
from av.video.stream import VideoStream

from reelhouse.media.errors import MediaError
from reelhouse.media.ffmpeg import file_url

FFmpegLog = list[tuple[int, str, str]]


@dataclass(frozen=True)
class MediaInfo:
    duration: float
    """Seconds."""
    width: int
    """Coded width of the first video stream, in pixels."""
    height: int
    frame_rate: float | None
    """Average frames per second, when the container knows it."""
    video_codec: str
    """FFmpeg's codec name, e.g. "h264" or "mpeg2video"."""
    audio_codec: str | None
    """Codec of the first audio stream; None when there is no audio."""
    bit_rate: int | None
    """Container bit rate, bits per second."""
    format_name: str
    """FFmpeg's container name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"."""
    sample_aspect: float = 1.0
    """Width of a pixel over its height (1.0 for square pixels)."""
    seek_options: tuple[str, ...] = ()
    """FFmpeg input options that decoding from a key frame past the first
    needs (see ``_seek_options``)."""
    pixel_format: str | None = None
    """FFmpeg's name for the video's pixels, e.g. "yuv420p"."""

    def seek(self, seconds: float) -> list[str]:
        """Input options that start decoding the file ``seconds`` in."""
        return ["-ss", f"{seconds:.6f}", *self.seek_options]

    @property
    def display_aspect(self) -> float:
        """Width over height of the picture as shown."""
        return self.width * self.sample_aspect / self.height


def probe(path: Path) -> MediaInfo:
    """Describe the video at ``path``, decoding its first frame to prove it plays.

    Raises MediaError when the file is empty, is not media FFmpeg can open, has no
    decodable video stream, has no known duration, or is visibly cut short. A
    missing or unreadable file raises OSError: that is not the upload's fault.
    """
    size = path.stat().st_size
    if size == 0:
        raise MediaError("The file is empty.")

    with _ffmpeg_errors() as log:
        try:
            container = av.open(file_url(path))
        except OSError:
            # av.error.PermissionError and its kin: the disk's fault, not the file's.
            raise
        except av.FFmpegError as error:
            raise MediaError(
                f"The file is not a video that can be decoded: {_cause(error, log)}"
            ) from error
        with container:
            return _inspect(container, size, log)


def ensure_complete(decodable: float, expected: float) -> None:
    """Raise MediaError when ``decodable`` seconds fall clearly short of ``expected``.

    Timestamps of the last frame and container durations differ by a frame or two
    from one tool to the next, so only a shortfall beyond that counts.
    """
    if expected - decodable > max(0.5, 0.05 * expected):
        raise MediaError(
            f"The file is truncated: only {decodable:.1f} s of {expected:.1f} s "
            "could be decoded."
        )


@contextmanager
def _ffmpeg_errors() -> Iterator[FFmpegLog]:
    # PyAV drops FFmpeg's log unless a level is set, and with it the line that
    # explains a failure ("moov atom not found"). At ERROR, FFmpeg's warnings stay
    # silent, and Capture keeps this thread's errors out of the logging module so
    # that they end up in a reason instead. PyAV also swallows a line identical to
    # the previous one, which would lose the cause of a second bad upload in a row.
    # A level the application chose wins.
    if av.logging.get_level() is None:
        av.logging.set_skip_repeated(False)
        av.logging.set_level(av.logging.ERROR)
    with av.logging.Capture() as log:
        yield log


def _cause(error: av.FFmpegError, log: FFmpegLog) -> str:
    errors = [message for level, _, message in log if level <= av.logging.ERROR]
    if errors:
        return errors[-1].strip()
    return error.strerror or str(error)


def _inspect(container: InputContainer, size: int, log: FFmpegLog) -> MediaInfo:
    video = next(
        (
            stream
            for stream in container.streams.video
            if not stream.disposition & Disposition.attached_pic
        ),
        None,
    )
    if video is None:
        raise MediaError("The file has no video stream.")

    duration = _duration(container, video)
    if duration is None:
        raise MediaError("The file does not say how long the video is.")
    _check_index(video, size, duration)

    log.clear()
    seek_options = _decode_first_frame(container, video, log)

    audio = container.streams.audio[0] if container.streams.audio else None
    return MediaInfo(
        duration=duration,
        width=video.codec_context.width,
        height=video.codec_context.height,
        frame_rate=float(video.average_rate) if video.average_rate else None,
        video_codec=video.codec.canonical_name,
        audio_codec=audio.codec.canonical_name if audio is not None else None,
        bit_rate=container.bit_rate or None,
        format_name=container.format.name,
        sample_aspect=_sample_aspect(video),
        seek_options=seek_options,
        pixel_format=video.codec_context.format.name
        if video.codec_context.format
        else None,
    )


def _sample_aspect(video: VideoStream) -> float:
    ratio = video.codec_context.sample_aspect_ratio or video.sample_aspect_ratio
    return float(ratio) if ratio else 1.0


def _duration(container: InputContainer, video: VideoStream) -> float | None:
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    if video.duration and video.time_base:
        return float(video.duration * video.time_base)
    return None


def _check_index(video: VideoStream, size: int, duration: float) -> None:
    # An MP4 lists the offset of every frame in its moov atom. When that atom sits
    # before the media data (faststart), a cut-off upload still opens and decodes
    # its first frames; only frames indexed past the end of the file betray it.
    entries = video.index_entries
    present = [entry.timestamp for entry in entries if entry.pos + entry.size <= size]
    if len(present) == len(entries) or video.time_base is None:
        return
    start = video.start_time or 0
    decodable = float((max(present) - start) * video.time_base) if present else 0.0
    ensure_complete(decodable, duration)


def _decode_first_frame(
    container: InputContainer, video: VideoStream, log: FFmpegLog
) -> tuple[str, ...]:
    """Decode the first frame; return the options a seek into the stream needs."""
    options: tuple[str, ...] = ()
    try:
        for packet in container.demux(video):
            if not options and packet.size:
                options = _seek_options(bytes(packet))
            for _frame in packet.decode():
                return options
    except av.FFmpegError as error:
        raise MediaError(
            f"The video stream could not be decoded: {_cause(error, log)}"
        ) from error
    raise MediaError("The video stream holds no frame that can be decoded.")


# x264 names its version in a message at the start of the stream, and FFmpeg's
# decoder works around the bugs of old versions (their 4:4:4 streams decode
# into garbage otherwise) only when it has read that message. Decoding from a
# later key frame never reads it, unless told the version.
_X264_VERSION = re.compile(rb"x264 - core (\d+)")


def _seek_options(first_packet: bytes) -> tuple[str, ...]:
    found = _X264_VERSION.search(first_packet)
    return ("-x264_build", found[1].decode()) if found else ()
