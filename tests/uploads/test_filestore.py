"""The file store on its own: bytes and offsets across write-behind steps."""

import asyncio
import hashlib
import itertools
import os
from collections.abc import AsyncIterator
from pathlib import Path

from reelhouse.uploads.filestore import WRITE_BEHIND, FileUploadStore
from reelhouse.uploads.store import UploadInfo

MIB = 1024 * 1024


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_writes_across_write_behind_steps_keep_every_byte(tmp_path: Path) -> None:
    store = FileUploadStore(tmp_path)
    length = 2 * WRITE_BEHIND + 3 * MIB + 17
    store.create(UploadInfo(id="b" * 40, length=length, offset=0, owner="account"))
    data = os.urandom(length)
    # Requests of odd sizes, so that steps are crossed mid-chunk and mid-request.
    cuts = [0, 5 * MIB + 1, WRITE_BEHIND + 7, 2 * WRITE_BEHIND + MIB, length]

    offsets = [
        asyncio.run(store.write("b" * 40, _chunks(data[start:end], 1024 * 1024 - 3)))
        for start, end in itertools.pairwise(cuts)
    ]

    assert offsets == cuts[1:]
    assert store.get("b" * 40).offset == length
    stored = (tmp_path / ("b" * 40)).read_bytes()
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()
