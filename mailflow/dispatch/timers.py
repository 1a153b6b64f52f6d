"""Due timers become events; the daily digest; what to do when the relay refuses a recipient."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailflow.clock import Clock
from mailflow.dispatch import mail
from mailflow.dispatch.intake import contact_for
from mailflow.dispatch.program import Workflow
from mailflow.dispatch.records import Cause
from mailflow.dispatch.sending import notify_staff
from mailflow.dispatch.workflow import apply_event
from mailflow.engine.events import Event
from mailflow.log import SCHEDULER
from mailflow.store.db import Database
from mailflow.store.schema import (
    Contact,
    DeadLetter,
    History,
    Library,
    MessageFacts,
    Outbox,
    Partnership,
    Timer,
)

MODELS = {"library": Library, "partnership": Partnership}


@dataclass
class TimerReport:
    fired: int = 0
    stale: int = 0
    failed: int = 0


def fire_due_timers(db: Database, clock: Clock, wf: Workflow, batch_size: int = 200) -> TimerReport:
    """Every pending timer due by now, oldest first; a timer fires once, whatever crashes when."""
    report = TimerReport()
    while True:
        now = clock.now()
        with db.unit_of_work() as session:
            query = (
                select(Timer)
                .where(Timer.status == "pending", Timer.due_at <= now)
                .order_by(Timer.due_at, Timer.id)
                .limit(batch_size)
            )
            if not db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            timers = list(session.scalars(query))
            for timer in timers:
                _fire(session, wf, timer, now, report)
        if len(timers) < batch_size:
            return report


def _fire(session: Session, wf: Workflow, timer: Timer, now: datetime, report: TimerReport) -> None:
    timer_id = timer.id
    try:
        with session.begin_nested():
            timer.status, timer.fired_at = "fired", now
            record = session.get(MODELS[timer.record_type], timer.record_id)
            if record is None or record.state != timer.state:
                timer.status = "cancelled"  # its state was left; the cancel raced the firing
                report.stale += 1
                return
            event = Event(timer.name, now, cause="timer", sequence=timer.sequence)
            apply_event(session, wf, record, event, Cause("timer", timer_id=timer.id), now)
        report.fired += 1
    except Exception as exc:  # noqa: BLE001 - one broken timer must not stop the others
        SCHEDULER.exception("timer #%s failed", timer_id)
        timer = session.get(Timer, timer_id)
        timer.status = "failed"
        session.add(
            DeadLetter(inbox_id=None, stage=f"timer #{timer_id} {timer.name}", reason=f"{type(exc).__name__}: {exc}"[:2000],
                       detail=traceback.format_exc(limit=20), created_at=now)
        )  # fmt: skip
        report.failed += 1


def on_permanent_failure(wf: Workflow, clock: Clock):  # noqa: ANN201 - the drain callback
    """The relay refused a recipient for good: mark the contact, tell staff (once per mail)."""

    def handle(session: Session, row: Outbox, exc: Exception) -> None:
        now = clock.now()
        refused = [r.lower() for r in (getattr(exc, "recipients", None) or row.recipients)]
        unreachable = []
        for address in refused:
            contact = contact_for(session, address)
            if contact is None:
                continue
            contact.status, contact.last_bounce_at = "failed", now
            contact.bounce_count += 1
            session.add(History(record_type="contact", record_id=contact.id, from_state=None, to_state="failed",
                                cause="engine", event="delivery-failed", note=f"relay refused {address}: {exc}",
                                trace=[], created_at=now))  # fmt: skip
            if all(c.status == "failed" for c in contact.library.contacts):
                unreachable.append(contact.library)
        if row.template.startswith("staff-"):
            return  # staff mail that fails is logged; telling staff by mail would loop
        model = MODELS.get(row.record_type or "")
        record = session.get(model, row.record_id) if model and row.record_id else None
        reason = f"delivery of {row.template} to {', '.join(refused)} failed permanently: {exc}"
        notify_staff(session, wf, record, Cause("engine"), now, "staff-escalation", reason)
        for library in unreachable:
            apply_event(
                session, wf, library, Event("contacts-unreachable", now), Cause("engine"), now
            )

    return handle


def send_digest(db: Database, clock: Clock, wf: Workflow) -> bool:
    """The daily staff digest; at most one a day, whatever restarts."""
    now = clock.now()
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    with db.unit_of_work() as session:
        if session.scalar(
            select(Outbox.id).where(Outbox.template == "staff-digest", Outbox.created_at >= day)
        ):
            return False
        since = now - timedelta(days=1)
        sections = {
            "new_applications": [
                mail.profile(lib)
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
                for p in session.scalars(select(Partnership).where(Partnership.state == "proposed"))
            ],  # fmt: skip
            "stalled": [
                {
                    "id": p.id,
                    "a_name": p.library_a.name,
                    "b_name": p.library_b.name,
                    "state": p.state,
                    "since": p.updated_at.date().isoformat(),
                }
                for p in session.scalars(
                    select(Partnership).where(Partnership.state.in_(("stalled", "lapsed")))
                )
            ],  # fmt: skip
            "bounced": [
                {"email": c.email, "library_name": c.library.name, "status": c.status}
                for c in session.scalars(select(Contact).where(Contact.status != "ok"))
            ],
            "needs_person": [
                {
                    "id": f.inbox_id,
                    "from": f.from_address,
                    "subject": f.subject,
                    "reason": (f.outcome or "")[len("needs a person: ") :],
                }
                for f in session.scalars(
                    select(MessageFacts)
                    .join(MessageFacts.inbox)
                    .where(MessageFacts.outcome.like("needs a person%"))
                    .order_by(MessageFacts.id.desc())
                    .limit(50)
                )
            ],  # fmt: skip
        }
        count = session.scalar(select(func.count()).select_from(Library))
        notify_staff(session, wf, None, Cause("timer"), now, "staff-digest", f"daily digest ({count} libraries)",
                     {"date": now.date().isoformat(), "sections": sections})  # fmt: skip
    return True
