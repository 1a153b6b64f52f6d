"""The store on both backends: migrations match the models, intake is idempotent."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from mailflow.inbound.intake import Incoming, content_hash, message_id_of, store
from mailflow.store.db import Database
from mailflow.store.schema import Base, ImapCursor, InboxMessage
from tests.helpers import T0, application


def test_migrations_match_the_models(db: Database) -> None:
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_upgrade_twice_is_harmless(db: Database) -> None:
    db.upgrade()
    with db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(InboxMessage)) == 0


def _count(db: Database) -> int:
    with db.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(InboxMessage))


def test_same_uid_or_same_content_is_stored_once(db: Database) -> None:
    raw = application(1)
    imap = Incoming(raw=raw, source="imap", mailbox="u@h/INBOX", uidvalidity=7, uid=1)
    with db.unit_of_work() as s:
        row, created = store(s, imap, T0)
        assert created and row.message_id == message_id_of(raw)
    with db.unit_of_work() as s:
        assert store(s, imap, T0)[1] is False
        # The same mail delivered again with trace headers added by a relay.
        relayed = b"Received: from mx by h; Sat, 21 Nov 2026 09:00:00 +0000\r\n" + raw
        assert content_hash(relayed) == content_hash(raw)
        assert store(s, Incoming(raw=relayed, source="lmtp", mailbox="lmtp"), T0)[1] is False
    assert _count(db) == 1


def test_rescan_after_uidvalidity_change_keeps_one_row_with_the_new_location(db: Database) -> None:
    raw = application(2)
    with db.unit_of_work() as s:
        store(s, Incoming(raw=raw, source="imap", mailbox="m", uidvalidity=1, uid=5), T0)
    with db.unit_of_work() as s:
        row, created = store(
            s, Incoming(raw=raw, source="imap", mailbox="m", uidvalidity=2, uid=1), T0
        )
        assert not created and (row.uidvalidity, row.uid) == (2, 1)
    assert _count(db) == 1


def test_different_mail_is_stored_and_raw_bytes_round_trip(db: Database) -> None:
    raws = [application(n) for n in range(3)] + [application(9, lang="zh"), b""]
    with db.unit_of_work() as s:
        for raw in raws:
            store(s, Incoming(raw=raw, source="lmtp", mailbox="lmtp"), T0)
    with db.unit_of_work() as s:
        stored = [r.raw for r in s.scalars(select(InboxMessage).order_by(InboxMessage.id))]
        assert stored == raws
        first = s.scalars(select(InboxMessage)).first()
        assert first.received_at == T0  # aware UTC on both backends


def test_cursor_row(db: Database) -> None:
    with db.unit_of_work() as s:
        s.add(ImapCursor(mailbox="x", uidvalidity=3_000_000_000, last_uid=2**31 + 5, updated_at=T0))
    with db.unit_of_work() as s:
        assert s.get(ImapCursor, "x").last_uid == 2**31 + 5
