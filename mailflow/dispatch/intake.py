"""Library-side bookkeeping for incoming mail: applications, contacts, bounces, auto-replies."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailflow.dispatch.mail import enqueue
from mailflow.dispatch.program import Workflow
from mailflow.outbox.render import blank_form
from mailflow.parse import Facts
from mailflow.parse.forms import APPLICATION_FIELDS, REQUIRED_APPLICATION_FIELDS, missing
from mailflow.store.schema import Contact, History, InboxMessage, Library, Partnership

# A reply counts as a (re)application form when it carries at least this many form fields.
FORM_FIELDS_MIN = 3


def unreadable(facts: Facts) -> bool:
    """Nothing to read and no one to answer: such mail goes to Quarantine with the reason."""
    defects = set(facts.defects)
    return "empty-input" in defects or {"no-from", "empty-body"} <= defects


def looks_like_form(facts: Facts) -> bool:
    return sum(1 for k in facts.fields if k in APPLICATION_FIELDS) >= FORM_FIELDS_MIN


def contact_for(session: Session, address: str) -> Contact | None:
    """The contact with this address, in any library."""
    return session.scalar(select(Contact).where(Contact.email == address.lower()))


def _application_fields(facts: Facts) -> dict[str, str]:
    fields = {k: v for k, v in facts.fields.items() if k in APPLICATION_FIELDS and v}
    fields.setdefault("contact_email", facts.from_.address)
    if facts.from_.name:
        fields.setdefault("contact_name", facts.from_.name)
    return fields


def merge_application(library: Library, facts: Facts, now: datetime) -> None:
    """Fold the fields of a (re)application into the library's profile."""
    fields = {**(library.fields or {}), **_application_fields(facts)}
    library.fields = fields
    library.name = fields.get("library_name") or library.name
    library.library_type = fields.get("library_type")
    library.country = fields.get("country")
    library.city = fields.get("city")
    library.timezone = fields.get("timezone") or library.timezone
    library.missing = missing(fields, REQUIRED_APPLICATION_FIELDS)
    if facts.language:
        library.language = facts.language
    library.updated_at = now


def application_library(
    session: Session, wf: Workflow, row: InboxMessage, facts: Facts, now: datetime
) -> tuple[Library, bool]:
    """The library this application is about (found by its contact, else new), updated."""
    fields = _application_fields(facts)
    contact = contact_for(session, facts.from_.address) or contact_for(
        session, fields["contact_email"]
    )
    if contact is not None:
        merge_application(contact.library, facts, now)
        return contact.library, False
    library = Library(
        name=fields.get("library_name") or "(name not given)",
        state="new",
        fields={},
        missing=[],
        data={},
        hidden=False,
        language=facts.language or wf.program.default_locale,
        source_inbox_id=row.id,
        created_at=now,
        updated_at=now,
    )
    session.add(library)
    session.flush()
    addresses = {facts.from_.address: facts.from_.name or fields.get("contact_name", "")}
    addresses.setdefault(fields["contact_email"].lower(), fields.get("contact_name", ""))
    for address, name in addresses.items():
        if address and contact_for(session, address) is None:
            session.add(Contact(library_id=library.id, email=address, name=(name or "")[:255]))
    session.flush()
    session.refresh(library)
    merge_application(library, facts, now)
    return library, True


def flag_bounce(
    session: Session, row: InboxMessage, facts: Facts, now: datetime
) -> tuple[str, list[Library]]:
    """Mark the bouncing contacts; return the outcome and libraries left with no good contact."""
    assert facts.bounce is not None
    flagged, unknown, unreachable = [], [], []
    for address in facts.bounce.recipients:
        contact = contact_for(session, address)
        if contact is None:
            unknown.append(address)
            continue
        before = contact.status
        contact.bounce_count += 1
        contact.last_bounce_at = now
        contact.status = "failed" if facts.bounce.permanent else "bouncing"
        session.add(
            History(record_type="contact", record_id=contact.id, from_state=before, to_state=contact.status,
                    cause="message", inbox_id=row.id, event="bounce", note=f"bounce for {address}",
                    trace=[], created_at=now)
        )  # fmt: skip
        flagged.append(f"{address} -> {contact.status}")
        library = contact.library
        if all(c.status == "failed" for c in library.contacts) and library not in unreachable:
            unreachable.append(library)
    parts = []
    if flagged:
        parts.append("contact flagged: " + ", ".join(flagged))
    if unknown:
        parts.append("bounce for unknown address(es): " + ", ".join(unknown))
    if not facts.bounce.recipients:
        parts.append("bounce with no readable recipient")
    return "; ".join(parts) or "bounce", unreachable


def auto_reply(session: Session, facts: Facts) -> str:
    contact = contact_for(session, facts.from_.address) if facts.from_.address else None
    if contact is not None and facts.auto_reply_until is not None:
        contact.paused_until = facts.auto_reply_until
        return f"auto-reply recorded; reminders to {contact.email} wait until {facts.auto_reply_until:%Y-%m-%d}"
    return "auto-reply recorded"


def find_library(session: Session, text: str) -> Library | None:
    """A library named by staff: `#12`, `12`, a contact address, or (part of) its name."""
    text = text.strip().strip("\"'“”").strip()
    if not text:
        return None
    if text.lstrip("#").isdigit():
        return session.get(Library, int(text.lstrip("#")))
    if "@" in text:
        contact = contact_for(session, text)
        return contact.library if contact else None
    exact = session.scalars(select(Library).where(func.lower(Library.name) == text.lower())).first()
    if exact is not None:
        return exact
    matches = list(session.scalars(select(Library).where(Library.name.ilike(f"%{text}%")).limit(2)))
    return matches[0] if len(matches) == 1 else None


def status_text(session: Session, library: Library) -> str:
    partnerships = session.scalars(
        select(Partnership).where(
            (Partnership.library_a_id == library.id) | (Partnership.library_b_id == library.id)
        )
    )
    lines = [f"library #{library.id} {library.name} ({library.country}): {library.state}"]
    if library.missing:
        lines.append("missing: " + ", ".join(library.missing))
    for c in library.contacts:
        lines.append(f"contact {c.email}: {c.status}")
    for p in partnerships:
        other = p.library_b if p.library_a_id == library.id else p.library_a
        lines.append(f"partnership #{p.id} with {other.name}: {p.state}")
    return "status: " + "; ".join(lines)


def answer_not_understood(
    session: Session, wf: Workflow, facts: Facts, cause, now: datetime
) -> None:  # noqa: ANN001
    locale = (
        facts.language
        if facts.language in (wf.renderer.available_locales() if wf.renderer else [])
        else wf.program.default_locale
    )
    message = {"id": cause.inbox_id, "from": facts.from_.address, "subject": facts.subject,
               "received": now.isoformat(), "reason": "", "text": facts.reply_text}  # fmt: skip
    enqueue(
        session, wf, now, template="library-not-understood", locales=[locale], to=[facts.from_.address],
        context={"recipient": {"name": facts.from_.name, "email": facts.from_.address}, "message": message,
                 "form": blank_form("application", locale)},
        record=None, token_ref=None, thread_key=f"sender:{facts.from_.address}",
        in_reply_to=facts.message_id, inbox_id=cause.inbox_id,
    )  # fmt: skip
