import os
from pathlib import Path

from reelhouse.storage.blobs import MissingBlob, check_key


class LocalBlobStore:
    """Blobs as files under one folder of the local file system."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def adopt(self, key: str, source: Path) -> None:
        target = self._path(key)
        if not source.exists() and target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)

    def local_path(self, key: str) -> Path:
        path = self._path(key)
        if not path.is_file():
            raise MissingBlob(key)
        return path

    def size(self, key: str) -> int:
        return self.local_path(key).stat().st_size

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
