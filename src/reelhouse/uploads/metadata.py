"""The Upload-Metadata header: comma-separated ``key base64value`` pairs."""

import base64
import binascii


class MetadataError(ValueError):
    pass


def parse_metadata(header: str | None) -> dict[str, str]:
    """Decode Upload-Metadata; values must be base64 of UTF-8 text.

    Tolerates what real clients send: an empty header (tuspy), spaces after
    commas (aiotus), and a key with an empty value with or without its
    separating space (tus.py, tus-js-client).
    """
    pairs: dict[str, str] = {}
    if not header:
        return pairs
    for element in header.split(","):
        element = element.strip()
        if not element:
            continue
        key, _, encoded = element.partition(" ")
        if key in pairs:
            raise MetadataError(f"The key {key!r} appears twice.")
        try:
            value = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as error:
            raise MetadataError(
                f"The value of {key!r} is not base64-encoded UTF-8."
            ) from error
        pairs[key] = value
    return pairs


def encode_metadata(pairs: dict[str, str]) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}".rstrip()
        for key, value in pairs.items()
    )
