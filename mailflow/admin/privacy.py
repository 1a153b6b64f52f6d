"""Personal data: erasing one library's (`mailflow forget l12`), and the raw-mail retention job.

Forgetting keeps what the program needs to count (the library row with its state, country and
type; the partnerships; one row per mail, per history step and per activity) and erases whatever
names or describes people: contact addresses and names, the raw bytes of every mail from or
about the library, free text (notes, replies, staff items, the bodies of mail sent to it).
Later mail from a forgotten address finds no contact, so it is read like a stranger's.

Retention (`privacy.raw_mail_days`) blanks the raw bytes and free text of mail that belongs only
to records that reached a final state (withdrawn, closed...) more than that many days ago.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from mailflow.engine.definition import Machine
from mailflow.store.schema import (
    Activity,
    AttentionItem,
    DeadLetter,
    History,
    InboxMessage,
    Library,
    MessageFacts,
    Outbox,
    OutboxRecipient,
    Partnership,
    StaffConfirmation,
    Suppressed,
    Timer,
)

__all__ = ["ForgetReport", "RetentionReport", "blank_old_mail", "forget_library", "forgotten_name"]

# A name is looked for in other mail only when it is specific enough not to erase a stranger's
# mail: a whole word run of at least this many characters with a space in it ("Maria Lopez",
# the library's name), or this many CJK characters ("杭州市图书馆"). Addresses always count.
MIN_NAME = 8
MIN_CJK_NAME = 4
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uac00-\ud7af]")
ERASED = "(erased)"
# MOU answers that are dates and counts, not words about people.
MOU_DATES = frozenset({"start_on", "review_on", "duration_months", "start_date", "review_date"})


def forgotten_name(library_id: int) -> str:
    return f"forgotten library l{library_id}"


@dataclass
class ForgetReport:
    library_id: int
    contacts: int = 0
    messages: int = 0
    sent: int = 0
    history: int = 0
    activities: int = 0
    items: int = 0
    open_partnerships: list[int] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [
            f"forgot l{self.library_id}: {self.contacts} contact(s) removed; erased "
            f"{self.messages} received mail(s), {self.sent} sent mail(s), {self.history} history "
            f"note(s), {self.activities} activity text(s), {self.items} staff item(s)"
        ]
        if self.open_partnerships:
            refs = ", ".join(f"p{p}" for p in self.open_partnerships)
            out.append(f"still open: {refs}; close them (`close p..`) so nobody waits on them")
        return out


def forget_library(
    session: Session, library: Library, now: datetime, machines: Mapping[str, Machine]
) -> ForgetReport:
    """Erase `library`'s personal data in this session (the caller commits); keep counts."""
    report = ForgetReport(library.id)
    contacts = list(library.contacts)
    addresses = {c.email.lower() for c in contacts}
    needles = _needles(addresses, (library.name, *(c.name for c in contacts)), library)
    pairs = session.scalars(
        select(Partnership).where(
            or_(Partnership.library_a_id == library.id, Partnership.library_b_id == library.id)
        )
    ).all()
    pair_ids = {p.id for p in pairs}
    finals = _finals(machines, "partnership")
    report.open_partnerships = sorted(p.id for p in pairs if p.state not in finals)

    # Which received mail is from or about the library.
    about: set[int] = set()
    if addresses:
        about |= set(
            session.scalars(
                select(MessageFacts.inbox_id).where(MessageFacts.from_address.in_(addresses))
            )
        )
    about |= _linked_inbox(session, "library", {library.id}) | _linked_inbox(
        session, "partnership", pair_ids
    )
    if library.source_inbox_id is not None:
        about.add(library.source_inbox_id)
    # Mail that only names the library (a staff command with its address, a partner quoting it).
    # Streamed: the whole mail store need not fit in memory.
    for inbox_id, raw in session.execute(
        select(InboxMessage.id, InboxMessage.raw).execution_options(yield_per=200)
    ):
        if inbox_id not in about and _mentions(raw, needles):
            about.add(inbox_id)
    read = (MessageFacts.inbox_id, MessageFacts.from_address, MessageFacts.from_name,
            MessageFacts.subject, MessageFacts.reply_text, MessageFacts.data)  # fmt: skip
    for inbox_id, *values in session.execute(select(*read).execution_options(yield_per=200)):
        if inbox_id not in about and _mentions(_joined(values), needles):
            about.add(inbox_id)
    report.messages = _erase_inbox(session, about)

    # Mail we sent to it or about it.
    mine = or_(
        (Outbox.record_type == "library") & (Outbox.record_id == library.id),
        (Outbox.record_type == "partnership") & Outbox.record_id.in_(pair_ids or {0}),
        Outbox.inbox_id.in_(about or {0}),
    )
    sent = set(session.scalars(select(Outbox.id).where(mine)))
    scan = select(Outbox.id, Outbox.recipients, Outbox.subject, Outbox.raw, Outbox.spec)
    for outbox_id, recipients, subject, raw, spec in session.execute(
        scan.execution_options(yield_per=200)
    ):
        if (
            {a.lower() for a in recipients or ()} & addresses
            or _mentions(subject, needles)
            or _mentions(raw, needles)
            or (spec is not None and _mentions(_joined([spec]), needles))  # not rendered yet
        ):
            sent.add(outbox_id)
    for row in session.scalars(select(Outbox).where(Outbox.id.in_(sent or {0}))):
        _erase_outbox(row)
    # The loop limits' index of who got which mail holds the addresses too.
    session.execute(delete(OutboxRecipient).where(OutboxRecipient.outbox_id.in_(sent or {0})))
    report.sent = len(sent)

    # Free text kept beside the mail.
    histories = session.scalars(
        select(History).where(
            or_(
                (History.record_type == "library") & (History.record_id == library.id),
                (History.record_type == "partnership") & History.record_id.in_(pair_ids or {0}),
                (History.record_type == "contact")
                & History.record_id.in_([c.id for c in contacts] or {0}),
                History.inbox_id.in_(about or {0}),
            )
        )
    ).all()
    for h in histories:
        if h.note or h.trace:
            h.note, h.trace = "", []
            report.history += 1
    for a in session.scalars(
        select(Activity).where(
            or_(
                Activity.library_id == library.id,
                Activity.partnership_id.in_(pair_ids or {0}),
                Activity.inbox_id.in_(about or {0}),
            )
        )
    ):
        a.text, a.attachments = "", None
        report.activities += 1
    for item in session.scalars(select(AttentionItem)):
        related = (
            (item.record_type == "library" and item.record_id == library.id)
            or (item.record_type == "partnership" and item.record_id in pair_ids)
            or item.inbox_id in about
        )
        blob = " ".join([item.reason, item.resolution or "", json.dumps(item.data or {})])
        if related or _mentions(blob, needles):
            item.reason, item.data = f"about {forgotten_name(library.id)}", {}
            item.resolution = item.resolution and ERASED
            if item.resolved_at is None:
                item.resolved_at, item.resolved_by = now, "operator"
                item.resolution = "forgotten by operator"
            report.items += 1
    for s in session.scalars(select(Suppressed)):
        if s.recipient.lower() in addresses or s.inbox_id in about:
            s.recipient, s.reason = "", ERASED
    for c in session.scalars(select(StaffConfirmation)):
        if c.inbox_id in about or _mentions(c.command, needles):
            c.command = ERASED
    session.execute(
        update(DeadLetter).where(DeadLetter.inbox_id.in_(about or {0})).values(reason=ERASED)
    )
    for p in pairs:
        p.reasons = []  # matching reasons quote the libraries' interests
        data = dict(p.data or {})
        mou = dict(data.get("mou") or {})
        if str(library.id) in mou:  # its MOU answers name people; the dates may stay
            side = mou[str(library.id)] or {}
            mou[str(library.id)] = {k: v for k, v in side.items() if k in MOU_DATES}
            data["mou"] = mou
            p.data = data

    # No reminder may go to a library with no one to read it.
    session.execute(
        update(Timer)
        .where(
            Timer.status == "pending",
            or_(
                (Timer.record_type == "library") & (Timer.record_id == library.id),
                (Timer.record_type == "partnership")
                & Timer.record_id.in_(report.open_partnerships or {0}),
            ),
        )
        .values(status="cancelled")
    )
    report.contacts = len(contacts)
    for contact in contacts:
        session.delete(contact)
    session.flush()
    session.expire(library, ["contacts"])
    fields = library.fields or {}
    library.name = forgotten_name(library.id)
    library.city = None
    library.timezone = None
    library.fields = {k: fields[k] for k in ("country", "library_type", "languages") if k in fields}
    library.missing = []
    library.data = {"forgotten": {"contacts": report.contacts, "messages": report.messages}}
    library.hidden, library.public_listing = True, False
    library.forgotten_at, library.updated_at = now, now
    session.add(
        History(
            record_type="library", record_id=library.id, from_state=library.state,
            to_state=library.state, cause="cli", event="forgotten",
            note=f"forgotten by operator at {now.isoformat(timespec='seconds')}", trace=[],
            created_at=now,
        )
    )  # fmt: skip
    session.flush()
    return report


