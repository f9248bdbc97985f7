"""The database: engine, sessions, the declarative base and migrations."""

from reelhouse.db.base import Base, utcnow
from reelhouse.db.database import Database, get_database

__all__ = ["Base", "Database", "get_database", "utcnow"]
