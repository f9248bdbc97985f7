"""Probing, converting and taking posters from video files.

The package knows files only: it takes paths and returns results or raises
:class:`MediaError`.
"""

from reelhouse.media.encode import (
    EncodeResult,
    can_remux,
    encode_mp4,
    make_poster,
    remux_mp4,
)
from reelhouse.media.errors import MediaError
from reelhouse.media.probe import MediaInfo, probe

__all__ = [
    "EncodeResult",
    "MediaError",
    "MediaInfo",
    "can_remux",
    "encode_mp4",
    "make_poster",
    "probe",
    "remux_mp4",
]
