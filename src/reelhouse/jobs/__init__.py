"""The job queue (Huey): SQLite in the data folder, or Redis when configured."""

from reelhouse.jobs.queue import EmbeddedConsumer, get_queue

__all__ = ["EmbeddedConsumer", "get_queue"]
