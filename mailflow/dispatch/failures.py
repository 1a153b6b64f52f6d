"""Failed addresses, in one place: bounces that come back by mail, and relays that refuse.

Either way the contact is marked (a temporary failure `bouncing`, a permanent one `failed`),
history keeps why, and a library left with no working address becomes unreachable (the rules
tell staff).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sqlalchemy.orm import Session

from mailflow.clock import Clock
from mailflow.dispatch import attention, letters
from mailflow.dispatch.apply import apply_event
from mailflow.dispatch.libraries import contact_for
from mailflow.dispatch.program import Workflow
from mailflow.dispatch.turn import Cause, Outcome, Outcomes, Turn, load_record
from mailflow.engine.events import Event
from mailflow.parse import Facts
from mailflow.store.schema import History, Outbox

UNREACHABLE = "contacts-unreachable"


def mark_failed(turn: Turn, addresses: Iterable[str], permanent: bool, why: str) -> list[str]:
    """Mark each known address; libraries left without a working one become unreachable."""
    marked, unreachable = [], []
    for address in addresses:
        contact = contact_for(turn, address)
        if contact is None:
            continue
        before = contact.status
        contact.bounce_count += 1
        contact.last_bounce_at = turn.now
        if contact.status != "former":
            contact.status = "failed" if permanent else "bouncing"
        turn.session.add(
            History(
                record_type="contact", record_id=contact.id, from_state=before,
                to_state=contact.status, cause=turn.cause.kind, inbox_id=turn.cause.inbox_id,
                event="delivery-failed", note=f"{why} for contact #{contact.id}", trace=[],
                created_at=turn.now,
            )
        )  # fmt: skip
        marked.append(f"contact #{contact.id} -> {contact.status}")
        library = contact.library
        dead = all(c.status in ("failed", "former") for c in library.contacts)
        if dead and library not in unreachable:
            unreachable.append(library)
    for library in unreachable:
        apply_event(turn, library, Event(UNREACHABLE, turn.now, cause="engine"))
    return marked


def bounce(turn: Turn, facts: Facts) -> Outcome:
    """A delivery status notification (or a look-alike) came back by mail."""
    assert facts.bounce is not None
    recipients = list(facts.bounce.recipients)
    marked = mark_failed(turn, recipients, bool(facts.bounce.permanent), "bounce")
    unknown = len(recipients) - len(marked)
    parts = []
    if marked:
        parts.append("flagged " + ", ".join(marked))
    if unknown:
        parts.append(f"{unknown} address(es) that are no contact")
    if not recipients:
        parts.append("no readable recipient")
    return Outcome(Outcomes.BOUNCE, "bounce: " + "; ".join(parts) + "; not answered")


def on_permanent_failure(
    wf: Workflow, clock: Clock
) -> Callable[[Session, Outbox, Exception], None]:
    """The drain callback: the relay refused a recipient for good."""

    def handle(session: Session, row: Outbox, exc: Exception) -> None:
        turn = Turn(session, wf, clock.now(), Cause("engine"))
        refused = [r.lower() for r in (getattr(exc, "recipients", None) or row.recipients)]
        mark_failed(turn, refused, True, f"relay refused {row.template}")
        if row.template.startswith("staff-"):
            return  # staff mail that fails is logged; telling staff by mail would loop
        record = load_record(session, row.record_type, row.record_id)
        reason = f"delivery of {row.template} to {', '.join(refused)} failed permanently: {exc}"
        if record is not None:
            attention.escalate(turn, record, "staff-notice", reason)
        else:
            attention.open_item(turn, "delivery-failed", reason)
            letters.to_staff(turn, "staff-notice", reason)

    return handle
