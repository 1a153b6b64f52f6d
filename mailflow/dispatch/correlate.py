"""Correlate: a message's facts become the record it concerns and the event it means.

Which record: the signed reply token, then In-Reply-To/References against the mail we sent to
the sender, then the subject tag ([SL-p12], only where it agrees with the sender being that
record's contact: a hint, not proof), then the sender's address (docs/architecture.md). What event: the rules' reply table of the
record's state (rules/*.yaml `replies`, docs/rules.md), read against the signals the reply
carries. A reply from someone who is not a contact of that record moves nothing; it goes to a
person.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, select

from mailflow.dispatch import libraries, limits, lookups
from mailflow.dispatch.libraries import CONTACT_FIELDS
from mailflow.dispatch.turn import Outcome, Outcomes, Record, Turn, load_record, machine_of
from mailflow.engine.events import Event
from mailflow.parse import Facts
from mailflow.parse.clean import reusable_id
from mailflow.parse.dates import parse_date, parse_duration_months
from mailflow.parse.forms import APPLICATION_FIELDS, MOU_FIELDS
from mailflow.parse.intents import detect_intent, prefers_informal
from mailflow.parse.tokens import parse_ref, subject_tag
from mailflow.store.locks import locked
from mailflow.store.schema import AttentionItem, Contact, Library, Outbox, Partnership

# Application fields a reply may correct; "Time zone: teatime" is one too (parse keeps it as
# timezone_raw), so it reaches the library and is flagged to staff, not read as nothing.
PROFILE_FIELDS = (
    *(k for k in APPLICATION_FIELDS if k not in CONTACT_FIELDS),
    "timezone_raw",
)
# A reply counts as a whole (re)application form when it carries this many application fields.
FORM_FIELDS_MIN = 3
_MAX_LOOKUP_IDS = 50  # References ids looked up, newest first; clients keep far fewer
_FIELD_LINE = re.compile(r"^\s*[^:：\n]{1,40}[:：]")
# Our Message-IDs start with the ref of the token the mail carries (outbox/compose.py), when
# mail.reply_token = subject or the mail is about a record.
_MESSAGE_ID_REF = re.compile(r"mailflow\.([a-z][0-9]{1,12}(?:l[0-9]{1,9})?)\.")


@dataclass(frozen=True)
class Unmatched:
    """Nobody can act on it automatically: it goes to a person (and the sender may be told)."""

    reason: str
    record: Record | None = None
    understood: bool = True  # False: we could not even tell what it is


@dataclass
class Match:
    """What a message is about: a record, the event it means, and the contact who sent it."""

    record: Record
    event: Event
    contact: Contact | None = None
    created: bool = False  # a new library


# Built once: our mails a reply names, newest first (not their bytes).
_ANSWERED_MAILS = (
    select(Outbox.message_id, Outbox.recipients, Outbox.record_type, Outbox.record_id)
    .where(Outbox.message_id.in_(bindparam("ids", expanding=True)))
    .order_by(Outbox.id.desc())
)


def reply_ref(turn: Turn, facts: Facts) -> str | None:
    """The ref (`p12`, `n3`, `c7`) a reply proves: its verified token, else a mail we sent to
    its sender that it answers (In-Reply-To/References). Both are proof: the token is signed,
    and our Message-IDs are unguessable and only our recipients have them. Staff may answer a
    mail sent to another staff address (their authority comes from authentication)."""
    if facts.token:
        return facts.token.partition(".")[0]  # parse verified it
    # Asked twice for a reply (is it a confirmation? then: which record?): looked up once.
    key = f"reply_ref:{id(facts)}"
    if key not in turn.memo:
        turn.memo[key] = _answered_ref(turn, facts)
    ref = turn.memo[key]
    return ref if isinstance(ref, str) else None


def answered_ids(facts: Facts) -> list[str]:
    """The Message-IDs a reply is looked up by: its In-Reply-To, then its newest References."""
    # Our own ids are ASCII dot-atoms; what the sender wrote is looked up in that form,
    # and only the most recent few (a References header can hold thousands).
    candidates = (facts.in_reply_to, *reversed(facts.references[-_MAX_LOOKUP_IDS:]))
    return list(dict.fromkeys(i for i in map(reusable_id, candidates) if i))


def _answered_ref(turn: Turn, facts: Facts) -> str | None:
    ids = answered_ids(facts)
    if not ids:
        return None
    sender = facts.from_.address.lower()
    cached = lookups.of(turn.session)
    found = cached.sent_with_ids(turn.session, ids) if cached is not None else None
    if found is None:  # not a batch's dispatch (or not asked for at its start)
        found = [
            lookups.SentMail(*row) for row in turn.session.execute(_ANSWERED_MAILS, {"ids": ids})
        ]
    for sent in found:
        if sender not in sent.recipients and not turn.program.is_staff(sender):
            continue
        named = _MESSAGE_ID_REF.match(sent.message_id)
        if named:
            return named.group(1)
        if sent.record_type and sent.record_id:
            return f"{sent.record_type[0]}{sent.record_id}"
    return None


def referenced(turn: Turn, facts: Facts) -> Record | AttentionItem | None:
    """The record (or needs-a-person item) a reply names: its token, else the mail it answers."""
    return _load_ref(turn, reply_ref(turn, facts))


def subject_record(turn: Turn, facts: Facts) -> Record | AttentionItem | None:
    """The record the subject tag names: a hint only (staff commands, which need authentication
    anyway; for libraries see `tagged`)."""
    return _load_ref(turn, subject_tag(facts.subject))


def tagged(turn: Turn, facts: Facts, contact: Contact | None) -> Record | None:
    """The record the subject tag names, when the sender is its contact; else None.

    The tag is not signed: it only picks, among the records the sender's address already ties
    it to, the one the mail is about (which partnership of its library), never more.
    """
    target = _load_ref(turn, subject_tag(facts.subject))
    if contact is None or target is None:
        return None
    if isinstance(target, Library) and target.id == contact.library_id:
        return target
    if isinstance(target, Partnership) and contact.library_id in (
        target.library_a_id,
        target.library_b_id,
    ):
        return target
    return None


def _load_ref(turn: Turn, ref: str | None) -> Record | AttentionItem | None:
    parts = parse_ref(ref) if ref is not None else None
    if parts is None or parts.id is None or parts.kind not in ("n", "p", "l"):
        return None  # a confirmation (`c12`, `k3`) names no record: its own handler reads it
    if parts.kind == "n":
        return turn.session.get(AttentionItem, parts.id)
    return load_record(turn.session, {"p": "partnership", "l": "library"}[parts.kind], parts.id)


def expired(turn: Turn, record: Record) -> str | None:
    """Why a reference to `record` no longer acts: it reached a final state too long ago.

    Tokens never change, so a closed record's token would verify forever; after the grace
    period, mail naming it goes to a person instead.
    """
    state = turn.machine(record).states.get(record.state)
    if state is None or not state.final:
        return None
    grace = timedelta(days=turn.program.token_grace_days)
    if record.updated_at + grace > turn.now:
        return None
    return (
        f"the reply names {machine_of(record)} #{record.id}, {record.state} since "
        f"{record.updated_at:%Y-%m-%d}: its token expired {grace.days} days after that"
    )


def signals(facts: Facts) -> set[str]:
    """What the reply carries, in the rules' words (engine.definition.REPLY_SIGNALS)."""
    found = set()
    # Contact lines are understood in every state, outside the reply tables (GLOBAL_SIGNALS):
    # "yes" with a new "Contact email:" line is still a yes, not a correction of the form.
    app = [k for k in facts.fields if k in PROFILE_FIELDS]
    if any(k in CONTACT_FIELDS for k in facts.fields):
        found.add("contact")
    if len(app) >= FORM_FIELDS_MIN:
        found.add("form")
    if app:
        found.add("fields")
    if prefers_informal(facts.reply_text):
        found.add("informal")
    if any(k in MOU_FIELDS for k in facts.fields) or agrees(facts):
        found.add("mou")
    if facts.intent == "accept":
        found.add("yes")
    if facts.intent == "decline":
        found.add("no")
    if facts.reply_text.strip():
        found.add("text")
    return found


