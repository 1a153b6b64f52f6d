"""One turn of dispatch: the context every stage shares, why it runs, and what came of it.

A `Turn` is built once per message, timer or command and handed to correlate, apply and
letters, instead of each function taking session, workflow, clock, ids and cause again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from mailflow.dispatch.program import ProgramContext, Workflow
from mailflow.engine.definition import Machine
from mailflow.outbox.render import Renderer
from mailflow.store.locks import locked
from mailflow.store.schema import DONE, QUARANTINED, Library, Partnership

Record = Library | Partnership


class Outcomes(StrEnum):
    """What became of a message: a typed code in `message_facts.outcome_code`, beside the words."""

    EVENT = "event"  # a transition fired
    NO_RULE = "no-rule"  # the event applies to nothing in that state: staff were told
    APPLICATION = "application"  # a new library applied
    MERGE_PROPOSED = "merge-proposed"  # a new address names an existing library: staff decide
    NEEDS_PERSON = "needs-person"  # understood nothing, or not from the record's contact
    NOT_UNDERSTOOD = "not-understood"  # needs a person, and the sender was told
    RATE_LIMITED = "rate-limited"  # needs a person; the sender was told recently already
    BOUNCE = "bounce"
    AUTO_REPLY = "auto-reply"
    OWN_MAIL = "own-mail"  # our own mail came back
    QUARANTINED = "quarantined"
    STAFF_COMMAND = "staff-command"  # a staff command acted
    STAFF_ANSWER = "staff-answer"  # a staff command was answered (status, not possible, ...)
    STAFF_UNCONFIRMED = "staff-unconfirmed"  # unauthenticated: the staff address is asked first
    STAFF_REFUSED = "staff-refused"  # a confirmation that is used, expired or not that address's
    UNCONFIRMED = "unconfirmed"  # a library's withdrawal/accept/decline waits for its confirmation


@dataclass(frozen=True)
class Outcome:
    code: Outcomes
    text: str

    @property
    def inbox_status(self) -> str:
        return QUARANTINED if self.code is Outcomes.QUARANTINED else DONE

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Cause:
    kind: str  # message | timer | staff | cli | engine
    inbox_id: int | None = None
    timer_id: int | None = None
    message_id: str | None = None  # the incoming Message-ID, to thread our answer to it
    by: str | None = None  # the staff address a command came from
    sender: str | None = None  # the incoming message's From address (loop limits count by it)


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass
class Turn:
    session: Session
    wf: Workflow
    now: datetime
    cause: Cause
    ids: Callable[[], str] = new_id
    # Timers scheduled in this turn, so a mail can quote the date it promises (its `deadline`).
    scheduled: dict[tuple[str, int, str], datetime] = field(default_factory=dict)
    # Why this turn sends nothing (its sender is held for flooding); None: it may send.
    silenced: str | None = None
    # A record changed state in this turn: its mail is the workflow moving on (an offer, an
    # introduction), not an answer a loop could cause, so the per-address limit lets it pass.
    progressed: bool = False
    # What one turn works out more than once from the same facts (correlate.reply_ref); shared
    # by the copies `because` and `replace` make of this turn.
    memo: dict[str, object] = field(default_factory=dict)

    @property
    def program(self) -> ProgramContext:
        return self.wf.program

    @property
    def renderer(self) -> Renderer:
        assert self.wf.renderer is not None, "a Renderer is needed to send mail"
        return self.wf.renderer

    def machine(self, record: Record) -> Machine:
        return self.wf.machines[machine_of(record)]

    def because(self, cause: Cause) -> Turn:
        return replace(self, cause=cause)


def load_record(session: Session, machine: str | None, record_id: int | None) -> Record | None:
    """The library or partnership a stored reference names (timers, outbox rows, items),
    locked for this transaction: whoever reads a record to change it holds its row lock."""
    if record_id is None:
        return None
    if machine == "library":
        return locked(session, session.get(Library, record_id))
    if machine == "partnership":
        return locked(session, session.get(Partnership, record_id))
    return None


def machine_of(record: Record) -> str:
    return "library" if isinstance(record, Library) else "partnership"


def ref_of(record: Record) -> str:
    """The record's name in reply tokens and outbox rows: l7, p42."""
    return f"{machine_of(record)[0]}{record.id}"
