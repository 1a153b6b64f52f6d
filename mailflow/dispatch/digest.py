"""The daily staff digest: new applications, proposals waiting, partnerships needing care,
bounced contacts, and every open needs-a-person item (none missing, nothing resolved)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from mailflow.clock import Clock
from mailflow.dispatch import letters
from mailflow.dispatch.program import Workflow
from mailflow.dispatch.turn import Cause, Turn
from mailflow.store.db import Database
from mailflow.store.locks import once
from mailflow.store.schema import AttentionItem, Contact, Library, MessageFacts, Outbox, Partnership

TEMPLATE = "staff-digest"


def send_digest(db: Database, clock: Clock, wf: Workflow) -> bool:
    """The daily staff digest; at most one a day, whatever restarts."""
    now = clock.now()
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    with db.unit_of_work() as session:
        if session.scalar(
            select(Outbox.id).where(Outbox.template == TEMPLATE, Outbox.created_at >= day)
        ):
            return False
        # Every worker's scheduler ticks at the digest minute; the database picks one.
        if not once(session, TEMPLATE, day.date(), now):
            return False
        turn = Turn(session, wf, now, Cause("timer"))
        since = now - timedelta(days=1)
        pairs = lambda states: session.scalars(  # noqa: E731 - two uses, one shape
            select(Partnership).where(Partnership.state.in_(states)).order_by(Partnership.id)
        )
        items = session.scalars(
            select(AttentionItem)
            .where(AttentionItem.resolved_at.is_(None))
            .order_by(AttentionItem.id)
        )
        sections = {
            "new_applications": [
                letters.profile(lib)
                for lib in session.scalars(select(Library).where(Library.created_at >= since))
            ],
            "proposals_waiting": [
                {
                    "id": p.id,
                    "a_name": p.library_a.name,
                    "b_name": p.library_b.name,
                    "score": p.score or 0.0,
                    "days_waiting": (now - p.created_at).days,
                }
                for p in pairs(wf.states("partnership", "waiting"))
            ],  # fmt: skip
            "stalled": [
                {
                    "id": p.id,
                    "a_name": p.library_a.name,
                    "b_name": p.library_b.name,
                    "state": p.state,
                    "since": p.updated_at.date().isoformat(),
                }
                for p in pairs(wf.states("partnership", "attention"))
            ],  # fmt: skip
            "bounced": [
                {"email": c.email, "library_name": c.library.name, "status": c.status}
                for c in session.scalars(
                    select(Contact).where(Contact.status.in_(("bouncing", "failed")))
                )
            ],  # fmt: skip
            "needs_person": [_item(session, item) for item in items],
        }
        count = session.scalar(select(func.count()).select_from(Library))
        letters.to_staff(
            turn, TEMPLATE, f"daily digest ({count} libraries)", None,
            {"date": now.date().isoformat(), "sections": sections},
        )  # fmt: skip
    return True


def _item(session, item: AttentionItem) -> dict[str, object]:  # noqa: ANN001 - a Session
    facts = (
        session.scalar(select(MessageFacts).where(MessageFacts.inbox_id == item.inbox_id))
        if item.inbox_id
        else None
    )
    return {
        "id": item.id,
        "from": facts.from_address if facts else "",
        "subject": facts.subject if facts else "",
        "reason": item.reason,
        "record": f"{item.record_type} #{item.record_id}" if item.record_type else "",
        "since": item.created_at.date().isoformat(),
    }