def agrees(facts: Facts) -> bool:
    """An MOU reply agrees when its words outside the form lines say yes ("I agree", "同意")."""
    if facts.intent == "accept":
        return True
    words = [ln for ln in facts.reply_text.splitlines() if ln.strip() and not _FIELD_LINE.match(ln)]
    return detect_intent("\n".join(words)) == "accept"


def _event_data(facts: Facts) -> dict[str, object]:
    """What the engine may keep besides the text: parsed MOU terms, the attachments' list."""
    data: dict[str, object] = {}
    review = (
        parse_date(facts.fields.get("review_date", "")) if facts.fields.get("review_date") else None
    )
    if review:
        data["review_on"] = review.isoformat()
    start = parse_date(facts.fields["start_date"]) if facts.fields.get("start_date") else None
    if start:
        data["start_on"] = start.isoformat()  # a duration counts from the MOU's own start
    months = (
        parse_duration_months(facts.fields["duration"]) if facts.fields.get("duration") else None
    )
    if months:
        data["duration_months"] = months
    attachments = [
        {"filename": a.filename, "content_type": a.content_type, "size": a.size, "part": i}
        for i, a in enumerate(facts.attachments)
    ]
    if attachments:
        data["attachments"] = attachments
    return data


def reply_event(turn: Turn, record: Record, facts: Facts, side: int | None) -> Event | None:
    """The event a contact's reply means in the record's state, from the rules' reply table."""
    state = turn.machine(record).states.get(record.state)
    if state is None:
        return None
    present = signals(facts)
    if "contact" in present and not present & {signal for signal, _ in state.replies}:
        present.add("fields")  # nothing but contact lines: a correction of the contact fields
    name = next((event for signal, event in state.replies if signal in present), None)
    if name is None:
        return None
    fields = dict(facts.fields)
    return Event(
        name, turn.now, sender=facts.from_.address, side=side, text=facts.reply_text,
        fields=fields, agreed=agrees(facts), data=_event_data(facts),
    )  # fmt: skip


