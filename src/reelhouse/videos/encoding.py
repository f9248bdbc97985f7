"""What a video asks of the compression engine: a quality, a profile, a codec.

An upload may set each in its tus metadata (``quality``, ``profile``,
``codec``); what it leaves out comes from its account's defaults, and then
from the server's settings.
"""

from typing import Any, get_args

from reelhouse import errors
from reelhouse.errors import ReelhouseError
from reelhouse.settings import CodecName, ProfileName, Settings

QUALITY_RANGE = (60.0, 99.0)
# The worst frames may fall this far below the mean target, and no further.
P5_ALLOWANCE = 5.0


def requested(metadata: dict[str, str]) -> dict[str, Any]:
    """The encoding fields ``metadata`` sets, checked; raises otherwise.

    ``metadata`` is an upload's tus metadata, or an account's defaults.
    """
    wanted: dict[str, Any] = {}
    quality = metadata.get("quality", "").strip()
    if quality:
        try:
            value = float(quality)
        except ValueError:
            raise _invalid(f"quality {quality!r} is not a number.") from None
        if not QUALITY_RANGE[0] <= value <= QUALITY_RANGE[1]:
            raise _invalid(f"quality {value:g} is outside 60 to 99.")
        wanted["quality"] = value
    for key, choices in (("profile", ProfileName), ("codec", CodecName)):
        given = metadata.get(key, "").strip().lower()
        if given:
            names: tuple[str, ...] = get_args(choices)
            if given not in names:
                raise _invalid(f"{key} {given!r} is not one of {', '.join(names)}.")
            wanted[key] = given
    return wanted


def resolved(
    upload: dict[str, Any], account: dict[str, Any], settings: Settings
) -> tuple[float, str, str]:
    """The quality, profile and codec to encode with."""
    wanted = {**account, **upload}
    return (
        float(wanted.get("quality", settings.quality)),
        str(wanted.get("profile", settings.profile)),
        str(wanted.get("codec", settings.codec)),
    )


def _invalid(detail: str) -> ReelhouseError:
    return ReelhouseError(
        errors.ENCODING_INVALID, f"{detail} {errors.ENCODING_INVALID.message}"
    )
