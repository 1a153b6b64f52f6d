"""The only write path from stored mail to program state.

Claims stored inbox rows, parses them, and writes facts, library/contact changes and history in
the same transaction that marks the row done. A crash anywhere rolls the transaction back and
leaves the row `new`, so it is processed again and never acted on twice. A message whose
processing raises is rolled back to its savepoint and dead-lettered with the reason.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.clock import Clock
from mailflow.log import DISPATCH
from mailflow.parse import Facts, parse_message
from mailflow.parse.forms import REQUIRED_APPLICATION_FIELDS, missing
from mailflow.store.db import Database
from mailflow.store.schema import (
    DEAD,
    DONE,
    NEW,
    QUARANTINED,
    Contact,
    DeadLetter,
    History,
    InboxMessage,
    Library,
    MessageFacts,
)



def _unreadable(facts: Facts) -> bool:
    """Nothing to read and no one to answer: such mail goes to Quarantine with the reason."""
    defects = set(facts.defects)
    return "empty-input" in defects or {"no-from", "empty-body"} <= defects


@dataclass(frozen=True)
class ProgramContext:
    program_address: str
    secret: bytes
    staff: tuple[str, ...] = ()


@dataclass
class ProcessReport:
    done: int = 0
    quarantined: int = 0
    dead: int = 0
    kinds: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.done + self.quarantined + self.dead


def process_pending(
    db: Database, clock: Clock, program: ProgramContext, batch_size: int = 200
) -> ProcessReport:
    """Process every stored message still `new`, one transaction per batch."""
    report = ProcessReport()
    while True:
        with db.unit_of_work() as session:
            query = select(InboxMessage).where(InboxMessage.status == NEW).order_by(InboxMessage.id)
            if not db.is_sqlite:
                # Several workers on PostgreSQL each take their own rows.
                query = query.with_for_update(skip_locked=True)
            rows = list(session.scalars(query.limit(batch_size)))
            for row in rows:
                _process_one(session, row, clock.now(), program, report)
        if len(rows) < batch_size:
            return report


def _process_one(
    session: Session,
    row: InboxMessage,
    now: datetime,
    program: ProgramContext,
    report: ProcessReport,
) -> None:
    row_id = row.id
    try:
        with session.begin_nested():
            row.attempts += 1
            facts = parse_message(
                row.raw,
                program_address=program.program_address,
                secret=program.secret,
                staff=program.staff,
            )
            outcome, status = act(session, row, facts, now, program)
            session.add(
                MessageFacts(
                    inbox_id=row.id,
                    kind=facts.kind,
                    from_address=facts.from_.address,
                    from_name=facts.from_.name[:255],
                    subject=facts.subject,
                    sent_at=facts.date,
                    language=facts.language,
                    token=facts.token,
                    token_forged=facts.token_forged,
                    in_reply_to=facts.in_reply_to,
                    intent=facts.intent,
                    auto_reply=facts.auto_reply,
                    auto_reply_until=facts.auto_reply_until,
                    reply_text=facts.reply_text,
                    outcome=outcome,
                    data=facts.to_json(),
                )
            )
            row.status, row.processed_at, row.error = status, now, None
            if status == QUARANTINED:
                row.error = outcome
        report.kinds[facts.kind] = report.kinds.get(facts.kind, 0) + 1
        if status == QUARANTINED:
            report.quarantined += 1
        else:
            report.done += 1
        DISPATCH.info("inbox #%s (%s): %s", row_id, facts.kind, outcome)
    except Exception as exc:  # noqa: BLE001 - one bad message must not stop the others
        reason = f"{type(exc).__name__}: {exc}"[:2000]
        DISPATCH.error("inbox #%s dead-lettered: %s", row_id, reason)
        row = session.get(InboxMessage, row_id)
        row.status, row.error, row.processed_at = DEAD, reason, now
        session.add(
            DeadLetter(
                inbox_id=row_id,
                stage="dispatch",
                reason=reason,
                detail=traceback.format_exc(limit=20),
                created_at=now,
            )
        )
        report.dead += 1


def act(
    session: Session, row: InboxMessage, facts: Facts, now: datetime, program: ProgramContext
) -> tuple[str, str]:
    """Apply what this message means. Returns (outcome in words, new inbox status)."""
    if _unreadable(facts):
        return "quarantined: empty message with no sender, nothing to read or answer", QUARANTINED
    if facts.mailflow_own:
        return "dropped: mailflow's own mail came back", DONE
    if facts.kind == "bounce":
        return _bounce(session, row, facts, now), DONE
    if facts.kind == "auto_reply":
        return _auto_reply(session, facts), DONE
    if facts.kind == "application":
        return _application(session, row, facts, now), DONE
    if facts.kind == "withdrawal":
        return _withdrawal(session, row, facts, now), DONE
    if facts.token_forged:
        return "needs a person: reply token does not verify (forged or altered)", DONE
    return f"needs a person: {facts.kind} recorded, no automatic action", DONE


def _history(
    session: Session,
    record: Library | Contact,
    from_state: str | None,
    to_state: str | None,
    row: InboxMessage,
    note: str,
    now: datetime,
) -> None:
    session.add(
        History(
            record_type="library" if isinstance(record, Library) else "contact",
            record_id=record.id,
            from_state=from_state,
            to_state=to_state,
            cause="message",
            inbox_id=row.id,
            note=note,
            trace=[],
            created_at=now,
        )
    )


def _contact(session: Session, address: str) -> Contact | None:
    return session.scalar(select(Contact).where(Contact.email == address.lower()))


def _bounce(session: Session, row: InboxMessage, facts: Facts, now: datetime) -> str:
    assert facts.bounce is not None
    flagged, unknown = [], []
    for address in facts.bounce.recipients:
        contact = _contact(session, address)
        if contact is None:
            unknown.append(address)
            continue
        before = contact.status
        contact.bounce_count += 1
        contact.last_bounce_at = now
        contact.status = "failed" if facts.bounce.permanent else "bouncing"
        _history(session, contact, before, contact.status, row, f"bounce for {address}", now)
        flagged.append(f"{address} -> {contact.status}")
        library = contact.library
        if all(c.status == "failed" for c in library.contacts) and library.state != "unreachable":
            _history(
                session, library, library.state, "unreachable", row, "every contact bounces", now
            )
            library.state, library.updated_at = "unreachable", now
    parts = []
    if flagged:
        parts.append("contact flagged: " + ", ".join(flagged))
    if unknown:
        parts.append("bounce for unknown address(es): " + ", ".join(unknown))
    if not facts.bounce.recipients:
        parts.append("bounce with no readable recipient; needs a person")
    return "; ".join(parts) + "; not answered"


def _auto_reply(session: Session, facts: Facts) -> str:
    contact = _contact(session, facts.from_.address) if facts.from_.address else None
    if contact is not None and facts.auto_reply_until is not None:
        contact.paused_until = facts.auto_reply_until
        return f"auto-reply recorded; reminders to {contact.email} paused until {facts.auto_reply_until:%Y-%m-%d}; not answered"
    return "auto-reply recorded; not answered"


def _application(session: Session, row: InboxMessage, facts: Facts, now: datetime) -> str:
    fields = {k: v for k, v in facts.fields.items() if v}
    sender = facts.from_.address
    fields.setdefault("contact_email", sender)
    if facts.from_.name:
        fields.setdefault("contact_name", facts.from_.name)
    contact = _contact(session, sender) or (
        _contact(session, fields["contact_email"]) if fields.get("contact_email") else None
    )
    if contact is not None and contact.library.state in ("incomplete", "seeking"):
        library = contact.library
        merged = {**library.fields, **fields}
        return _update_library(session, library, merged, row, now, "application updated")
    library = Library(
        name=fields.get("library_name") or "(name not given)",
        state="incomplete",
        fields={},
        missing=[],
        language=facts.language or "en",
        source_inbox_id=row.id,
        created_at=now,
        updated_at=now,
    )
    session.add(library)
    session.flush()
    for address, name in {
        sender: facts.from_.name or fields.get("contact_name", ""),
        fields["contact_email"].lower(): fields.get("contact_name", ""),
    }.items():
        if address and _contact(session, address) is None:
            session.add(Contact(library_id=library.id, email=address, name=name[:255]))
    session.flush()
    _history(session, library, None, "incomplete", row, "application received", now)
    return _update_library(session, library, fields, row, now, "new application")


def _update_library(
    session: Session, library: Library, fields: dict, row: InboxMessage, now: datetime, what: str
) -> str:
    library.fields = fields
    library.name = fields.get("library_name") or library.name
    library.library_type = fields.get("library_type")
    library.country = fields.get("country")
    library.city = fields.get("city")
    library.missing = missing(fields, REQUIRED_APPLICATION_FIELDS)
    library.updated_at = now
    target = "incomplete" if library.missing else "seeking"
    if target != library.state:
        _history(session, library, library.state, target, row, what, now)
        library.state = target
    detail = f"missing {', '.join(library.missing)}" if library.missing else "complete"
    return f"{what}: library #{library.id} {library.name!r} is {library.state} ({detail})"


def _withdrawal(session: Session, row: InboxMessage, facts: Facts, now: datetime) -> str:
    contact = _contact(session, facts.from_.address)
    if contact is None:
        return "needs a person: withdrawal from an address that is no contact"
    library = contact.library
    if library.state != "withdrawn":
        _history(
            session, library, library.state, "withdrawn", row, "library asked to withdraw", now
        )
        library.state, library.updated_at = "withdrawn", now
    return f"library #{library.id} {library.name!r} withdrawn"


def replay(db: Database, dead_letter_id: int, now: datetime) -> InboxMessage:
    """Put a dead-lettered message back in the queue (it keeps its id and raw bytes)."""
    with db.unit_of_work() as session:
        letter = session.get(DeadLetter, dead_letter_id)
        if letter is None or letter.inbox_id is None:
            raise LookupError(f"no dead letter #{dead_letter_id}")
        row = session.get(InboxMessage, letter.inbox_id)
        assert row is not None
        if row.facts is not None:
            session.delete(row.facts)
        row.status, row.error = NEW, None
        letter.replayed_at = now
        return row