def correlate(turn: Turn, facts: Facts) -> Match | Unmatched | Outcome:
    """The record and event of a reply, an application or a withdrawal; else what to do instead."""
    sender = facts.from_.address
    mine = libraries.contacts_for(turn, sender)
    contact = mine[0] if mine else None
    several = len({c.library_id for c in mine}) > 1
    if facts.kind == "withdrawal":
        if contact is None:
            return Unmatched("a withdrawal from an address that is no contact")
        named = referenced(turn, facts)
        if several:
            # One address for several libraries: only the library's token says which leaves.
            own = named.id if isinstance(named, Library) else None
            contact = next((c for c in mine if c.library_id == own), None)
            if contact is None:
                return Unmatched(_which(sender, mine))
        return Match(contact.library, Event("withdrawal", turn.now, sender=sender), contact)
    target = referenced(turn, facts) if facts.kind == "reply" else None
    if target is None and facts.kind == "reply":
        target = tagged(turn, facts, contact)
    if isinstance(target, Library | Partnership) and (why := expired(turn, target)):
        return Unmatched(why, target)
    if isinstance(target, Library | Partnership):
        return _reply(turn, facts, target, _contact_about(turn, facts, target, mine))
    if facts.kind in ("application", "reply") and (
        facts.kind == "application" or "form" in signals(facts)
    ):
        return _application(turn, facts, mine)
    if contact is not None and (facts.kind == "reply" or {"fields", "contact"} & signals(facts)):
        if several:
            return Unmatched(_which(sender, mine))
        # A reply we cannot tie to a mail, or a new mail with a correction ("City: York"), from a
        # known contact: read it against its library.
        return _reply(turn, facts, contact.library, contact)
    return Unmatched("mailflow could not tell what this message is", understood=False)


def _which(sender: str, mine: list[Contact]) -> str:
    ids = ", ".join(f"#{c.library_id}" for c in mine)
    return (
        f"{sender} is the contact of libraries {ids} and the mail carries no library's token:"
        " which one it is about is for a person to say"
    )


