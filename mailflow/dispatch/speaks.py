"""Libraries speak only for themselves: a withdrawal, acceptance or decline acts only when it
carries that library's own reply token, or comes authenticated for the contact's address (DKIM
mailflow verifies, or a trusted host's Authentication-Results, as for staff; parse/authn.py).

Otherwise nothing happens yet: the contact address, as we keep it, is asked by mail whether it
sent this (token `k<id>`); only a "yes"/"confirm" reply from that address, once and in time, acts.
A forged From moves nothing, and the forger is never answered (the question goes to the contact).
"""

from __future__ import annotations

import re
from datetime import timedelta

from mailflow.dispatch import attention, letters, libraries
from mailflow.dispatch.apply import apply_event, view
from mailflow.dispatch.correlate import Match, reply_ref
from mailflow.dispatch.reading import authenticated
from mailflow.dispatch.turn import Outcome, Outcomes, Turn, load_record, machine_of
from mailflow.engine import actions as fx
from mailflow.engine.events import Event
from mailflow.engine.machine import decide
from mailflow.parse import Facts
from mailflow.parse.tokens import Ref, parse_ref
from mailflow.store.schema import ContactConfirmation, Library

# The events only the library itself may cause: they end or commit it.
DECISIVE = ("withdrawal", "accept", "decline")
ANSWERS = ("accept", "decline", "renew")  # recorded answers (engine Record kinds)
TEMPLATE = "library-confirm"
_CONFIRMS = re.compile(r"\bconfirm(?:s|ed)?\b|确认|确定|是我", re.IGNORECASE)


def token_ref(turn: Turn, facts: Facts) -> Ref | None:
    """What the reply proves: its verified token, or (mail systems without sub-addressing) the
    Message-ID of the mail we sent to this sender that it answers; None for neither."""
    ref = reply_ref(turn, facts)
    return parse_ref(ref) if ref else None


def own_token(turn: Turn, facts: Facts, library_id: int) -> bool:
    """Whether the mail carries a library token naming this library (`l7`, or `p42l7`)."""
    ref = token_ref(turn, facts)
    if ref is None or ref.staff:
        return False
    return (ref.kind == "l" and ref.id == library_id) or (
        ref.kind == "p" and ref.side == library_id
    )


def proves(turn: Turn, facts: Facts, library_id: int) -> bool:
    """The mail proves its sender reads that library's contact mailbox: its own token (or an
    answer to our mail to it), or an authenticated From. Rules read it as `address-proven`."""
    return own_token(turn, facts, library_id) or authenticated(turn, facts) is not None


def unconfirmed(turn: Turn, library: Library) -> bool:
    """The library's address has not answered our confirmation mail (a state tagged so)."""
    return turn.wf.machines["library"].has_tag(library.state, "unconfirmed")


def needs_confirmation(turn: Turn, facts: Facts, match: Match) -> bool:
    """A decisive event from a contact without its own token or an authenticated mail.

    Decisive: it would move the record, or record the library's answer (a yes or no to an
    offer or a renewal). A "no news yet" the rules keep as an activity decides nothing."""
    if match.created or match.contact is None or match.event.name not in DECISIVE:
        return False
    if own_token(turn, facts, match.contact.library_id):
        return False
    record, event = match.record, match.event
    decision = decide(turn.machine(record), view(turn, record, event), event, turn.now)
    answers = [e for e in decision.effects if isinstance(e, fx.Record) and e.kind in ANSWERS]
    if not decision.matched or not (decision.changed or answers):
        return False  # nothing to protect: it goes on as usual (a report, a person)
    return authenticated(turn, facts) is None


