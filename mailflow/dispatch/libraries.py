"""Libraries and their contacts: applications, contact updates, proposed merges, lookups.

A library is found by the address its mail comes from, never by an address a form names: a
form naming another library's contact, or a new address naming an existing library (same name
and city), goes to staff as a proposed merge instead of changing or duplicating anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import bindparam, func, or_, select

from mailflow.dispatch import attention, letters, lookups
from mailflow.dispatch.turn import Outcome, Outcomes, Turn
from mailflow.parse import Facts
from mailflow.parse.clean import address_forms
from mailflow.parse.forms import APPLICATION_FIELDS, REQUIRED_APPLICATION_FIELDS, missing
from mailflow.store.locks import locked
from mailflow.store.schema import Contact, ContactConfirmation, History, Library, Partnership

CONTACT_FIELDS = ("contact_email", "contact_name")


def contact_for(turn: Turn, address: str) -> Contact | None:
    """The first contact with this address, in any library; an IDN domain matches in either
    form (a bounce names the A-labels we sent to, the library typed the Unicode)."""
    found = contacts_for(turn, address)
    return found[0] if found else None


def contacts_for(turn: Turn, address: str) -> list[Contact]:
    """Every contact with this address: one address may speak for several libraries (a
    librarian with two branches); the library's token tells which a reply is about."""
    if not address:
        return []
    cached = lookups.of(turn.session)
    if cached is not None:  # a batch's dispatch: asked once per address (lookups.py)
        return cached.contacts_of(turn.session, address)
    return list(turn.session.scalars(_CONTACT_BY_ADDRESS, {"forms": address_forms(address)}))


def contact_of(turn: Turn, address: str, library_ids: Iterable[int]) -> Contact | None:
    """The contact with this address of one of these libraries (the first, in their order)."""
    mine = {c.library_id: c for c in contacts_for(turn, address)}
    return next((mine[i] for i in library_ids if i in mine), None)


def same_name(library: Library, fields: dict[str, str]) -> bool:
    """A form about this library: it names it (or names no library at all)."""
    name = fields.get("library_name", "").strip().casefold()
    return not name or name == (library.name or "").strip().casefold()


# Built once: the query runs several times per message (bindparam values per call).
_CONTACT_BY_ADDRESS = (
    select(Contact)
    .where(Contact.email.in_(bindparam("forms", expanding=True)))
    .order_by(Contact.id)
)


def application_fields(facts: Facts) -> dict[str, str]:
    return {k: v for k, v in facts.fields.items() if k in APPLICATION_FIELDS and v}


def merge_application(turn: Turn, library: Library, fields: dict[str, str]) -> None:
    """Fold a (re)application's fields into the library's profile (contacts change elsewhere)."""
    profile = {k: v for k, v in fields.items() if k not in CONTACT_FIELDS}
    merged = {**(library.fields or {}), **profile}
    library.fields = merged
    library.name = merged.get("library_name") or library.name
    library.library_type = merged.get("library_type")
    library.country = merged.get("country")
    library.city = merged.get("city")
    library.timezone = merged.get("timezone") or library.timezone
    if "public_listing" in profile:  # consent is the library's own answer, each time it gives one
        library.public_listing = profile["public_listing"] == "yes"
    library.missing = missing(merged, REQUIRED_APPLICATION_FIELDS)
    library.updated_at = turn.now


def _history(turn: Turn, record_type: str, record_id: int, event: str, note: str) -> None:
    lookups.insert_later(
        turn.session, History, record_type=record_type, record_id=record_id, from_state=None,
        to_state=None, cause=turn.cause.kind, inbox_id=turn.cause.inbox_id, event=event,
        note=note[:2000], trace=[], created_at=turn.now,
    )  # fmt: skip


def update_contact(
    turn: Turn,
    library: Library,
    sender: Contact | None,
    email: str | None,
    name: str | None,
    confirmed: bool = True,
) -> list[str]:
    """A contact line ("Contact email: ...", "联系人：...") or a staff `contact` command.

    A new address becomes the library's contact; the old one is kept as `former` (mail from it
    still finds the library, mail to it stops). History keeps every old value.
    confirmed=False (a library's own mail names the address): the address is someone else's
    until it answers, so it is kept `unconfirmed`, asked once (`library-confirm-contact`) and
    changes nothing else; its "yes" makes the change (speaks.confirmed).
    """
    changes: list[str] = []
    locked(turn.session, library)
    fields = dict(library.fields or {})
    email = (email or "").strip().lower() or None
    current = sender or next(iter(letters.deliverable(library)), None)
    if email and (current is None or email != current.email):
        existing = contact_of(turn, email, [library.id]) or contact_for(turn, email)
        if existing is not None and existing.library_id != library.id:
            return [f"{email} is already a contact of library #{existing.library_id}; not changed"]
        if not confirmed and (existing is None or existing.status == "unconfirmed"):
            return [ask_new_contact(turn, library, existing, email, name)]
        if existing is None:
            existing = Contact(library_id=library.id, email=email, name=name or "")
            turn.session.add(existing)
            library.contacts.append(existing)
        existing.status = "ok"
        for other in library.contacts:
            if other is not existing and other.status != "failed":
                other.status = "former"
        changes.append(
            f"contact_email: {fields.get('contact_email') or (current.email if current else '')} -> {email}"
        )
        fields["contact_email"] = email
        current = existing
    if name and name != fields.get("contact_name"):
        changes.append(f"contact_name: {fields.get('contact_name', '')} -> {name}")
        fields["contact_name"] = name
        if current is not None:
            current.name = name[:255]
    if changes:
        library.fields = fields
        library.missing = missing(fields, REQUIRED_APPLICATION_FIELDS)
        library.updated_at = turn.now
        turn.session.flush()
        _history(turn, "library", library.id, "contact-update", "; ".join(changes))
    return changes


