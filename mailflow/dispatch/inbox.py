"""The inbox stage: each stored message is parsed once, correlated, applied, and its outcome kept.

Claims stored inbox rows (store/claims.py) and handles each in a savepoint of the batch's
transaction: facts, library/contact changes, state, history, outbox rows and the row's `done`
commit together. A crash rolls everything back and leaves the row `new`, so it is processed
again and never acted on twice; a message whose handling raises is dead-lettered with the reason.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from mailflow.clock import Clock
from mailflow.dispatch import attention, commands, failures, letters, libraries, limits
from mailflow.dispatch.apply import apply_event
from mailflow.dispatch.correlate import Match, Unmatched, correlate
from mailflow.dispatch.program import Workflow
from mailflow.dispatch.turn import Cause, Outcome, Outcomes, Turn, machine_of
from mailflow.log import DISPATCH, hide_addresses
from mailflow.outbox.render import blank_form
from mailflow.parse import Facts, parse_message
from mailflow.store.claims import run_claimed
from mailflow.store.db import Database
from mailflow.store.schema import (
    DEAD,
    NEW,
    DeadLetter,
    InboxMessage,
    Library,
    MessageFacts,
    Outbox,
)

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
    db: Database, clock: Clock, wf: Workflow, batch_size: int = 200
) -> ProcessReport:
    """Process every stored message still `new`."""
    report = ProcessReport()

    def ready(now: datetime):  # noqa: ANN202 - a select
        return select(InboxMessage).where(InboxMessage.status == NEW).order_by(InboxMessage.id)

    def count_attempt(row: InboxMessage) -> None:
        row.attempts += 1  # outside the savepoint: a failed attempt still counts

    def handle(session: Session, row: InboxMessage, now: datetime) -> None:
        turn = Turn(session, wf, now, Cause("message", inbox_id=row.id))
        with session.no_autoflush:
            kind, outcome = handle_message(turn, row)
        report.kinds[kind] = report.kinds.get(kind, 0) + 1
        if outcome.code is Outcomes.QUARANTINED:
            report.quarantined += 1
        else:
            report.done += 1
        DISPATCH.info("inbox #%s (%s): %s", row.id, kind, hide_addresses(outcome.text))

    def fail(session: Session, row: InboxMessage, now: datetime, exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {exc}"[:2000]
        DISPATCH.error("inbox #%s dead-lettered: %s", row.id, reason)
        row.status, row.error, row.processed_at = DEAD, reason, now
        session.add(
            DeadLetter(inbox_id=row.id, stage="dispatch", reason=reason,
                       detail=traceback.format_exc(limit=20), created_at=now)
        )  # fmt: skip
        report.dead += 1

    run_claimed(db, clock, ready, handle, fail, batch_size, before=count_attempt)
    return report


def handle_message(turn: Turn, row: InboxMessage) -> tuple[str, Outcome]:
    """Parse once, act, and keep the facts with the outcome (a code and the words)."""
    facts = read_facts(turn, row.raw)
    turn = turn.because(
        Cause("message", inbox_id=row.id, message_id=facts.message_id, sender=facts.from_.address)
    )
    outcome = act(turn, facts)
    # A Core insert, run at once inside the message's savepoint: one row per message does not
    # need the unit of work's bookkeeping (nothing in this session holds it as an object).
    turn.session.execute(
        insert(MessageFacts),
        [dict(
            inbox_id=row.id, kind=facts.kind, from_address=facts.from_.address,
            from_name=facts.from_.name[:255], subject=facts.subject, sent_at=facts.date,
            language=facts.language, token=facts.token, token_forged=facts.token_forged,
            in_reply_to=facts.in_reply_to, intent=facts.intent, auto_reply=facts.auto_reply,
            auto_reply_until=facts.auto_reply_until, reply_text=facts.reply_text,
            outcome_code=str(outcome.code), outcome=outcome.text, data=facts.to_json(),
        )],
    )  # fmt: skip
    row.status, row.processed_at = outcome.inbox_status, turn.now
    row.error = outcome.text if outcome.code is Outcomes.QUARANTINED else None
    return facts.kind, outcome


def read_facts(turn: Turn, raw: bytes) -> Facts:
    """One stored message read as the program reads it (a confirmed command is read again)."""
    program = turn.program
    return parse_message(
        raw, program_address=program.program_address, secret=program.secret,
        staff=(*program.staff, *filter(None, [program.mentor_address])),
        commands=turn.wf.rules.command_words(),
        text_verbs=turn.wf.rules.text_verbs(),
    )  # fmt: skip


def unreadable(facts: Facts) -> bool:
    """Nothing to read and no one to answer: such mail goes to Quarantine with the reason."""
    defects = set(facts.defects)
    return "empty-input" in defects or {"no-from", "empty-body"} <= defects


def act(turn: Turn, facts: Facts) -> Outcome:
    if unreadable(facts):
        return Outcome(Outcomes.QUARANTINED, "quarantined: empty message with no sender")
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
    found = correlate(turn, facts)
    if isinstance(found, Outcome):
        return found
    if isinstance(found, Unmatched):
        if not found.understood:
            return not_understood(turn, facts, found.reason)
        return attention.needs_person(turn, facts, found.reason, found.record)
    return _apply(turn, facts, found)


def _apply(turn: Turn, facts: Facts, match: Match) -> Outcome:
    record, event = match.record, match.event
    notes = []
    if isinstance(record, Library) and event.name == "application":
        if not match.created:
            libraries.merge_application(turn, record, dict(event.fields))
        if facts.language and match.created:
            record.language = facts.language
        libraries.flag_timezone(turn, record, facts)
    if match.contact is not None and not match.created:
        notes += libraries.contact_lines(turn, match.contact, facts)
    decision = apply_event(turn, record, event)
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
    recent = turn.session.scalar(
        _ANSWERED, {"thread_key": f"sender:{sender}", "since": turn.now - timedelta(days=1)}
    )
    if recent is not None:
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
