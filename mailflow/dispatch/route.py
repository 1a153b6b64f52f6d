"""Where a parsed message goes: what it is (bounce, auto-reply, staff command, a library's
reply or application) decides which stage acts on it, and with what outcome.

The inbox stage (inbox.py) calls `act` once per message inside its savepoint and keeps the
outcome with the message's facts.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import bindparam, select

from mailflow.dispatch import (
    attention,
    commands,
    failures,
    letters,
    libraries,
    limits,
    lookups,
    speaks,
)
from mailflow.dispatch.apply import apply_event
from mailflow.dispatch.correlate import Match, Unmatched, correlate
from mailflow.dispatch.turn import Outcome, Outcomes, Turn, machine_of
from mailflow.outbox.render import blank_form
from mailflow.parse import Facts
from mailflow.store.locks import locked
from mailflow.store.schema import Library, Outbox

NOT_UNDERSTOOD_TEMPLATE = "library-not-understood"
# Built once: asked for every message nobody understood.
_ANSWERED = (
    select(Outbox.id)
    .where(
        Outbox.template == NOT_UNDERSTOOD_TEMPLATE,
        Outbox.thread_key == bindparam("thread_key"),
        Outbox.created_at > bindparam("since"),
    )
    .limit(1)
)


def unreadable(facts: Facts) -> bool:
    """Nothing to read and no one to answer: such mail goes to Quarantine with the reason."""
    defects = set(facts.defects)
    return "empty-input" in defects or {"no-from", "empty-body"} <= defects


def act(turn: Turn, facts: Facts) -> Outcome:
    if unreadable(facts):
        return Outcome(Outcomes.QUARANTINED, "quarantined: empty message with no sender")
    if (returned := failures.verp_row(turn, facts)) is not None:
        # Came back to one mail's return path (VERP): a delivery report about that mail.
        return failures.verp_bounce(turn, facts, returned)
    if facts.mailflow_own:
        return Outcome(Outcomes.OWN_MAIL, "dropped: mailflow's own mail came back; not answered")
    hold = limits.held(turn, facts) if facts.kind != "bounce" else None
    if hold is not None:
        # Read and acted on as usual, but nothing is sent: no answer can feed a loop.
        attention.tell_held(turn, facts.from_.address, hold)
        outcome = act_on(replace(turn, silenced=hold), facts)
        return Outcome(outcome.code, f"{outcome.text}; not answered: sender held")
    return act_on(turn, facts)


def act_on(turn: Turn, facts: Facts) -> Outcome:
    if facts.kind == "bounce":
        return failures.bounce(turn, facts)
    if facts.kind == "auto_reply":
        return libraries.auto_reply(turn, facts)
    libraries.back_from_away(turn, facts)
    if facts.kind == "command":
        return commands.run_command(turn, facts)
    if facts.token_forged:
        return attention.needs_person(
            turn, facts, "the reply token does not verify (forged or altered)"
        )
    if speaks.is_confirmation(turn, facts):
        return speaks.confirmed(turn, facts)
    found = correlate(turn, facts)
    if isinstance(found, Outcome):
        return found
    if isinstance(found, Unmatched):
        if not found.understood:
            return not_understood(turn, facts, found.reason)
        return attention.needs_person(turn, facts, found.reason, found.record)
    if speaks.needs_confirmation(turn, facts, found):
        return speaks.ask(turn, facts, found)
    return _apply(turn, facts, found)


def _apply(turn: Turn, facts: Facts, match: Match) -> Outcome:
    record, event = match.record, match.event
    locked(turn.session, record)  # before the application's fields are merged into it
    if match.contact is not None and not match.created:
        event = replace(event, proven=speaks.proves(turn, facts, match.contact.library_id))
    if (
        isinstance(record, Library)
        and event.name == "application"
        and not match.created
        and not event.proven
        and turn.wf.machines["library"].has_tag(record.state, "proposable")
    ):
        # A form or correction "from" the contact of a listed or partnered library that proves
        # nothing (no token, not an answer to our mail, not authenticated): anyone can write
        # that From, and the public list shows what it says. Staff decide (`merge`).
        return libraries.propose_merge(turn, record, facts, dict(event.fields), update=True)
    notes = []
    if isinstance(record, Library) and event.name == "application":
        # A library whose address never confirmed keeps what it sent first until a mail proves
        # the address: a second, forged form does not rewrite what the confirmation showed.
        held = speaks.unconfirmed(turn, record) and not event.proven
        if not match.created and not held:
            libraries.merge_application(turn, record, dict(event.fields))
        if facts.language and match.created:
            record.language = facts.language
        libraries.flag_timezone(turn, record, facts)
    if match.contact is not None and not match.created:
        notes += libraries.contact_lines(turn, match.contact, facts)
    # The last thing this turn does; a batch's dispatch flushes each message's turn after it.
    decision = apply_event(turn, record, event, last=lookups.of(turn.session) is not None)
    kind = machine_of(record)
    if not decision.matched:
        reason = f"{event.name} does not apply to {kind} #{record.id} in state {decision.old_state}"
        outcome = attention.needs_person(turn, facts, reason, record, Outcomes.NO_RULE)
        return outcome
    arrow = (
        f"{decision.old_state} -> {decision.new_state}"
        if decision.changed
        else f"stays {decision.new_state}"
    )
    code = Outcomes.APPLICATION if match.created else Outcomes.EVENT
    text = f"{'new ' if match.created else ''}{event.name}: {kind} #{record.id} {arrow}"
    if notes:
        text += "; " + "; ".join(notes)
    return Outcome(code, text)


def not_understood(turn: Turn, facts: Facts, reason: str) -> Outcome:
    """Staff get it; the sender is told once a day at most, never a loop."""
    outcome = attention.needs_person(turn, facts, reason, code=Outcomes.NOT_UNDERSTOOD)
    sender = facts.from_.address
    if not sender or turn.program.is_staff(sender):
        return outcome
    mine = libraries.contacts_for(turn, sender)
    if mine and all(speaks.unconfirmed(turn, c.library) for c in mine):
        # The address had its one mail (the confirmation request); anyone can write in its name.
        letters.suppress(turn, sender, NOT_UNDERSTOOD_TEMPLATE, "the address has not confirmed")
        return Outcome(Outcomes.NOT_UNDERSTOOD, outcome.text + "; not answered: unconfirmed")
    thread_key, since = f"sender:{sender}", turn.now - timedelta(days=1)
    cached = lookups.of(turn.session)
    if cached is not None:  # a batch's dispatch: the batch's senders asked at once
        recent = cached.answered(turn.session, NOT_UNDERSTOOD_TEMPLATE, thread_key, since)
    else:
        recent = (
            turn.session.scalar(_ANSWERED, {"thread_key": thread_key, "since": since}) is not None
        )
    if recent:
        letters.suppress(turn, sender, NOT_UNDERSTOOD_TEMPLATE, "answered in the last 24 hours")
        return Outcome(Outcomes.RATE_LIMITED, outcome.text + "; not answered (rate limit)")
    locale = facts.language if facts.language in turn.renderer.available_locales() else None
    locale = locale or turn.program.default_locale
    letters.enqueue(
        turn, template=NOT_UNDERSTOOD_TEMPLATE, locales=[locale], to=[sender],
        context={"recipient": {"name": facts.from_.name, "email": sender},
                 "message": attention.message_view(turn, facts, ""),
                 "form": blank_form("application", locale)},
        record=None, token_ref=None, thread_key=f"sender:{sender}", in_reply_to=facts.message_id,
    )  # fmt: skip
    return Outcome(Outcomes.NOT_UNDERSTOOD, outcome.text + "; sender told we could not understand")