def ask(turn: Turn, facts: Facts, match: Match) -> Outcome:
    """Do nothing yet; ask the contact address itself whether it sent this."""
    contact, record, event = match.contact, match.record, match.event
    assert contact is not None
    if unconfirmed(turn, contact.library):
        # The address had its one mail (the confirmation of its application); a forged From
        # must not make us write to it again.
        text = (
            f"{event.name} for {machine_of(record)} #{record.id} without the library's token:"
            f" nothing done; its address has not confirmed the application, so it is not asked"
        )
        return Outcome(Outcomes.UNCONFIRMED, text)
    pending = ContactConfirmation(
        inbox_id=turn.cause.inbox_id, library_id=contact.library_id, address=contact.email,
        record_type=machine_of(record), record_id=record.id, event=event.name,
        text=event.text[:4000], created_at=turn.now,
        expires_at=turn.now + timedelta(days=turn.program.contact_confirm_days),
    )  # fmt: skip
    turn.session.add(pending)
    turn.session.flush()
    library = contact.library
    locale = letters.locale_for(turn, library)
    letters.enqueue(
        turn, template=TEMPLATE, locales=[locale], to=[contact.email],
        context={"recipient": {"name": contact.name, "email": contact.email},
                 "library": letters.profile(library), "event": event.name,
                 "record": {"type": machine_of(record), "id": record.id},
                 "expires": pending.expires_at.date().isoformat(),
                 "message": attention.message_view(turn, facts, "not confirmed")},
        record=None, token_ref=f"k{pending.id}", thread_key=f"confirm-contact:{pending.id}",
    )  # fmt: skip
    text = (
        f"{event.name} for {machine_of(record)} #{record.id} without the library's token or an"
        f" authenticated mail: nothing done; {contact.email} asked to confirm (#{pending.id})"
    )
    return Outcome(Outcomes.UNCONFIRMED, text)


def is_confirmation(turn: Turn, facts: Facts) -> bool:
    ref = token_ref(turn, facts)
    return ref is not None and not ref.staff and ref.kind == "k"


def confirmed(turn: Turn, facts: Facts) -> Outcome:
    """A reply to a confirmation mail: a yes from its own address acts, once, in time."""
    ref = token_ref(turn, facts)
    assert ref is not None and ref.id is not None
    pending = turn.session.get(ContactConfirmation, ref.id)
    sender = facts.from_.address.lower()
    why = None
    if pending is None or pending.address.lower() != sender:
        why = "a confirmation reply from an address that was not asked"
    elif pending.used_at is not None:
        why = f"confirmation #{pending.id} was used already"
    elif pending.expires_at <= turn.now:
        why = f"confirmation #{pending.id} expired"
    elif facts.intent == "decline" or not (
        facts.intent == "accept" or _CONFIRMS.search(facts.reply_text[:500])
    ):
        why = f"confirmation #{pending.id} was answered, but not with yes or confirm"
    if why is not None or pending is None:
        return attention.needs_person(turn, facts, why or "no such confirmation")
    pending.used_at, pending.used_inbox_id = turn.now, turn.cause.inbox_id
    if pending.event == libraries.CONTACT_EVENT:
        library = turn.session.get(Library, pending.library_id)
        assert library is not None
        changes = libraries.confirm_contact(turn, library, pending.address, pending.text)
        text = f"confirmed #{pending.id}: {pending.address} is library #{library.id}'s contact"
        return Outcome(Outcomes.EVENT, "; ".join([text, *changes]))
    record = load_record(turn.session, pending.record_type, pending.record_id)
    assert record is not None
    side = pending.library_id if pending.record_type == "partnership" else None
    event = Event(pending.event, turn.now, sender=pending.address, side=side, text=pending.text)
    decision = apply_event(turn, record, event)
    kind = machine_of(record)
    if not decision.matched:
        reason = (
            f"confirmed {pending.event} does not apply to {kind} #{record.id} in state"
            f" {decision.old_state}"
        )
        library = turn.session.get(Library, pending.library_id)
        return attention.needs_person(turn, facts, reason, library, Outcomes.NO_RULE)
    arrow = f"{decision.old_state} -> {decision.new_state}"
    return Outcome(
        Outcomes.EVENT, f"confirmed #{pending.id}: {pending.event}: {kind} #{record.id} {arrow}"
    )