def _needles(addresses: set[str], names: Iterable[str], library: Library) -> list[re.Pattern[str]]:
    """What marks a mail as naming the library: its addresses, and its specific names."""
    found = [re.compile(re.escape(a)) for a in sorted(addresses)]
    for name in {n.strip().lower() for n in (*names, *_free_names(library)) if n and n.strip()}:
        if "@" in name or "://" in name:
            found.append(re.compile(re.escape(name)))
        elif len(_CJK.findall(name)) >= MIN_CJK_NAME:
            found.append(re.compile(re.escape(name)))  # no word boundaries inside CJK text
        elif len(name) >= MIN_NAME and " " in name:
            found.append(re.compile(rf"(?<!\w){re.escape(name)}(?!\w)"))
    return found


def _free_names(library: Library) -> Iterable[str]:
    """Free text the library typed that is specific enough to find again (contact name, site)."""
    fields = library.fields or {}
    for key in ("library_name", "contact_name", "contact_email", "website"):
        value = fields.get(key)
        if isinstance(value, str):
            yield value


def _finals(machines: Mapping[str, Machine], machine: str) -> set[str]:
    found = machines.get(machine)
    return {name for name, state in found.states.items() if state.final} if found else set()


def _linked_inbox(session: Session, record_type: str, ids: set[int]) -> set[int]:
    """Received mail that history, activities or staff items tie to these records."""
    if not ids:
        return set()
    found = set(
        session.scalars(
            select(History.inbox_id).where(
                History.record_type == record_type,
                History.record_id.in_(ids),
                History.inbox_id.is_not(None),
            )
        )
    )
    found |= set(
        session.scalars(
            select(AttentionItem.inbox_id).where(
                AttentionItem.record_type == record_type,
                AttentionItem.record_id.in_(ids),
                AttentionItem.inbox_id.is_not(None),
            )
        )
    )
    if record_type == "partnership":
        found |= set(
            session.scalars(
                select(Activity.inbox_id).where(
                    Activity.partnership_id.in_(ids), Activity.inbox_id.is_not(None)
                )
            )
        )
    return {i for i in found if i is not None}


