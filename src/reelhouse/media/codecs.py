"""The video encoders Reelhouse drives, and how each profile sets them.

A profile trades encoding time for bytes: ``fast`` predicts its settings from
one cheap probe, ``balanced`` searches for them on every scene, ``max`` uses the
slowest presets and the widest search. The quality scale (CRF) runs the other
way from VMAF: a higher CRF means fewer bytes and a lower score.
"""

import enum
from dataclasses import dataclass


class Codec(enum.StrEnum):
    H264 = "h264"
    HEVC = "hevc"
    AV1 = "av1"


class Profile(enum.StrEnum):
    FAST = "fast"
    BALANCED = "balanced"
    MAX = "max"


@dataclass(frozen=True)
class Effort:
    """What one profile spends on one encoder."""

    preset: str
    """The encoder preset, of probes and kept encodes alike: at one CRF a
    faster preset scores lower, so probes at another preset mislead."""
    probe_seconds: float | None
    """How much of a scene a probe encodes (its middle); None: all of it."""
    probes: int
    """Probe encodes per scene at most; 1 means predicted, not searched."""
    probe_subsample: int
    """Score every n-th frame of a probe."""
    verify_subsample: int
    """Score every n-th frame of the finished encode."""


@dataclass(frozen=True)
class Encoder:
    codec: Codec
    library: str
    """FFmpeg's name for the encoder."""
    crf_range: tuple[int, int]
    """The lowest and highest CRF the search may pick."""
    first_crf: int
    """Where a search starts: usually near the answer for ordinary video."""
    points_per_crf: float
    """Roughly how much VMAF one CRF step costs near a score of 95."""
    efforts: dict[Profile, Effort]

    def equivalent_crf(self, crf: float, other: "Encoder") -> float:
        """The CRF of ``other`` that scores about as ``crf`` does here.

        Each encoder's scale is anchored at its usual answer (``first_crf``)
        and stepped by how much VMAF one step costs; the result stays in
        ``other``'s range.
        """
        steps = (crf - self.first_crf) * self.points_per_crf / other.points_per_crf
        low, high = other.crf_range
        return min(high, max(low, other.first_crf + steps))

    def arguments(self, crf: int, preset: str, *, threads: int = 0) -> list[str]:
        """Output options that encode the video at ``crf`` with ``preset``.

        Encodes of one video at different CRFs get the same stream headers,
        so that they join without re-encoding: an MP4 keeps only the first
        part's headers, and x264 otherwise writes the CRF into them (its
        ``stitchable`` option stops that), x265 its options (``info=0``).
        """
        common = ["-pix_fmt", "yuv420p"]
        if self.codec is Codec.H264:
            threading = ["-threads", str(threads)] if threads else []
            return [
                "-c:v", "libx264", "-preset", preset, "-crf", str(crf),
                "-profile:v", "high", "-x264-params", "stitchable=1",
                *threading, *common,
            ]  # fmt: skip
        if self.codec is Codec.HEVC:
            pools = f":pools={threads}" if threads else ""
            return [
                "-c:v", "libx265", "-preset", preset, "-crf", str(crf),
                "-x265-params", f"log-level=error:info=0{pools}",
                "-tag:v", "hvc1",  # Apple players require this sample entry
                *common,
            ]  # fmt: skip
        parallel = f":lp={threads}" if threads else ""
        return [
            "-c:v", "libsvtav1", "-preset", preset, "-crf", str(crf),
            "-svtav1-params", f"tune=0{parallel}",
            *common,
        ]  # fmt: skip


ENCODERS: dict[Codec, Encoder] = {
    Codec.H264: Encoder(
        codec=Codec.H264,
        library="libx264",
        crf_range=(14, 40),
        first_crf=24,
        points_per_crf=1.0,
        efforts={
            Profile.FAST: Effort("faster", 2.0, 1, 5, 5),
            Profile.BALANCED: Effort("medium", None, 4, 5, 5),
            Profile.MAX: Effort("slower", None, 6, 1, 1),
        },
    ),
    Codec.HEVC: Encoder(
        codec=Codec.HEVC,
        library="libx265",
        crf_range=(16, 40),
        first_crf=26,
        points_per_crf=1.0,
        efforts={
            Profile.FAST: Effort("faster", 2.0, 1, 5, 5),
            Profile.BALANCED: Effort("medium", None, 4, 5, 5),
            Profile.MAX: Effort("slow", None, 6, 1, 1),
        },
    ),
    Codec.AV1: Encoder(
        codec=Codec.AV1,
        library="libsvtav1",
        crf_range=(18, 58),
        first_crf=36,
        points_per_crf=0.5,
        efforts={
            Profile.FAST: Effort("10", 2.0, 1, 5, 5),
            Profile.BALANCED: Effort("8", None, 4, 5, 5),
            Profile.MAX: Effort("5", None, 6, 1, 1),
        },
    ),
}
