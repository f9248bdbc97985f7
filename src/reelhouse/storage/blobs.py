import re
from pathlib import Path
from typing import Protocol

# Keys are made by our own code, never from a user's input; the pattern is a
# second line of defence against a path escaping the store.
_KEY = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")


class InvalidKey(ValueError):
    pass


class MissingBlob(LookupError):
    pass


def check_key(key: str) -> str:
    if not _KEY.match(key) or any(part in {".", ".."} for part in key.split("/")):
        raise InvalidKey(key)
    return key


class BlobStore(Protocol):
    """Named blobs of bytes, addressed by slash-separated keys."""

    def adopt(self, key: str, source: Path) -> None:
        """Take ``source`` in as ``key``, consuming the file.

        Idempotent: when ``source`` is gone and ``key`` exists, it is a no-op,
        so a step cut short by a crash can simply run again.
        """
        ...

    def local_path(self, key: str) -> Path:
        """A path on this host from which the blob can be read.

        Raises MissingBlob when there is no such blob.
        """
        ...

    def size(self, key: str) -> int:
        """The blob's length in bytes; raises MissingBlob when absent."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove the blob; a missing blob is not an error."""
        ...
