"""The checksum extension's algorithms and the Upload-Checksum header."""

import base64
import binascii
import hashlib
import hmac
import zlib
from collections.abc import Callable
from typing import Protocol

from reelhouse import errors
from reelhouse.errors import ReelhouseError


class _Digest(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...


class _Crc32:
    def __init__(self) -> None:
        self._value = 0

    def update(self, data: bytes, /) -> None:
        self._value = zlib.crc32(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(4, "big")


ALGORITHMS: dict[str, Callable[[], _Digest]] = {
    "sha1": hashlib.sha1,
    "md5": hashlib.md5,
    "sha256": hashlib.sha256,
    "crc32": _Crc32,
}


class Checksum:
    """The digest a client announced for a PATCH body, checked as it streams."""

    def __init__(self, header: str) -> None:
        algorithm, _, encoded = header.strip().partition(" ")
        factory = ALGORITHMS.get(algorithm.lower())
        if factory is None:
            raise ReelhouseError(
                errors.CHECKSUM_ALGORITHM_UNSUPPORTED,
                f"{algorithm!r} is not one of {', '.join(ALGORITHMS)}.",
            )
        self._digest: _Digest = factory()
        try:
            self.expected = base64.b64decode(encoded.strip(), validate=True)
        except binascii.Error as error:
            raise ReelhouseError(errors.CHECKSUM_INVALID) from error
        if len(self.expected) != len(self._digest.digest()):
            raise ReelhouseError(
                errors.CHECKSUM_INVALID,
                f"A {algorithm} digest is {len(self._digest.digest())} bytes long.",
            )

    def update(self, chunk: bytes) -> None:
        self._digest.update(chunk)

    def matches(self) -> bool:
        return hmac.compare_digest(self._digest.digest(), self.expected)
