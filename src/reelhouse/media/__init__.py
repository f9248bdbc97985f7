"""Probing, scoring, compressing and packaging video files.

The package knows files only: it takes paths and returns results or raises
:class:`MediaError`. Importing it loads PyAV: API code that only needs the
names of codecs and profiles finds them in :mod:`reelhouse.settings`.
"""

from reelhouse.media.codecs import Codec, Profile
from reelhouse.media.encode import (
    EncodeResult,
    can_remux,
    encode_mp4,
    make_poster,
    remux_mp4,
)
from reelhouse.media.errors import MediaError
from reelhouse.media.hls import Ladder, Rung, ladder_heights, package_hls
from reelhouse.media.probe import MediaInfo, probe
from reelhouse.media.storyboard import Storyboard, make_storyboard
from reelhouse.media.targeting import Target, TargetedEncode, encode_targeted

__all__ = [
    "Codec",
    "EncodeResult",
    "Ladder",
    "MediaError",
    "MediaInfo",
    "Profile",
    "Rung",
    "Storyboard",
    "Target",
    "TargetedEncode",
    "can_remux",
    "encode_mp4",
    "encode_targeted",
    "ladder_heights",
    "make_poster",
    "make_storyboard",
    "package_hls",
    "probe",
    "remux_mp4",
]