def contact_lines(turn: Turn, contact: Contact, facts: Facts) -> list[str]:
    """The contact lines of a known contact's reply; its own address is no change. A new
    address it names is a third party's until that address confirms."""
    email, name = facts.fields.get("contact_email"), facts.fields.get("contact_name")
    if email == contact.email:
        email = None
    return update_contact(turn, contact.library, contact, email, name, confirmed=False)


CONFIRM_CONTACT = "library-confirm-contact"
CONTACT_EVENT = "contact"  # a ContactConfirmation that makes a named address the contact


def ask_new_contact(
    turn: Turn, library: Library, existing: Contact | None, email: str, name: str | None
) -> str:
    """One mail to an address a library's mail named, asking whether it is the new contact.
    Never a second: a form naming it again (or naming it ten times) sends nothing more."""
    if existing is None:
        existing = Contact(library_id=library.id, email=email, name=(name or "")[:255])
        existing.status = "unconfirmed"
        turn.session.add(existing)
        library.contacts.append(existing)
        turn.session.flush()
    asked = turn.session.scalar(
        select(ContactConfirmation.id).where(
            ContactConfirmation.library_id == library.id,
            func.lower(ContactConfirmation.address) == email,
            ContactConfirmation.event == CONTACT_EVENT,
        )
    )
    if asked is not None or not turn.cause.inbox_id:
        return f"contact_email: {email} named again; not confirmed, not asked again"
    pending = ContactConfirmation(
        inbox_id=turn.cause.inbox_id, library_id=library.id, address=email,
        record_type="library", record_id=library.id, event=CONTACT_EVENT, text=(name or "")[:255],
        created_at=turn.now,
        expires_at=turn.now + timedelta(days=turn.program.contact_confirm_days),
    )  # fmt: skip
    turn.session.add(pending)
    turn.session.flush()
    letters.enqueue(
        turn, template=CONFIRM_CONTACT, locales=[letters.locale_for(turn, library)], to=[email],
        context={"recipient": {"name": name or "", "email": email},
                 "library": letters.profile(library),
                 "expires": pending.expires_at.date().isoformat()},
        record=None, token_ref=f"k{pending.id}", thread_key=f"confirm-contact:{pending.id}",
    )  # fmt: skip
    _history(turn, "library", library.id, "contact-proposed", f"{email} named; asked to confirm")
    return f"contact_email: {email} named; asked to confirm (#{pending.id}) before any other mail"


def confirm_contact(turn: Turn, library: Library, address: str, name: str) -> list[str]:
    """A named address said yes: it becomes the library's contact, as a staff change would."""
    return update_contact(turn, library, None, address, name or None)


def same_library(turn: Turn, fields: dict[str, str]) -> Library | None:
    """An existing library with the same name and city (a new address writing for it)."""
    name, city = fields.get("library_name", "").strip(), fields.get("city", "").strip()
    if not name or not city:
        return None
    return turn.session.scalars(
        _SAME_NAME_AND_CITY, {"name": name.lower(), "city": city.lower()}
    ).first()


# Built once: every application asks.
_SAME_NAME_AND_CITY = select(Library).where(
    func.lower(Library.name) == bindparam("name"), func.lower(Library.city) == bindparam("city")
)


def propose_merge(
    turn: Turn, library: Library, facts: Facts, fields: dict[str, str], update: bool = False
) -> Outcome:
    """Staff decide whether this new address belongs to the existing library (`merge`), or
    (update) whether an unproven form from its contact's address is the library's own."""
    sender = facts.from_.address
    candidate = {k: fields.get(k, "") for k in ("library_name", "city", "country", "contact_name")}
    candidate["contact_email"] = sender
    reason = f"{sender} applied for {library.name} ({library.city}), which is library #{library.id}"
    if update:
        reason = (
            f"an update of library #{library.id} ({library.name}) 'from' its contact {sender},"
            " without the library's token or an authenticated mail: proposed, not applied"
        )
    item = attention.open_item(
        turn, str(Outcomes.MERGE_PROPOSED), reason, library,
        {"candidate": candidate, "fields": fields, "language": facts.language},
    )  # fmt: skip
    extra = {
        "candidate": candidate, "update": update,
        "message": attention.message_view(turn, facts, reason),
    }  # fmt: skip
    letters.to_staff(turn, "staff-merge-proposal", reason, library, extra, token_ref=f"n{item.id}")
    return Outcome(Outcomes.MERGE_PROPOSED, f"merge proposed: {reason}")


