"""Per-batch lookups: what one dispatch transaction asks for every message, asked once.

The inbox's dispatch transaction (inbox.py) handles a batch of messages. Three questions each
of them asks are answered for the whole batch instead:

- the contacts of an address (`libraries.contacts_for`): the batch's senders in one query when
  the batch starts, any other address once;
- how many messages an address sent in the hold window (`limits.held`): one grouped query
  for the batch's senders, then the batch's own messages are counted as they are handled
  (their `message_facts` rows are written when the batch ends);
- how many needs-a-person notices went out in the last hour (`limits.staff_rate_exceeded`):
  read once, then the notices this transaction queues are counted as they are flushed;
- which senders were told "could not understand" in the last day (`route.not_understood`):
  read for all the batch's senders at its first such answer, then the answers it queues.

Why the answers stay true while the transaction runs: what it writes itself is added as it is
flushed (a new contact, a queued notice, a handled message), and on PostgreSQL the batch holds
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
from typing import Any

from sqlalchemy import bindparam, event, func, select
from sqlalchemy.orm import Session

from mailflow.parse.clean import address_forms
from mailflow.store.schema import Contact, InboxMessage, MessageFacts, Outbox

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
_STAFF_NOTICES = (
    select(func.count())
    .select_from(Outbox)
    .where(Outbox.template == STAFF_NOTICE, Outbox.created_at > bindparam("since"))
)


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
            if isinstance(obj, Outbox) and self.answers is not None:
                template, since, keys = self.answers
                if obj.template == template and obj.created_at > since and obj.thread_key:
                    keys.add(obj.thread_key)
            if (
                isinstance(obj, Outbox)
                and obj.template == STAFF_NOTICE
                and self.notices is not None
                and self.notices_since is not None
                and obj.created_at > self.notices_since
            ):
                self.notices += 1
        if any(isinstance(obj, Contact) for obj in session.deleted):
            self.contacts.clear()
            self.forms.clear()

    def _rolled_back(self, _session: Session, _transaction: Any) -> None:
        self.contacts.clear()
        self.forms.clear()
        self.notices = None
        self.answers = None


def of(session: Session) -> Lookups | None:
    """The batch's lookups, when this session is a batch's dispatch transaction."""
    return session.info.get(KEY)


@contextmanager
def batch_lookups(session: Session, hold_since: datetime) -> Iterator[Lookups]:
    """Cache the lookups in `session` for as long as the block runs."""
    lookups = Lookups(hold_since)
    session.info[KEY] = lookups
    event.listen(session, "after_flush", lookups._flushed)
    event.listen(session, "after_soft_rollback", lookups._rolled_back)
    try:
        yield lookups
    finally:
        event.remove(session, "after_flush", lookups._flushed)
        event.remove(session, "after_soft_rollback", lookups._rolled_back)
        session.info.pop(KEY, None)
