from functools import cache

from reelhouse.settings import get_settings
from reelhouse.storage.blobs import BlobStore
from reelhouse.storage.local import LocalBlobStore


@cache
def get_blob_store() -> BlobStore:
    """The blob store the settings name: a folder in the data folder for now."""
    # TODO(#8): S3-compatible object storage from REELHOUSE_STORAGE_URL.
    return LocalBlobStore(get_settings().data_dir / "files")
