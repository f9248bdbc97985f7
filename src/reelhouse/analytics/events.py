"""Stored playback events: written once per messageId, read back per video."""

import base64
import binascii
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, delete, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from reelhouse import errors
from reelhouse.accounts.models import Account
from reelhouse.analytics.ingest import Call
from reelhouse.analytics.models import AnalyticsMark, PlaybackEvent, PlaybackView
from reelhouse.analytics.views import fold
from reelhouse.db.base import utcnow
from reelhouse.errors import ReelhouseError
from reelhouse.videos.models import Video

RETENTION = timedelta(days=90)
# The mark of the last event whose session is folded into its view.
FOLDED_MARK = "views_folded_through"
# Sessions folded together, their events read in one query.
FOLD_SESSIONS = 500


def account_for_write_key(session: Session, write_key: str | None) -> str:
    """The account a write key belongs to; a 401 error for none or an unknown one."""
    account_id = None
    if write_key:
        account_id = session.scalar(
            select(Account.id).where(Account.write_key == write_key)
        )
    if account_id is None:
        raise ReelhouseError(errors.WRITE_KEY_INVALID)
    return account_id


def own_videos_only(
    session: Session, account_id: str, calls: Sequence[Call]
) -> list[Call]:
    """The calls that name no video, or one of the account's own videos.

    A write key is public: whoever has it could report views of any video,
    and an account's figures would then count videos it cannot see.
    """
    named = {call.video_id for call in calls if call.video_id is not None}
    owned = set(
        session.scalars(
            select(Video.id).where(Video.account_id == account_id, Video.id.in_(named))
        )
        if named
        else ()
    )
    return [call for call in calls if call.video_id is None or call.video_id in owned]


def store(session: Session, account_id: str, calls: Sequence[Call]) -> None:
    """Insert the calls; one already stored (same messageId) is skipped.

    Committed before the client hears back, so an event that got a 200 is
    on the disk.
    """
    if not calls:
        return
    # A shallow copy of each call: asdict would deep-copy every property.
    rows = [{"account_id": account_id, **vars(call)} for call in calls]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # Rows as parameters, not as one VALUES clause: the statement compiles
    # once and is cached, instead of once per batch.
    statement = insert(PlaybackEvent).on_conflict_do_nothing(
        index_elements=["account_id", "message_id"]
    )
    session.connection().execute(statement, rows)


def fold_pending(session: Session) -> int:
    """Bring the view rows up to date with every event stored so far.

    The sessions of the events stored since the last fold (by row id, which
    grows in commit order: SQLite has one writer at a time) are folded again
    from all their events; the mark then moves past them. Requests never
    wait for this: the summary calls it before reading, and a periodic job
    keeps that call short. Returns how many views were folded.
    """
    mark = session.get(AnalyticsMark, FOLDED_MARK)
    if mark is None:
        mark = AnalyticsMark(name=FOLDED_MARK, value=0)
        session.add(mark)
    newest = session.scalar(select(func.max(PlaybackEvent.id))) or 0
    if newest <= mark.value:
        return 0
    touched = session.execute(
        select(PlaybackEvent.account_id, PlaybackEvent.session_id)
        .where(
            PlaybackEvent.id > mark.value,
            PlaybackEvent.id <= newest,
            PlaybackEvent.session_id.is_not(None),
        )
        .distinct()
    ).all()
    for start in range(0, len(touched), FOLD_SESSIONS):
        sessions = [
            (str(account_id), str(session_id))
            for account_id, session_id in touched[start : start + FOLD_SESSIONS]
        ]
        by_session: dict[tuple[str, str], list[PlaybackEvent]] = {
            key: [] for key in sessions
        }
        for event in session.scalars(
            select(PlaybackEvent).where(
                tuple_(PlaybackEvent.account_id, PlaybackEvent.session_id).in_(sessions)
            )
        ):
            by_session[(event.account_id, str(event.session_id))].append(event)
        for (account_id, session_id), events in by_session.items():
            session.merge(
                PlaybackView(
                    account_id=account_id,
                    session_id=session_id,
                    **asdict(fold(events)),
                )
            )
        # Written, and the events let go: a long backlog stays small in memory.
        session.flush()
        session.expunge_all()
    mark = session.merge(mark)
    mark.value = newest
    return len(touched)


def purge(session: Session) -> int:
    """Remove the events older than the retention; how many went."""
    result = session.execute(
        delete(PlaybackEvent).where(PlaybackEvent.timestamp < utcnow() - RETENTION)
    )
    return max(0, result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class EventQuery:
    video_id: str
    events: tuple[str, ...] = ()
    session_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after: str | None = None
    """The cursor of the last event of the previous page."""
    limit: int = 1000


def video_events(
    session: Session, account_id: str, query: EventQuery
) -> tuple[list[PlaybackEvent], str | None]:
    """A page of the video's events in time order, and the next page's cursor."""
    oldest = utcnow() - RETENTION
    since = _in_utc(query.since) if query.since is not None else oldest
    statement: Select[PlaybackEvent] = select(PlaybackEvent).where(
        PlaybackEvent.account_id == account_id,
        PlaybackEvent.video_id == query.video_id,
        PlaybackEvent.timestamp >= max(oldest, since),
    )
    if query.until is not None:
        statement = statement.where(PlaybackEvent.timestamp < _in_utc(query.until))
    if query.events:
        statement = statement.where(PlaybackEvent.event.in_(query.events))
    if query.session_id is not None:
        statement = statement.where(PlaybackEvent.session_id == query.session_id)
    if query.after is not None:
        moment, row = _read_cursor(query.after)
        statement = statement.where(
            tuple_(PlaybackEvent.timestamp, PlaybackEvent.id) > (moment, row)
        )
    found = list(
        session.scalars(
            statement.order_by(PlaybackEvent.timestamp, PlaybackEvent.id).limit(
                query.limit + 1
            )
        )
    )
    page = found[: query.limit]
    following = _cursor(page[-1]) if len(found) > query.limit else None
    return page, following


def _cursor(event: PlaybackEvent) -> str:
    text = f"{event.timestamp.isoformat()}|{event.id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _read_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        moment, _, row = base64.urlsafe_b64decode(padded).decode().partition("|")
        parsed = datetime.fromisoformat(moment), int(row)
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise _not_a_cursor() from error
    if parsed[0].tzinfo is None or not 0 < parsed[1] < 2**63:
        raise _not_a_cursor()
    return parsed


def _not_a_cursor() -> ReelhouseError:
    return ReelhouseError(
        errors.INVALID_REQUEST, "The cursor (after) is not one this API gave."
    )


def _in_utc(moment: datetime) -> datetime:
    """``moment`` in UTC (a time without a zone is taken as UTC), held to the
    times UTC can express."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        edge = datetime.max if moment.year > 1 else datetime.min
        return edge.replace(tzinfo=UTC)
