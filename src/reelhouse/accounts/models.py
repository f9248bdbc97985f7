import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from reelhouse.db.base import Base, UTCDateTime, utcnow

WRITE_KEY_PREFIX = "wk_"


def new_write_key() -> str:
    return WRITE_KEY_PREFIX + secrets.token_urlsafe(18)


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # The account's own encoding defaults (quality, profile, codec); an upload
    # may override each, and what neither sets comes from the server settings.
    encoding: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The public key that players and Segment libraries send playback events
    # with: it can only add events, so it is no secret and is stored as is.
    # Which signing secret signs this account's playback links: rotating it
    # (a new version) voids every link signed before.
    signing_version: Mapped[int] = mapped_column(Integer, default=1)
    # Only for an account that honours playback links in the old form, which
    # were signed with an API key: that key, sealed with the server's key.
    legacy_link_key: Mapped[str | None] = mapped_column(String(300), default=None)
    write_key: Mapped[str] = mapped_column(
        String(64), unique=True, default=new_write_key
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKey(Base):
    """An API key, stored as the SHA-256 of its secret.

    Keys carry 256 random bits, so a fast hash is enough: nothing can be
    guessed by brute force, unlike a password.
    """

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
