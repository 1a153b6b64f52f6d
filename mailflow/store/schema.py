"""SQLAlchemy 2.0 typed models. Every arrow that crosses a process or a moment is a table."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, WriteOnlyMapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every backend (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; pass an aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


# Inbox row statuses: new -> done | quarantined | dead (dead can be replayed back to new).
NEW, DONE, QUARANTINED, DEAD = "new", "done", "quarantined", "dead"


class InboxMessage(Base):
    """Raw bytes exactly as received; the only thing adapters write."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("mailbox", "uidvalidity", "uid", name="uq_inbox_imap_uid"),
        Index("ix_inbox_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # imap | lmtp | smtp | file
    mailbox: Mapped[str] = mapped_column(String(255))  # "user@host/INBOX" or the endpoint
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    uid: Mapped[int | None] = mapped_column(BigInteger)
    message_id: Mapped[str | None] = mapped_column(String(998), index=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)  # content hash sans trace headers
    size: Mapped[int] = mapped_column(Integer)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    envelope_from: Mapped[str | None] = mapped_column(String(998))
    envelope_to: Mapped[list[Any] | None] = mapped_column(JSON)
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default=NEW)
    error: Mapped[str | None] = mapped_column(Text)
    # Counted and committed when a worker claims the row, before any work on it: a message
    # that hangs or kills the process still counts (store/inbox_claims.py).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None]  # the claim's lease; after it, another worker may
    claimed_by: Mapped[str | None] = mapped_column(String(64))  # take the row

    facts: Mapped[MessageFacts | None] = relationship(back_populates="inbox", uselist=False)


class MessageFacts(Base):
    """What parse/ read from one message, kept so nothing has to be parsed twice."""

    __tablename__ = "message_facts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inbox.id", ondelete="CASCADE"), unique=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    from_address: Mapped[str] = mapped_column(String(320), index=True)
    from_name: Mapped[str] = mapped_column(String(255), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None]
    language: Mapped[str | None] = mapped_column(String(8))
    token: Mapped[str | None] = mapped_column(String(64))
    token_forged: Mapped[bool] = mapped_column(Boolean, default=False)
    in_reply_to: Mapped[str | None] = mapped_column(String(998))
    intent: Mapped[str | None] = mapped_column(String(16))
    auto_reply: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_reply_until: Mapped[datetime | None]
    reply_text: Mapped[str] = mapped_column(Text, default="")
    outcome_code: Mapped[str | None] = mapped_column(String(32), index=True)  # dispatch.Outcomes
    outcome: Mapped[str | None] = mapped_column(Text)  # the same, in words
    data: Mapped[dict[str, Any]] = mapped_column(JSON)  # the full `parse --json` object

    inbox: Mapped[InboxMessage] = relationship(back_populates="facts")


