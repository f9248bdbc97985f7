"""Probing, converting and taking posters from video files.

The package knows files only: it takes paths and returns results or raises
:class:`MediaError`.
"""

from reelhouse.media.encode import EncodeResult, encode_mp4, make_poster
from reelhouse.media.errors import MediaError
from reelhouse.media.probe import MediaInfo, probe

__all__ = [
    "EncodeResult",
    "MediaError",
    "MediaInfo",
    "encode_mp4",
    "make_poster",
    "probe",
]