def _mentions(value: Any, needles: Sequence[re.Pattern[str]]) -> bool:
    if not value or not needles:
        return False
    if isinstance(value, bytes):
        text = value.decode("utf-8", "replace").lower()
    else:
        text = str(value).lower()
    return any(n.search(text) for n in needles)


def _joined(values: Iterable[Any]) -> str:
    return " ".join(
        json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else str(v or "")
        for v in values
    )


def _erase_inbox(session: Session, ids: set[int]) -> int:
    """Blank received mail: its bytes, envelope and what was read from it; the rows stay."""
    if not ids:
        return 0
    for row in session.scalars(select(InboxMessage).where(InboxMessage.id.in_(ids))):
        row.raw, row.envelope_from, row.envelope_to = b"", None, None
        row.message_id, row.error = None, None
    for facts in session.scalars(select(MessageFacts).where(MessageFacts.inbox_id.in_(ids))):
        _blank_facts(facts)
        facts.from_address, facts.in_reply_to, facts.outcome = "", None, ERASED
    return len(ids)


def _blank_facts(facts: MessageFacts) -> None:
    facts.from_name, facts.subject, facts.reply_text, facts.data = "", "", "", {}


def _erase_outbox(row: Outbox) -> None:
    row.raw, row.subject, row.recipients, row.spec = b"", ERASED, [], None
    if row.status == "pending":  # never send a mail whose reader was forgotten
        row.status, row.last_error = "failed", "forgotten by operator"


