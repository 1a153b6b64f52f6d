"""From one message's facts to the record it concerns and the event it means.

Correlation order (DESIGN.md): the signed reply token, then In-Reply-To/References against the
mail we sent, then the sender's address. A reply that does not come from a contact of the record
it names moves nothing and goes to staff; so does anything we cannot understand.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.dispatch import intake
from mailflow.dispatch.mail import suppress
from mailflow.dispatch.program import Workflow
from mailflow.dispatch.records import Cause, machine_of
from mailflow.dispatch.sending import notify_staff
from mailflow.dispatch.workflow import apply_event
from mailflow.engine.events import Event
from mailflow.parse import Facts
from mailflow.parse.intents import detect_intent, split_pair
from mailflow.parse.tokens import verify_token
from mailflow.store.schema import (
    DONE,
    QUARANTINED,
    InboxMessage,
    Library,
    Outbox,
    Partnership,
)

STAFF_VERBS = {"approve": "staff-approve", "reject": "staff-reject", "resume": "staff-resume",
               "close": "staff-close", "note": "staff-note", "skip-mou": "staff-skip-mou"}  # fmt: skip


def route(
    session: Session, wf: Workflow, row: InboxMessage, facts: Facts, now: datetime
) -> tuple[str, str]:
    """Apply what this message means. Returns (outcome in words, new inbox status)."""
    cause = Cause("message", inbox_id=row.id, message_id=facts.message_id)
    if intake.unreadable(facts):
        return "quarantined: empty message with no sender, nothing to read or answer", QUARANTINED
    if facts.mailflow_own:
        return "dropped: mailflow's own mail came back; not answered", DONE
    if facts.kind == "bounce":
        return _bounce(session, wf, row, facts, cause, now), DONE
    if facts.kind == "auto_reply":
        return intake.auto_reply(session, facts) + "; never answered", DONE
    if facts.kind == "command":
        return _command(session, wf, facts, cause, now), DONE
    if facts.token_forged:
        return _needs_person(
            session, wf, facts, cause, now, "the reply token does not verify (forged or altered)"
        )
    if facts.kind == "withdrawal":
        contact = intake.contact_for(session, facts.from_.address)
        library = contact.library if contact else None
        if library is None:
            return _needs_person(
                session, wf, facts, cause, now, "a withdrawal from an address that is no contact"
            )
        return _event(
            session, wf, library, Event("withdrawal", now, sender=facts.from_.address), cause, now
        )
    target = _target(session, wf, facts)
    if facts.kind == "reply" and target is not None:
        return _reply(session, wf, target, facts, cause, now)
    if facts.kind == "application" or (facts.kind == "reply" and intake.looks_like_form(facts)):
        library, created = intake.application_library(session, wf, row, facts, now)
        event = Event("application", now, sender=facts.from_.address, fields=dict(facts.fields))
        outcome, status = _event(session, wf, library, event, cause, now)
        # _event says "application: library #1 new -> seeking"; say whether it was new instead.
        return ("new " if created else "updated ") + outcome, status
    return _not_understood(session, wf, facts, cause, now)


def _event(
    session: Session,
    wf: Workflow,
    record: Library | Partnership,
    event: Event,
    cause: Cause,
    now: datetime,
) -> tuple[str, str]:
    decision = apply_event(session, wf, record, event, cause, now)
    kind = machine_of(record)
    if not decision.matched:
        return _needs_person_text(
            session,
            wf,
            record,
            cause,
            now,
            f"{event.name} does not apply to {kind} #{record.id} in state {decision.old_state}",
        )
    arrow = (
        f"{decision.old_state} -> {decision.new_state}"
        if decision.changed
        else f"stays {decision.new_state}"
    )
    return f"{event.name}: {kind} #{record.id} {arrow}", DONE


def _target(session: Session, wf: Workflow, facts: Facts) -> Library | Partnership | None:
    ref = verify_token(wf.program.secret, facts.token) if facts.token else None
    if ref is None:
        ids = [i for i in (facts.in_reply_to, *reversed(facts.references)) if i]
        if ids:
            sent = session.scalars(
                select(Outbox).where(Outbox.message_id.in_(ids)).order_by(Outbox.id.desc())
            ).first()
            if sent is not None and sent.record_type and sent.record_id:
                ref = f"{sent.record_type[0]}{sent.record_id}"
    if ref is None or not ref[1:].isdigit():
        return None
    model = {"p": Partnership, "l": Library}.get(ref[0])
    return session.get(model, int(ref[1:])) if model else None


def _reply(
    session: Session,
    wf: Workflow,
    target: Library | Partnership,
    facts: Facts,
    cause: Cause,
    now: datetime,
) -> tuple[str, str]:
    sender = facts.from_.address
    if isinstance(target, Library):
        if sender not in {c.email for c in target.contacts}:
            return _needs_person(
                session,
                wf,
                facts,
                cause,
                now,
                f"reply about library #{target.id} from {sender}, who is not its contact",
            )
        if target.state == "incomplete" or intake.looks_like_form(facts):
            intake.merge_application(target, facts, now)
            return _event(
                session,
                wf,
                target,
                Event("application", now, sender=sender, fields=dict(facts.fields)),
                cause,
                now,
            )
        if facts.intent == "accept":
            return _event(session, wf, target, Event("accept", now, sender=sender), cause, now)
        return _needs_person(
            session,
            wf,
            facts,
            cause,
            now,
            f"a reply from library #{target.id} that asks for no known step",
        )
    side = next(
        (
            lib
            for lib in (target.library_a, target.library_b)
            if sender in {c.email for c in lib.contacts}
        ),
        None,
    )
    if side is None:
        return _needs_person(
            session,
            wf,
            facts,
            cause,
            now,
            f"reply about partnership #{target.id} from {sender}, who is a contact of neither library",
        )
    base = {
        "sender": sender,
        "side": side.id,
        "text": facts.reply_text,
        "fields": dict(facts.fields),
    }
    state = target.state
    if state == "mou_sent":
        event = Event("mou-reply", now, agreed=_agrees(facts), **base)
    elif state in ("offered", "lapsed", "renewal") and facts.intent in ("accept", "decline"):
        event = Event(facts.intent, now, **base)
    elif state in ("trial", "active", "renewal", "stalled") and facts.reply_text.strip():
        event = Event("activity-report", now, **base)
    else:
        return _needs_person(
            session,
            wf,
            facts,
            cause,
            now,
            f"could not tell what {sender} wants for partnership #{target.id} ({state})",
        )
    return _event(session, wf, target, event, cause, now)


_FIELD_LINE = re.compile(r"^\s*[^:：\n]{1,40}[:：]")


def _agrees(facts: Facts) -> bool:
    """An MOU reply agrees when its words outside the form lines say yes ("I agree", "同意")."""
    if facts.intent == "accept":
        return True
    words = [
        line
        for line in facts.reply_text.splitlines()
        if line.strip() and not _FIELD_LINE.match(line)
    ]
    return detect_intent("\n".join(words)) == "accept"


def _command(session: Session, wf: Workflow, facts: Facts, cause: Cause, now: datetime) -> str:
    verb, _, argument = (facts.command or "").partition(" ")
    if verb == "pair":
        pair = split_pair(argument)
        found = [intake.find_library(session, name) for name in pair] if pair else []
        if len(found) != 2 or None in found:
            return _staff_reply(
                session,
                wf,
                facts,
                cause,
                now,
                f"pair: could not find both libraries in {argument!r}",
            )
        from mailflow.dispatch.proposals import propose

        partnership, why = propose(
            session,
            wf,
            found[0],
            found[1],
            now,
            cause,
            reasons=[f"proposed by {facts.from_.address}"],
        )
        if partnership is None:
            return _staff_reply(session, wf, facts, cause, now, f"pair: {why}")
        return f"staff {facts.from_.address}: pair -> partnership #{partnership.id} {partnership.state}"
    if verb == "status":
        library = intake.find_library(session, argument)
        if library is None:
            return _staff_reply(
                session, wf, facts, cause, now, f"status: no library matches {argument!r}"
            )
        return _staff_reply(session, wf, facts, cause, now, intake.status_text(session, library))
    target = _target(session, wf, facts)
    event_name = STAFF_VERBS.get(verb)
    if target is None or event_name is None:
        return _staff_reply(
            session,
            wf,
            facts,
            cause,
            now,
            f"{verb}: reply to a proposal or escalation mail so I know which partnership you mean",
        )
    event = Event(event_name, now, cause="staff", sender=facts.from_.address, text=argument)
    staff_cause = Cause("staff", inbox_id=cause.inbox_id, message_id=cause.message_id)
    decision = apply_event(session, wf, target, event, staff_cause, now)
    kind = machine_of(target)
    if not decision.matched:
        return _staff_reply(
            session,
            wf,
            facts,
            cause,
            now,
            f"{verb}: not possible for {kind} #{target.id} in state {decision.old_state}",
        )
    return f"staff {facts.from_.address}: {verb} -> {kind} #{target.id} {decision.old_state} -> {decision.new_state}"


def _staff_reply(
    session: Session, wf: Workflow, facts: Facts, cause: Cause, now: datetime, text: str
) -> str:
    message = {"id": cause.inbox_id, "from": facts.from_.address, "subject": facts.subject,
               "received": now.isoformat(), "reason": text, "text": facts.reply_text}  # fmt: skip
    notify_staff(session, wf, None, cause, now, "staff-needs-person", text, {"message": message})
    return f"needs a person: {text}"


def _needs_person(
    session: Session, wf: Workflow, facts: Facts, cause: Cause, now: datetime, reason: str
) -> tuple[str, str]:
    return _staff_reply(session, wf, facts, cause, now, reason), DONE


def _needs_person_text(
    session: Session,
    wf: Workflow,
    record: Library | Partnership,
    cause: Cause,
    now: datetime,
    reason: str,
) -> tuple[str, str]:
    notify_staff(session, wf, record, cause, now, "staff-escalation", reason)
    return f"needs a person: {reason}", DONE


def _not_understood(
    session: Session, wf: Workflow, facts: Facts, cause: Cause, now: datetime
) -> tuple[str, str]:
    outcome, status = _needs_person(
        session, wf, facts, cause, now, "mailflow could not tell what this message is"
    )
    sender = facts.from_.address
    if not sender or sender in wf.program.staff:
        return outcome, status
    # At most one "we could not understand" answer per address per day: never a loop.
    recent = session.scalar(
        select(Outbox.id).where(
            Outbox.template == "library-not-understood",
            Outbox.thread_key == f"sender:{sender}",
            Outbox.created_at > now - timedelta(days=1),
        )
    )
    if recent is not None:
        suppress(
            session,
            now,
            sender,
            "library-not-understood",
            "already answered this address in the last 24 hours",
            cause.inbox_id,
        )
        return outcome + "; not answered (rate limit)", status
    intake.answer_not_understood(session, wf, facts, cause, now)
    return outcome + "; sender told we could not understand", status


def _bounce(
    session: Session, wf: Workflow, row: InboxMessage, facts: Facts, cause: Cause, now: datetime
) -> str:
    text, unreachable = intake.flag_bounce(session, row, facts, now)
    for library in unreachable:
        apply_event(session, wf, library, Event("contacts-unreachable", now), cause, now)
    return text + "; not answered"
