"""Per-batch lookups: what one dispatch transaction asks for every message, asked once.

The inbox's dispatch transaction (inbox.py) handles a batch of messages. Three questions each
of them asks are answered for the whole batch instead:

- the contacts of an address (`libraries.contacts_for`): the batch's senders in one query when
  the batch starts, any other address once;
- how many messages an address sent in the hold window (`limits.held`): one grouped query
  for the batch's senders, then the batch's own messages are counted as they are handled
  (their `message_facts` rows are written when the batch ends);
- how many needs-a-person notices went out in the last hour (`limits.staff_rate_exceeded`):
  read once, then the notices this transaction queues are counted as they are queued;
- which senders were told "could not understand" in the last day (`route.not_understood`):
  read for all the batch's senders at its first such answer, then the answers it queues;
- what mail went to the batch's senders in the loop limits' windows (`limits.why_not`,
  `limits.looks_like_ours`): which template, when, whether an incoming mail caused it and
  whether it is rendered, read for all of them at the first question, then the mail this
  transaction queues (`queued`, as it is added); the limits read a mail's text from the
  database only when one of the same template (or, for their own text coming back, a
  rendered one) is there;
- the outbox rows the batch's replies answer (In-Reply-To, References: `correlate.reply_ref`),
  read for all of them at the first question (a mail queued in the batch cannot be answered
  yet: its Message-ID is in no one's hands before it is sent);
- the Message-IDs of the senders' own threads (`sender:<address>`, where "could not
  understand" answers go), which a mail on one of them is threaded to (`letters.enqueue`).

Two more things a batch does once instead of per message:

- rows nothing in the dispatch reads back (`history`, `suppressed`) are kept and written when
  the batch ends, one executemany per table (`insert_later`); a message done alone in its
  savepoint writes them at once;
- the mail it queues and the attention items it opens (`insert_rows`) are not added to the
  session: their rows are kept and written with one executemany per table before the first
  statement of the transaction that involves their table (a read barrier on the session's
  `do_orm_execute`), or when the batch ends, so every read sees them as after a flush,
  without the unit of work's cost per object or a statement per row;
- the ids of the rows whose id a mail carries before they are written (an outbox row's return
  path names it, VERP; an attention item's reply token) are taken ahead (`new_id`): on
  PostgreSQL a block from the table's sequence, on SQLite counted on from the table's largest
  id, which holds because the batch's transaction has held the write lock since its BEGIN
  IMMEDIATE and, while it runs, every row of those tables is added with an id from here. So
  such a mail needs no flush of its own and no second write of its return path.

Why the answers stay true while the transaction runs: what it writes itself is added as it is
flushed or queued (a new contact, a queued notice, a handled message), and on PostgreSQL the batch holds
its senders' locks (`locks.serialise_all`) before the lookups are read, so no other worker
handles mail from them meanwhile. What another worker may still commit in between (a contact
named in another sender's form, its own notices) could be missed here as it could be between
any read and write before; the unique key on a library's contact address settles the one that matters (the
batch is rolled back and done again, each message alone, with fresh lookups), and the notice
rate is a limit, not a count to the unit. A savepoint rolled back forgets the cached contacts
and notice count (its objects are gone). Outside a batch (timers, staff commands from the
command line, the drainer) nothing is cached: `of(session)` is None.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Table, bindparam, event, func, insert, select, text
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.util import find_tables

from mailflow.parse.clean import address_forms
from mailflow.store.schema import Contact, InboxMessage, MessageFacts, Outbox, OutboxRecipient

KEY = "mailflow.lookups"
STAFF_NOTICE = "staff-needs-person"

# Built once (values bound per call).
_CONTACTS = (
    select(Contact)
    .where(Contact.email.in_(bindparam("forms", expanding=True)))
    .order_by(Contact.id)
)
_MESSAGES_FROM = (
    select(MessageFacts.from_address, func.count())
    .join(InboxMessage, MessageFacts.inbox_id == InboxMessage.id)
    .where(
        MessageFacts.from_address.in_(bindparam("senders", expanding=True)),
        InboxMessage.received_at > bindparam("since"),
    )
    .group_by(MessageFacts.from_address)
)
_ANSWERED = (
    select(Outbox.thread_key)
    .where(
        Outbox.template == bindparam("template"),
        Outbox.thread_key.in_(bindparam("keys", expanding=True)),
        Outbox.created_at > bindparam("since"),
    )
    .distinct()
)
_MAIL_TO = (
    select(
        OutboxRecipient.address,
        Outbox.id,
        Outbox.template,
        Outbox.inbox_id.is_not(None),
        Outbox.created_at,
        Outbox.raw != b"",
    )
    .join(Outbox, Outbox.id == OutboxRecipient.outbox_id)
    .where(
        OutboxRecipient.address.in_(bindparam("addresses", expanding=True)),
        Outbox.created_at > bindparam("since"),
    )
    .order_by(Outbox.id)
)
_SENT_WITH_IDS = (
    select(Outbox.message_id, Outbox.recipients, Outbox.record_type, Outbox.record_id)
    .where(Outbox.message_id.in_(bindparam("ids", expanding=True)))
    .order_by(Outbox.id.desc())
)
_THREADS = (
    select(Outbox.thread_key, Outbox.message_id)
    .where(Outbox.thread_key.in_(bindparam("keys", expanding=True)))
    .order_by(Outbox.id)
)
# PostgreSQL: a block of ids from a table's own sequence (its SERIAL id column).
_NEXTVALS = text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)")
ID_BLOCK = 50
_STAFF_NOTICES = (
    select(func.count())
    .select_from(Outbox)
    .where(Outbox.template == STAFF_NOTICE, Outbox.created_at > bindparam("since"))
)


class SentMail(NamedTuple):
    """An outbox row as `correlate.reply_ref` reads it (`Lookups.sent_with_ids`)."""

    message_id: str
    recipients: list[str]
    record_type: str | None
    record_id: int | None


@dataclass(frozen=True)
class Sent:
    """A mail queued to an address (`Lookups.mail_to`), without its text."""

    id: int
    template: str
    answer: bool  # an incoming message caused it (outbox.inbox_id set)
    created_at: datetime
    rendered: bool  # its bytes are stored (sent, or rendered when queued)


@dataclass
class Lookups:
    hold_since: datetime  # limits.held's window start for this batch (its `now` is fixed)
    contacts: dict[str, list[Contact]] = field(default_factory=dict)  # by lower-case address
    forms: dict[str, list[str]] = field(default_factory=dict)  # its spellings (address_forms)
    messages_from: dict[str, int] = field(default_factory=dict)  # by From address, as stored
    notices_since: datetime | None = None
    notices: int | None = None
    senders: list[str] = field(default_factory=list)  # the batch's From addresses
    answers: tuple[str, datetime, set[str]] | None = None  # template, since, thread keys
    # Mail to the batch's senders (lower-cased) since the first datetime, oldest first.
    mail: tuple[datetime, dict[str, list[Sent]]] | None = None
    # Message-IDs by thread key (the senders' `sender:` threads), oldest first.
    threads: dict[str, list[str]] | None = None
    reply_ids: set[str] = field(default_factory=set)  # the Message-IDs the batch's mail answers
    sent: list[SentMail] | None = None  # the outbox rows with those Message-IDs, newest first
    # Rows written when the batch ends (insert_later), by table; None: written at once.
    later: dict[Table, list[dict[str, Any]]] | None = None
    # Rows written before the first statement that reads their table, or when the batch
    # ends (insert_rows; `write_behind`), by table in the order first given; None: at once.
    behind: dict[Table, list[dict[str, Any]]] | None = None
    ids: dict[str, list[int]] = field(default_factory=dict)  # taken ahead, by table (new_id)
    next_ids: dict[str, int] = field(default_factory=dict)  # SQLite: the next id, by table

    def new_id(self, session: Session, table: Table) -> int:
        """An id for a row of `table` this transaction will insert (see the module's doc)."""
        name = table.name
        if session.get_bind().dialect.name == "sqlite":
            if name not in self.next_ids:
                top = session.scalar(select(func.max(table.c.id)))
                self.next_ids[name] = int(top or 0) + 1
            value = self.next_ids[name]
            self.next_ids[name] = value + 1
            return value
        taken = self.ids.setdefault(name, [])
        if not taken:
            # A block at a time: unused ones are gaps, as a rolled-back insert leaves.
            taken.extend(session.scalars(_NEXTVALS, {"table": name, "n": ID_BLOCK}))
            taken.reverse()
        return taken.pop()

    def write_behind(self, session: Session) -> None:
        """The rows `insert_rows` kept (parents first: a mail's row before its recipients'),
        so that whatever reads them next finds them."""
        if self.behind:
            pending, self.behind = self.behind, {}  # emptied first: the barrier sees none
            _insert_all(session, pending)

    def _before_read(self, state: ORMExecuteState) -> None:
        """The read barrier: a statement that involves a table with rows kept behind (a
        select of the outbox, a load of an attention item) runs after they are written."""
        if not self.behind:
            return
        statement = state.statement
        if not isinstance(statement, ClauseElement) or any(
            table in self.behind for table in find_tables(statement)
        ):
            self.write_behind(state.session)

    def write_later(self, session: Session) -> None:
        """The rows kept for the end of the batch, in the order they were made."""
        if self.later:
            _insert_all(session, self.later)
            self.later.clear()

    def contacts_of(self, session: Session, address: str) -> list[Contact]:
        key = address.strip().lower()
        if key not in self.contacts:
            self.forms[key] = address_forms(address)
            self.contacts[key] = list(session.scalars(_CONTACTS, {"forms": self.forms[key]}))
        return list(self.contacts[key])

    def read_contacts(self, session: Session, addresses: Iterable[str]) -> None:
        """The contacts of these addresses in one query (each address's in id order, as
        `contacts_for` gives them)."""
        keys = {a.strip().lower(): a for a in addresses if a}
        forms = {k: address_forms(a) for k, a in keys.items() if k not in self.contacts}
        if not forms:
            return
        wanted = sorted({f for fs in forms.values() for f in fs})
        by_email: dict[str, list[Contact]] = {}
        for contact in session.scalars(_CONTACTS, {"forms": wanted}):
            by_email.setdefault(contact.email, []).append(contact)
        for key, fs in forms.items():
            self.forms[key] = fs
            found = {c.id: c for f in fs for c in by_email.get(f, ())}
            self.contacts[key] = [found[i] for i in sorted(found)]

    def answered(self, session: Session, template: str, thread_key: str, since: datetime) -> bool:
        """Whether a `template` mail on `thread_key` was queued after `since`. The thread keys
        of all the batch's senders (`sender:<address>`) are read at the first call."""
        batch_keys = {f"sender:{s}" for s in self.senders}
        if thread_key not in batch_keys:  # not a sender of this batch: asked alone
            params = {"template": template, "keys": [thread_key], "since": since}
            return session.scalars(_ANSWERED, params).first() is not None
        if self.answers is None or self.answers[:2] != (template, since):
            params = {"template": template, "keys": sorted(batch_keys), "since": since}
            self.answers = (template, since, set(session.scalars(_ANSWERED, params)))
        return thread_key in self.answers[2]

    def mail_to(self, session: Session, address: str, since: datetime) -> list[Sent] | None:
        """The mail queued to `address` (lower-case, as `outbox_recipients` has it) after
        `since`, when it is one of the batch's senders; None: not known here (ask the
        database). All the senders' are read at the first question."""
        keys = {s.lower() for s in self.senders}
        if address not in keys:
            return None
        if self.mail is None or self.mail[0] > since:
            found: dict[str, list[Sent]] = {k: [] for k in keys}
            params = {"addresses": sorted(keys), "since": since}
            for to, row_id, template, answer, created_at, rendered in session.execute(
                _MAIL_TO, params
            ):
                if to in found:
                    found[to].append(
                        Sent(row_id, template, bool(answer), created_at, bool(rendered))
                    )
            self.mail = (since, found)
        return [m for m in self.mail[1][address] if m.created_at > since]

    def expect_replies(self, ids: Iterable[str]) -> None:
        """The Message-IDs the batch's messages will be looked up by (`sent_with_ids`)."""
        self.reply_ids.update(ids)
        self.sent = None

    def sent_with_ids(self, session: Session, ids: list[str]) -> list[SentMail] | None:
        """The outbox rows with these Message-IDs, newest first; None: not known here."""
        if not set(ids) <= self.reply_ids:
            return None
        if self.sent is None:
            params = {"ids": sorted(self.reply_ids)}
            self.sent = [SentMail(*row) for row in session.execute(_SENT_WITH_IDS, params)]
        wanted = set(ids)
        return [row for row in self.sent if row.message_id in wanted]

    def thread(self, session: Session, thread_key: str) -> list[str] | None:
        """The Message-IDs on `thread_key`, oldest first, when it is a thread of one of the
        batch's senders; None: not known here (ask the database). All theirs are read at
        the first question."""
        keys = {f"sender:{s}" for s in self.senders}
        if thread_key not in keys:
            return None
        if self.threads is None:
            found: dict[str, list[str]] = {k: [] for k in keys}
            for key, message_id in session.execute(_THREADS, {"keys": sorted(keys)}):
                found[str(key)].append(message_id)
            self.threads = found
        return list(self.threads[thread_key])

    def queued(self, row: Outbox) -> None:
        """A mail this transaction queued: on its thread, counted where the batch counts
        such mail (its row is written before anything reads the outbox: `insert_rows`)."""
        if self.answers is not None:
            template, since, keys = self.answers
            if row.template == template and row.created_at > since and row.thread_key:
                keys.add(row.thread_key)
        if (
            row.template == STAFF_NOTICE
            and self.notices is not None
            and self.notices_since is not None
            and row.created_at > self.notices_since
        ):
            self.notices += 1
        if self.threads is not None and row.thread_key is not None:
            on_thread = self.threads.get(row.thread_key)
            if on_thread is not None:
                on_thread.append(row.message_id)
        if self.mail is None:
            return
        sent = Sent(row.id, row.template, row.inbox_id is not None, row.created_at, row.raw != b"")
        for address in row.recipients:
            known = self.mail[1].get(address)
            if known is not None:
                known.append(sent)

    def read_counts(self, session: Session, senders: Iterable[str]) -> None:
        """Messages from each sender since `hold_since`, in one grouped query."""
        # Those counted already (an earlier chunk of the batch) keep their count: it holds
        # the batch's own messages, whose facts rows are not written yet.
        wanted = sorted({s for s in senders if s and s not in self.messages_from})
        if not wanted:
            return
        # A batch's chunks come one by one: the "could not understand" answers are read
        # again for all its senders so far at the next such question.
        self.senders = sorted({*self.senders, *wanted})
        self.answers = None
        self.mail = None
        self.threads = None
        self.sent = None
        counts = dict(
            session.execute(_MESSAGES_FROM, {"senders": wanted, "since": self.hold_since}).all()
        )
        for sender in wanted:
            self.messages_from[sender] = int(counts.get(sender, 0))

    def messages(self, sender: str, since: datetime) -> int | None:
        """The count for `held`, or None: not known here (ask the database)."""
        if since != self.hold_since:
            return None
        return self.messages_from.get(sender)

    def handled(self, sender: str, received_at: datetime) -> None:
        """One more message from `sender` handled in this batch (its facts row comes later)."""
        if sender and sender in self.messages_from and received_at > self.hold_since:
            self.messages_from[sender] += 1

    def staff_notices(self, session: Session, since: datetime) -> int:
        if self.notices is None or self.notices_since != since:
            self.notices = session.scalar(_STAFF_NOTICES, {"since": since}) or 0
            self.notices_since = since
        return self.notices

    def _flushed(self, session: Session, _context: Any) -> None:
        for obj in session.new:
            if isinstance(obj, Contact):
                # A new contact: one more for the addresses looked up that it spells (one
                # address may be the contact of several libraries).
                for key, forms in self.forms.items():
                    known = self.contacts.get(key)
                    if known is not None and obj.email in forms and obj not in known:
                        known.append(obj)
        if any(isinstance(obj, Contact) for obj in session.deleted):
            self.contacts.clear()
            self.forms.clear()

    def _rolled_back(self, _session: Session, _transaction: Any) -> None:
        self.contacts.clear()
        self.forms.clear()
        self.notices = None
        self.answers = None
        self.mail = None
        self.threads = None
        self.sent = None


def _insert_all(session: Session, pending: dict[Table, list[dict[str, Any]]]) -> None:
    """One executemany per table, with one key set for all its rows (a row may leave out a
    nullable column)."""
    for table, rows in pending.items():
        keys = {k for row in rows for k in row}
        session.execute(insert(table), [{k: row.get(k) for k in keys} for row in rows])


def of(session: Session) -> Lookups | None:
    """The batch's lookups, when this session is a batch's dispatch transaction."""
    return session.info.get(KEY)


def insert_later(session: Session, model: type[Any], **values: Any) -> None:
    """Add a row nothing in this transaction reads back: kept for the end of the batch in a
    batch's dispatch, else added to the session at once."""
    cached = of(session)
    if cached is not None and cached.later is not None:
        cached.later.setdefault(model.__table__, []).append(values)
    else:
        session.add(model(**values))


def insert_rows(session: Session, model: type[Any], rows: list[dict[str, Any]]) -> bool:
    """In a batch's dispatch, new rows of `model` past the unit of work (a flush per message
    of ORM objects cost a third of dispatch): kept and written in one executemany per table
    before the first statement of the transaction that involves their table (a read barrier
    on the session), or when the batch ends; a message done alone in its savepoint writes
    them at once (one statement). False elsewhere: the caller adds its objects to the session.
    """
    cached = of(session)
    if cached is None:
        return False
    if rows and cached.behind is not None:
        cached.behind.setdefault(model.__table__, []).extend(rows)
    elif rows:
        session.execute(insert(model.__table__), rows)
    return True


def new_id(session: Session, model: type[Any]) -> int | None:
    """In a batch's dispatch, an id for a new row of `model`'s table (see the module's doc);
    None elsewhere (the row gets its id when it is flushed)."""
    cached = of(session)
    return cached.new_id(session, model.__table__) if cached is not None else None


@contextmanager
def batch_lookups(
    session: Session, hold_since: datetime, write_later: bool = False
) -> Iterator[Lookups]:
    """Cache the lookups in `session` for as long as the block runs. write_later: keep the
    rows `insert_later` is given for `Lookups.write_later` (no savepoint could drop them)."""
    lookups = Lookups(
        hold_since, later={} if write_later else None, behind={} if write_later else None
    )
    session.info[KEY] = lookups
    event.listen(session, "after_flush", lookups._flushed)
    event.listen(session, "after_soft_rollback", lookups._rolled_back)
    event.listen(session, "do_orm_execute", lookups._before_read)
    try:
        yield lookups
    finally:
        event.remove(session, "after_flush", lookups._flushed)
        event.remove(session, "after_soft_rollback", lookups._rolled_back)
        event.remove(session, "do_orm_execute", lookups._before_read)
        session.info.pop(KEY, None)