def new_library(turn: Turn, facts: Facts, fields: dict[str, str]) -> Library:
    sender = facts.from_.address
    library = Library(
        name=fields.get("library_name") or "",
        state=turn.wf.machines["library"].initial,
        fields={}, missing=[], data={}, hidden=False,
        language=facts.language or turn.program.default_locale,
        source_inbox_id=turn.cause.inbox_id, created_at=turn.now, updated_at=turn.now,
    )  # fmt: skip
    turn.session.add(library)
    turn.session.flush()
    # The display name is only a fallback for a new library's contact person, never an update.
    name = fields.get("contact_name") or facts.from_.name
    contact = Contact(library_id=library.id, email=sender, name=(name or "")[:255])
    turn.session.add(contact)
    library.contacts.append(contact)
    fields = {**fields, "contact_email": sender}
    if name:
        fields["contact_name"] = name
    library.fields = {k: v for k, v in fields.items() if k in CONTACT_FIELDS}
    merge_application(turn, library, fields)
    return library


def flag_timezone(turn: Turn, library: Library, facts: Facts) -> None:
    """A time zone nobody could read goes to staff once, never silently taken as UTC."""
    raw = facts.fields.get("timezone_raw")
    data = dict(library.data or {})
    if not raw or data.get("timezone_flagged") == raw:
        return
    data["timezone_flagged"] = raw
    library.data = data
    # Not UTC: letters.working_time falls back to the program's zone (schedule.default_timezone).
    reason = (
        f"the time zone {raw!r} of library #{library.id} could not be read; until it is given,"
        f" reminders keep working hours in {turn.program.default_timezone}"
    )
    attention.open_item(turn, "timezone", reason, library)
    letters.to_staff(turn, "staff-notice", reason, library)


def find_library(turn: Turn, text: str) -> Library | None:
    """A library named by staff: `#12`, `12`, a contact address, or (part of) its name."""
    text = text.strip().strip("\"'“”").strip()
    if not text:
        return None
    return locked(turn.session, _find_library(turn, text))


def _find_library(turn: Turn, text: str) -> Library | None:
    if text.lstrip("#").isdigit():
        return turn.session.get(Library, int(text.lstrip("#")))
    if "@" in text:
        contact = contact_for(turn, text)
        return contact.library if contact else None
    query = select(Library).where(func.lower(Library.name) == text.lower())
    exact = turn.session.scalars(query).first()
    if exact is not None:
        return exact
    like = select(Library).where(Library.name.ilike(f"%{text}%")).limit(2)
    matches = list(turn.session.scalars(like))
    return matches[0] if len(matches) == 1 else None


def status_lines(turn: Turn, library: Library) -> list[str]:
    partnerships = turn.session.scalars(
        select(Partnership).where(
            or_(Partnership.library_a_id == library.id, Partnership.library_b_id == library.id)
        )
    )
    lines = [f"library #{library.id} {library.name} ({library.country}): {library.state}"]
    if library.missing:
        lines.append("missing: " + ", ".join(library.missing))
    lines.extend(f"contact {c.email}: {c.status}" for c in library.contacts)
    for p in partnerships:
        other = p.library_b if p.library_a_id == library.id else p.library_a
        lines.append(f"partnership #{p.id} with {other.name}: {p.state}")
    return lines


def auto_reply(turn: Turn, facts: Facts) -> Outcome:
    found = [locked(turn.session, c) for c in contacts_for(turn, facts.from_.address)]
    until = facts.auto_reply_until
    if found and until is not None:
        # Anyone can send an out-of-office "until 2031": the pause is capped, and any later
        # mail from the contact lifts it (back_from_away). The person is away for every
        # library the address speaks for.
        cap = turn.now + timedelta(days=turn.program.max_away_days)
        for contact in found:
            contact.paused_until = min(until, cap)
        ids = ", ".join(f"#{c.id}" for c in found)
        text = (
            f"auto-reply recorded; reminders to contact {ids} wait until "
            f"{min(until, cap):%Y-%m-%d}" + (" (capped)" if until > cap else "")
        )
        return Outcome(Outcomes.AUTO_REPLY, text + "; never answered")
    return Outcome(Outcomes.AUTO_REPLY, "auto-reply recorded; never answered")


def back_from_away(turn: Turn, facts: Facts) -> str | None:
    """Mail from a paused contact that is no auto-reply: the person is there, reminders resume."""
    paused = [
        locked(turn.session, c)
        for c in contacts_for(turn, facts.from_.address)
        if c.paused_until is not None and c.paused_until > turn.now
    ]
    for contact in paused:
        contact.paused_until = None
    return f"contact #{paused[0].id} wrote: reminders resume" if paused else None
