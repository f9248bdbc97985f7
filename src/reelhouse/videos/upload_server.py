"""The tus server as this platform wires it: a store in the data folder, the
library's intake for its events, API keys for authentication."""

from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from reelhouse.accounts.auth import authenticate
from reelhouse.db import get_database
from reelhouse.public_url import public_base_url
from reelhouse.settings import get_settings
from reelhouse.storage import get_blob_store
from reelhouse.uploads import FileUploadStore, TusHandler
from reelhouse.videos.intake import VideoIntake
from reelhouse.videos.tasks import video_tasks


@dataclass(frozen=True)
class UploadServer:
    handler: TusHandler
    intake: VideoIntake


@cache
def upload_server() -> UploadServer:
    settings = get_settings()
    store = FileUploadStore(settings.data_dir / "uploads")
    intake = VideoIntake(get_database(), get_blob_store(), store, video_tasks().process)
    handler = TusHandler(
        store,
        intake,
        authenticate,
        lambda request: public_base_url(request, settings),
        max_size=settings.max_upload_bytes,
        lock_timeout=settings.upload_lock_timeout,
        body_timeout=settings.upload_body_timeout,
        lifetime=timedelta(hours=settings.upload_lifetime_hours),
    )
    return UploadServer(handler, intake)
