"""Uploads as files on the local disk: ``<id>`` holds the bytes, ``<id>.info``
the JSON description.

The offset of an unfinished upload is the data file's size, never a number
kept on the side: whatever reached the file before a crash counts, and
nothing more (bytes written survive a killed process in the page cache).
"""

import json
import os
import re
import shutil
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reelhouse.uploads.store import ChecksumMismatch, UploadInfo, UploadNotFound

# What the handler makes an upload's id of (40 hex digits); anything else
# names no upload here, and is never let near the file system.
_UPLOAD_ID = re.compile(r"[0-9a-f]{40}")


def _file_name(upload_id: str) -> str:
    if not _UPLOAD_ID.fullmatch(upload_id):
        raise UploadNotFound(upload_id)
    return upload_id


class FileUploadStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _data(self, upload_id: str) -> Path:
        return self.root / _file_name(upload_id)

    def _staged(self, upload_id: str) -> Path:
        return self.root / f"{_file_name(upload_id)}.staged"

    def _info(self, upload_id: str) -> Path:
        return self.root / f"{_file_name(upload_id)}.info"

    def create(self, info: UploadInfo) -> None:
        info.created_at = info.created_at or datetime.now(UTC)
        self._data(info.id).touch(exist_ok=False)
        self._save(info)

    def get(self, upload_id: str) -> UploadInfo:
        try:
            raw: dict[str, Any] = json.loads(self._info(upload_id).read_text())
        except FileNotFoundError as error:
            raise UploadNotFound(upload_id) from error
        info = UploadInfo(
            id=raw["id"],
            length=raw["length"],
            offset=raw["offset"],
            owner=raw["owner"],
            metadata=raw["metadata"],
            created_at=datetime.fromisoformat(raw["created_at"]),
            finished=raw["finished"],
            partial=raw.get("partial", False),
            parts=raw.get("parts", []),
        )
        try:
            data = self._data(upload_id).stat()
        except FileNotFoundError as error:
            if not info.finished:  # terminated between the two reads
                raise UploadNotFound(upload_id) from error
        else:
            info.active_at = datetime.fromtimestamp(data.st_mtime, UTC)
            if not info.finished:
                info.offset = data.st_size
        return info

    async def write(self, upload_id: str, chunks: AsyncIterator[bytes]) -> int:
        try:
            fd = os.open(self._data(upload_id), os.O_WRONLY | os.O_APPEND)
        except FileNotFoundError as error:
            raise UploadNotFound(upload_id) from error
        try:
            behind = WriteBehind(fd)
            async for chunk in chunks:
                # A plain write to the page cache is fast enough to stay on the
                # event loop; a thread hop per chunk costs more than it saves.
                _write_all(fd, chunk)
                behind.wrote(len(chunk))
            # The offset is the file's size; no need to read the .info again.
            return behind.end
        finally:
            os.close(fd)

    async def write_staged(
        self,
        upload_id: str,
        chunks: AsyncIterator[bytes],
        verified: Callable[[], bool],
    ) -> int:
        staged = self._staged(upload_id)
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            async for chunk in chunks:
                _write_all(fd, chunk)
        finally:
            os.close(fd)
        try:
            if not verified():
                raise ChecksumMismatch(upload_id)
            _append_file(self._data(upload_id), staged)
        finally:
            staged.unlink(missing_ok=True)
        return self._data(upload_id).stat().st_size

    def concatenate(self, final_id: str, part_ids: list[str]) -> None:
        target = self._data(final_id)
        for part_id in part_ids:
            _append_file(target, self._data(part_id))

    def idle_since(self, moment: datetime) -> list[str]:
        idle = []
        for upload_id in self.ids():
            try:
                info = self.get(upload_id)
            except UploadNotFound:
                continue
            open_ended = not info.finished or info.partial
            last = info.active_at or info.created_at
            if open_ended and last is not None and last < moment:
                idle.append(upload_id)
        return idle

    def finish(self, upload_id: str) -> bool:
        info = self.get(upload_id)
        if info.finished:
            return False
        self._flush(upload_id)
        info.finished = True
        self._save(info)
        return True

    def declare_length(self, upload_id: str, length: int) -> None:
        info = self.get(upload_id)
        info.length = length
        self._save(info)

    def terminate(self, upload_id: str) -> None:
        self._info(upload_id).unlink(missing_ok=True)
        self._data(upload_id).unlink(missing_ok=True)
        self._staged(upload_id).unlink(missing_ok=True)

    def data_path(self, upload_id: str) -> str:
        return str(self._data(upload_id))

    def ids(self) -> list[str]:
        return [path.name.removesuffix(".info") for path in self.root.glob("*.info")]

    def _flush(self, upload_id: str) -> None:
        # A finished upload is about to be handed on; make its bytes survive a
        # power cut, not only a crashed process.
        path = self._data(upload_id)
        if path.exists():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _save(self, info: UploadInfo) -> None:
        raw = {
            "id": info.id,
            "length": info.length,
            "offset": info.offset,
            "owner": info.owner,
            "metadata": info.metadata,
            "created_at": (info.created_at or datetime.now(UTC)).isoformat(),
            "finished": info.finished,
            "partial": info.partial,
            "parts": info.parts,
        }
        temporary = self._info(info.id).with_suffix(".info.tmp")
        temporary.write_text(json.dumps(raw))
        os.replace(temporary, self._info(info.id))


WRITE_BEHIND = 32 * 1024 * 1024
REACH_BACK = 4 * WRITE_BEHIND


class WriteBehind:
    """Sends an upload's bytes to the disk while they arrive, not all at the end.

    Each time the file crosses a multiple of ``WRITE_BEHIND`` bytes, whichever
    request is appending, the kernel is asked to start writing the new bytes
    out and to forget the pages of the last few steps, which are on the disk
    by then. The sync of a finished upload has almost nothing left to do, and
    an upload recycles a bounded slice of the page cache instead of filling
    it with dirty pages: fresh pages cost a virtual machine far more than
    reused ones (writes ran up to twice as fast here), and other work would
    wait behind their writeback.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.end = os.lseek(fd, 0, os.SEEK_END)
        self._next = self.end - self.end % WRITE_BEHIND + WRITE_BEHIND

    def wrote(self, count: int) -> None:
        self.end += count
        if self.end >= self._next and hasattr(os, "posix_fadvise"):  # not on macOS
            # Pages still being written are kept by the kernel; the next
            # call, whose range reaches back a few steps, lets them go.
            start = max(0, self._next - WRITE_BEHIND - REACH_BACK)
            os.posix_fadvise(self.fd, start, self.end - start, os.POSIX_FADV_DONTNEED)
            self._next = self.end - self.end % WRITE_BEHIND + WRITE_BEHIND


def _write_all(fd: int, chunk: bytes) -> None:
    view = memoryview(chunk)
    while view:
        view = view[os.write(fd, view) :]


def _append_file(target: Path, source: Path) -> None:
    """Append ``source`` to ``target``, copying inside the kernel where it can."""
    with source.open("rb") as reading, target.open("r+b") as writing:
        remaining = os.fstat(reading.fileno()).st_size
        at = writing.seek(0, os.SEEK_END)
        try:
            while remaining:
                copied = os.copy_file_range(
                    reading.fileno(), writing.fileno(), remaining, offset_dst=at
                )
                if copied == 0:
                    break
                remaining -= copied
                at += copied
        except OSError:
            # Some file systems refuse in-kernel copies; copy through memory.
            writing.seek(at)
            shutil.copyfileobj(reading, writing, 1 << 20)
