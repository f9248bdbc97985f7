"""The jobs on the queue (processing videos, and the periodic sweeps), for
servers and workers alike."""

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
    """The video jobs on the queue; also the :class:`Jobs` the processor uses."""

    process_task: TaskWrapper
    chunk_task: TaskWrapper
    sweep: TaskWrapper

    def process(self, video_id: str, delay: float = 0.0) -> None:
        _run(self.process_task, (video_id,), delay)

    def encode_chunk(self, video_id: str, position: int, delay: float = 0.0) -> None:
        _run(self.chunk_task, (video_id, position), delay)


def _run(task: TaskWrapper, args: tuple[object, ...], delay: float) -> None:
    if delay > 0:
        task.schedule(args=args, delay=delay)
    else:
        task(*args)


def _processor() -> Processor:
    return Processor(get_database(), get_blob_store(), get_settings(), video_tasks())


@cache
def video_tasks() -> VideoTasks:
    queue = get_queue()

    @queue.task(name="process_video")  # type: ignore[untyped-decorator]
    def process_video(video_id: str) -> None:
        _processor().process(video_id)

    @queue.task(name="encode_video_chunk")  # type: ignore[untyped-decorator]
    def encode_video_chunk(video_id: str, position: int) -> None:
        _processor().encode_chunk(video_id, position)

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

    @queue.periodic_task(crontab(minute="*"), name="fold_playback_views")  # type: ignore[untyped-decorator]
    def fold_playback_views() -> None:
        from reelhouse.analytics.events import fold_pending

        with get_database().session() as session:
            fold_pending(session)

    @queue.periodic_task(crontab(minute="17", hour="*"), name="purge_old_events")  # type: ignore[untyped-decorator]
    def purge_old_events() -> None:
        from reelhouse.analytics.events import purge

        with get_database().session() as session:
            removed = purge(session)
        if removed:
            log.info("events_purged count=%d", removed)

    return VideoTasks(
        process_task=process_video,
        chunk_task=encode_video_chunk,
        sweep=recover_stalled_videos,
    )


def recover_stalled() -> int:
    """Queue again every video whose processing run died; returns how many."""
    video_ids = stalled(get_database(), get_settings().job_lease_seconds)
    for video_id in video_ids:
        log.info("video_requeued video_id=%s", video_id)
        video_tasks().process(video_id)
    return len(video_ids)