def _contact_about(turn: Turn, facts: Facts, target: Record, mine: list[Contact]) -> Contact | None:
    """The sender's contact row for the record a reply names: of that library, or of the side
    of the partnership the token names (else either side)."""
    if isinstance(target, Library):
        ids = [target.id]
    else:
        named = parse_ref(facts.token.partition(".")[0]) if facts.token else None
        ids = [target.library_a_id, target.library_b_id]
        if named is not None and named.side in ids:
            ids = [named.side, *ids]
    by_library = {c.library_id: c for c in mine}
    found = next((by_library[i] for i in ids if i in by_library), None)
    return found or (mine[0] if mine else None)


def _reply(
    turn: Turn, facts: Facts, target: Record, contact: Contact | None
) -> Match | Unmatched | Outcome:
    sender = facts.from_.address
    kind = machine_of(target)
    # The event is read from the record's state: read it under the record's row lock, so a
    # second reply about it (the other library accepting) waits and then sees this one.
    locked(turn.session, target)
    if isinstance(target, Library):
        if contact is None or contact.library_id != target.id:
            return Unmatched(
                f"reply about library #{target.id} from {sender}, who is not its contact", target
            )
        side = None
    else:
        sides = {target.library_a_id, target.library_b_id}
        if contact is None or contact.library_id not in sides:
            return Unmatched(
                f"reply about partnership #{target.id} from {sender}, who is a contact of neither"
                " library",
                target,
            )
        side = contact.library_id
        # The side comes from the token when it names one (`p42l7`): a partner's contact
        # answering with the other library's token speaks for neither.
        named_side = parse_ref(facts.token.partition(".")[0]) if facts.token else None
        if named_side is not None and named_side.side not in (None, side):
            return Unmatched(
                f"reply with library #{named_side.side}'s token for partnership #{target.id} from"
                f" {sender}, a contact of library #{side}",
                target,
            )
    event = reply_event(turn, target, facts, side)
    if event is None and "contact" in signals(facts):
        # Contact lines are understood in every state (GLOBAL_SIGNALS), even where the reply
        # table has no event for them: the contact changes, the record does not.
        changes = libraries.contact_lines(turn, contact, facts)
        if changes:
            text = f"contact update for library #{contact.library_id}: {'; '.join(changes)}"
            return Outcome(Outcomes.EVENT, text)
    if event is None:
        reason = f"could not tell what {sender} wants for {kind} #{target.id} ({target.state})"
        return Unmatched(reason, target)
    return Match(target, event, contact)


def _application(turn: Turn, facts: Facts, mine: list[Contact]) -> Match | Unmatched | Outcome:
    if not facts.from_.address:
        # No From address (missing, empty, "undisclosed-recipients:;"): nobody to answer and no
        # address to keep as the contact; a person decides.
        return Unmatched("an application without a usable From address (no one to answer)")
    ours = limits.looks_like_ours(turn, facts)
    if ours is not None:
        # A list re-posting our acknowledgement reads like a form; answering it would loop.
        return Outcome(Outcomes.OWN_MAIL, f"not an application: {ours}; not answered")
    fields = libraries.application_fields(facts)
    event = Event("application", turn.now, sender=facts.from_.address, fields=fields)
    # A known address writing about one of its libraries (by name; a correction names none).
    same = [c for c in mine if libraries.same_name(c.library, fields)]
    if len({c.library_id for c in same}) > 1:
        return Unmatched(_which(facts.from_.address, same))
    if same:
        return Match(same[0].library, event, same[0])
    # Otherwise a known address applies for another library (a second branch): a library of
    # its own, told apart from the first by its token; never a rewrite of the first.
    named = libraries.contact_for(turn, fields.get("contact_email", ""))
    if named is not None and named.library_id in {c.library_id for c in mine}:
        named = None  # the form names the sender's own address
    existing = named.library if named is not None else libraries.same_library(turn, fields)
    if existing is not None:
        return libraries.propose_merge(turn, existing, facts, fields)
    library = libraries.new_library(turn, facts, fields)
    return Match(library, event, library.contacts[0], created=True)
