"""The video jobs as registered on the queue, for servers and workers alike."""

import logging
from dataclasses import dataclass
from functools import cache

from huey import crontab
from huey.api import TaskWrapper

from reelhouse.db import get_database
from reelhouse.jobs import get_queue
from reelhouse.settings import get_settings
from reelhouse.storage import get_blob_store
from reelhouse.videos.processing import Processor, stalled

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoTasks:
    process: TaskWrapper
    sweep: TaskWrapper

    def enqueue(self, video_id: str) -> None:
        self.process(video_id)


@cache
def video_tasks() -> VideoTasks:
    queue = get_queue()

    @queue.task(name="process_video")  # type: ignore[untyped-decorator]
    def process_video(video_id: str) -> None:
        def retry(again: str, delay: float) -> None:
            process_video.schedule(args=(again,), delay=delay)

        processor = Processor(get_database(), get_blob_store(), get_settings(), retry)
        processor.process(video_id)

    @queue.periodic_task(crontab(minute="*"), name="recover_stalled_videos")  # type: ignore[untyped-decorator]
    def recover_stalled_videos() -> None:
        recover_stalled()

    @queue.periodic_task(crontab(minute="*/10"), name="remove_expired_uploads")  # type: ignore[untyped-decorator]
    def remove_expired_uploads() -> None:
        # Imported here: the upload server queues this module's jobs.
        from reelhouse.videos.upload_server import upload_server

        removed = upload_server().handler.remove_expired()
        if removed:
            log.info("uploads_expired count=%d", removed)

    return VideoTasks(process=process_video, sweep=recover_stalled_videos)


def recover_stalled() -> int:
    """Queue again every video whose processing run died; returns how many."""
    video_ids = stalled(get_database(), get_settings().job_lease_seconds)
    for video_id in video_ids:
        log.info("video_requeued video_id=%s", video_id)
        video_tasks().enqueue(video_id)
    return len(video_ids)