class Library(Base):
    __tablename__ = "libraries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(500))
    library_type: Mapped[str | None] = mapped_column(String(64))
    country: Mapped[str | None] = mapped_column(String(128), index=True)
    city: Mapped[str | None] = mapped_column(String(255))
    language: Mapped[str] = mapped_column(String(8), default="en")  # language we write to them in
    state: Mapped[str] = mapped_column(String(32), index=True)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON)
    missing: Mapped[list[Any]] = mapped_column(JSON, default=list)
    timezone: Mapped[str | None] = mapped_column(String(64))
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)  # off the public list
    # Consent to the public list, as the application answered it; None: not answered (unlisted).
    public_listing: Mapped[bool | None] = mapped_column(Boolean)
    forgotten_at: Mapped[datetime | None]  # `mailflow forget`: personal data erased then
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # counters, flags
    source_inbox_id: Mapped[int | None] = mapped_column(ForeignKey("inbox.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    contacts: Mapped[list[Contact]] = relationship(back_populates="library")


class Contact(Base):
    __tablename__ = "contacts"
    # One address may be the contact of several libraries (two branches), once per library.
    __table_args__ = (UniqueConstraint("library_id", "email", name="uq_contacts_library_email"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    library_id: Mapped[int] = mapped_column(ForeignKey("libraries.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[str] = mapped_column(String(16), default="ok")  # ok | bouncing | failed
    bounce_count: Mapped[int] = mapped_column(Integer, default=0)
    last_bounce_at: Mapped[datetime | None]
    paused_until: Mapped[datetime | None]  # an out-of-office with a return date

    library: Mapped[Library] = relationship(back_populates="contacts")


class History(Base):
    """Append-only: every change of state with what caused it and why."""

    __tablename__ = "history"
    __table_args__ = (Index("ix_history_record", "record_type", "record_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_type: Mapped[str] = mapped_column(String(32))  # library | partnership | contact
    record_id: Mapped[int] = mapped_column(Integer)
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str | None] = mapped_column(String(32))
    cause: Mapped[str] = mapped_column(String(16))  # message | timer | staff | cli
    inbox_id: Mapped[int | None] = mapped_column(ForeignKey("inbox.id"))
    timer_id: Mapped[int | None] = mapped_column(ForeignKey("timers.id"))
    event: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")
    trace: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]


class DeadLetter(Base):
    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inbox_id: Mapped[int | None] = mapped_column(ForeignKey("inbox.id"), index=True)
    stage: Mapped[str] = mapped_column(String(32))  # parse | dispatch | imap-move | ...
    reason: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text, default="")  # traceback, without the message body
    created_at: Mapped[datetime]
    replayed_at: Mapped[datetime | None]


class ImapCursor(Base):
    """Where the poller is in one mailbox; advanced in the same transaction as the inbox rows."""

    __tablename__ = "imap_cursor"

    mailbox: Mapped[str] = mapped_column(String(255), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime]


class Partnership(Base):
    """A pair of libraries and where their partnership stands."""

    __tablename__ = "partnerships"
    __table_args__ = (UniqueConstraint("library_a_id", "library_b_id", name="uq_partnership_pair"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    library_a_id: Mapped[int] = mapped_column(ForeignKey("libraries.id"), index=True)
    library_b_id: Mapped[int] = mapped_column(ForeignKey("libraries.id"), index=True)
    state: Mapped[str] = mapped_column(String(32), index=True)
    score: Mapped[float | None]
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    informal: Mapped[bool] = mapped_column(Boolean, default=False)
    mentor: Mapped[str | None] = mapped_column(String(320))
    # Per-side answers and counters, keyed by library id as a string: {"accepted": {"3": true}}.
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    offered_at: Mapped[datetime | None]
    trial_at: Mapped[datetime | None]
    active_at: Mapped[datetime | None]
    review_at: Mapped[datetime | None]

    library_a: Mapped[Library] = relationship(foreign_keys=[library_a_id])
    library_b: Mapped[Library] = relationship(foreign_keys=[library_b_id])


class DeclinedPair(Base):
    """A pair that must never be proposed again (lower library id first)."""

    __tablename__ = "declined_pairs"

    low_id: Mapped[int] = mapped_column(ForeignKey("libraries.id"), primary_key=True)
    high_id: Mapped[int] = mapped_column(ForeignKey("libraries.id"), primary_key=True)
    created_at: Mapped[datetime]


class Activity(Base):
    """What two libraries did together, as they told us (check-in replies, success stories)."""

    __tablename__ = "activities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partnership_id: Mapped[int] = mapped_column(ForeignKey("partnerships.id"), index=True)
    library_id: Mapped[int | None] = mapped_column(ForeignKey("libraries.id"))
    inbox_id: Mapped[int | None] = mapped_column(ForeignKey("inbox.id"))
    kind: Mapped[str] = mapped_column(String(32))  # report | success-story | note
    text: Mapped[str] = mapped_column(Text)
    # [{filename, content_type, size, part}]: photos and documents sent with it; the bytes stay
    # in the stored mail (inbox.raw), `part` is the attachment's position there.
    attachments: Mapped[list[Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]


class Timer(Base):
    """A follow-up due at a time; cancelled when the state it belongs to is left."""

    __tablename__ = "timers"
    __table_args__ = (
        Index("ix_timers_due", "status", "due_at"),
        Index("ix_timers_record", "record_type", "record_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_type: Mapped[str] = mapped_column(String(32))
    record_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(32))  # the state that scheduled it
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|fired|cancelled
    sequence: Mapped[int] = mapped_column(Integer, default=1)  # 1st, 2nd ... firing of a repeat
    created_at: Mapped[datetime]
    fired_at: Mapped[datetime | None]


class Outbox(Base):
    """A mail waiting to be sent: its bytes, or its spec, rendered the same way on every try."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    record_type: Mapped[str | None] = mapped_column(String(32))
    record_id: Mapped[int | None] = mapped_column(Integer)
    template: Mapped[str] = mapped_column(String(64), index=True)
    locale: Mapped[str] = mapped_column(String(16))
    sender: Mapped[str] = mapped_column(String(320))
    recipients: Mapped[list[Any]] = mapped_column(JSON)  # envelope recipients
    thread_key: Mapped[str | None] = mapped_column(String(400), index=True)
    subject: Mapped[str] = mapped_column(Text)  # "" until a row with a spec is rendered
    raw: Mapped[bytes] = mapped_column(LargeBinary)  # b"" until a row with a spec is rendered
    # What to render (template, locales, JSON context, headers), when the drainer renders the
    # mail as it sends it (outbox/spec.py); cleared once sent, or when an address is forgotten.
    spec: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    inbox_id: Mapped[int | None] = mapped_column(ForeignKey("inbox.id"))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    # Who holds the lease (next_attempt_at) while sending: "<hostname>:<pid>" (store/locks.py).
    claimed_by: Mapped[str | None] = mapped_column(String(255))

    # One row per recipient, so the loop limits find what an address got without reading
    # every mail of the day (dispatch/limits.py); written with the row, deleted with it.
    addressees: WriteOnlyMapped[OutboxRecipient] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )


class OutboxRecipient(Base):
    """An envelope recipient of an outbox row, indexed by address (`outbox.recipients` is JSON)."""

    __tablename__ = "outbox_recipients"
    __table_args__ = (Index("ix_outbox_recipients_address", "address", "outbox_id"),)

    outbox_id: Mapped[int] = mapped_column(
        ForeignKey("outbox.id", ondelete="CASCADE"), primary_key=True
    )
    address: Mapped[str] = mapped_column(String(320), primary_key=True)


class Suppressed(Base):
    """A mail mailflow chose not to send, and why (auto-reply, rate limit, bounce...)."""

    __tablename__ = "suppressed"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inbox_id: Mapped[int | None] = mapped_column(ForeignKey("inbox.id"), index=True)
    recipient: Mapped[str] = mapped_column(String(320))
    template: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class AttentionItem(Base):
    """Something that needs a person: open until staff resolve it (by a command or a note)."""

    __tablename__ = "attention_items"
    __table_args__ = (Index("ix_attention_open", "resolved_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), index=True)  # dispatch.Outcomes / a notice code
    reason: Mapped[str] = mapped_column(Text)
    record_type: Mapped[str | None] = mapped_column(String(32))
    record_id: Mapped[int | None] = mapped_column(Integer)
    inbox_id: Mapped[int | None] = mapped_column(ForeignKey("inbox.id"))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # e.g. a proposed merge
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(320))
    resolution: Mapped[str | None] = mapped_column(Text)


class StaffConfirmation(Base):
    """A staff command that arrived unauthenticated: it acts only once its address confirms it."""

    __tablename__ = "staff_confirmations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inbox.id"))  # the command, as it came
    address: Mapped[str] = mapped_column(String(320), index=True)  # as the settings write it
    command: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_inbox_id: Mapped[int | None] = mapped_column(ForeignKey("inbox.id"))  # the confirmation


class Worker(Base):
    """A running `mailflow run` process, as its heartbeat tells it; removed on a clean stop.

    Times here are wall-clock (not the program clock): they say whether a process is alive.
    """

    __tablename__ = "workers"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)  # "<hostname>:<pid>"
    roles: Mapped[str] = mapped_column(String(255))  # "processor,drainer,imap,lmtp,web"
    started_at: Mapped[datetime]
    last_seen: Mapped[datetime]
    imap_mailbox: Mapped[str | None] = mapped_column(String(255))  # its IMAP poller's mailbox
    imap_contact_at: Mapped[datetime | None]  # the IMAP server's last answer to this worker


class DailyRun(Base):
    """A job that runs once a day whatever the number of workers (the digest): the worker whose
    insert of (kind, day) succeeds runs it, in the same transaction."""

    __tablename__ = "daily_runs"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    worker: Mapped[str] = mapped_column(String(255))  # "<hostname>:<pid>"
    created_at: Mapped[datetime]


class ContactConfirmation(Base):
    """A library's withdrawal, acceptance or decline that came without its token or an
    authenticated mail: it acts only once the contact confirms it by mail (token `k<id>`)."""

    __tablename__ = "contact_confirmations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inbox.id"))  # the mail, as it came
    library_id: Mapped[int] = mapped_column(ForeignKey("libraries.id"), index=True)
    address: Mapped[str] = mapped_column(String(320))  # the contact address as we keep it
    record_type: Mapped[str] = mapped_column(String(32))
    record_id: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_inbox_id: Mapped[int | None] = mapped_column(ForeignKey("inbox.id"))  # the confirmation