@dataclass
class RetentionReport:
    messages: int = 0
    sent: int = 0


def blank_old_mail(
    session: Session, now: datetime, days: int, machines: Mapping[str, Machine]
) -> RetentionReport:
    """Blank mail that belongs only to records final for more than `days` days (0: nothing)."""
    report = RetentionReport()
    if days <= 0:
        return report
    cutoff = now - timedelta(days=days)
    old: dict[str, set[int]] = {}
    for record_type, model in (("library", Library), ("partnership", Partnership)):
        finals = _finals(machines, record_type)
        old[record_type] = set(
            session.scalars(
                select(model.id).where(model.state.in_(finals or {""}), model.updated_at < cutoff)
            )
        )
    # Every record each stored mail belongs to; mail tied to any live record stays whole.
    owners: dict[int, set[tuple[str, int]]] = {}

    def own(rows: Iterable[tuple[int | None, str | None, int | None]]) -> None:
        for inbox_id, record_type, record_id in rows:
            if inbox_id is not None and record_type and record_id is not None:
                owners.setdefault(inbox_id, set()).add((record_type, record_id))

    own(session.execute(select(History.inbox_id, History.record_type, History.record_id)))
    own(
        session.execute(
            select(AttentionItem.inbox_id, AttentionItem.record_type, AttentionItem.record_id)
        )
    )
    own((i, "partnership", p) for i, p in session.execute(
        select(Activity.inbox_id, Activity.partnership_id)
    ))  # fmt: skip
    own((i, "library", lib) for i, lib in session.execute(
        select(Library.source_inbox_id, Library.id)
    ))  # fmt: skip
    expired = {
        inbox_id
        for inbox_id, records in owners.items()
        if all(rid in old.get(rtype, ()) for rtype, rid in records)
    }
    if expired:
        rows = session.scalars(
            select(InboxMessage).where(InboxMessage.id.in_(expired), InboxMessage.raw != b"")
        ).all()
        for row in rows:
            row.raw = b""
        report.messages = len(rows)
        for facts in session.scalars(
            select(MessageFacts).where(MessageFacts.inbox_id.in_(expired))
        ):
            _blank_facts(facts)
        session.execute(
            update(Activity).where(Activity.inbox_id.in_(expired)).values(text="", attachments=None)
        )
    for record_type, ids in old.items():
        if not ids:
            continue
        sent = session.scalars(
            select(Outbox).where(
                Outbox.record_type == record_type,
                Outbox.record_id.in_(ids),
                Outbox.status != "pending",
                or_(Outbox.raw != b"", Outbox.spec.is_not(None)),  # a failed one keeps its spec
            )
        ).all()
        for mail in sent:
            mail.raw, mail.spec = b"", None
        report.sent += len(sent)
    session.flush()
    return report
