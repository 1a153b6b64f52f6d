"""Due timers become events: the same apply stage as mail, through the same claim runner."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.clock import Clock
from mailflow.dispatch.apply import apply_event
from mailflow.dispatch.program import Workflow
from mailflow.dispatch.turn import Cause, Turn, load_record
from mailflow.engine.events import Event
from mailflow.log import SCHEDULER
from mailflow.store.claims import run_claimed
from mailflow.store.db import Database
from mailflow.store.schema import DeadLetter, Timer


@dataclass
class TimerReport:
    fired: int = 0
    stale: int = 0
    failed: int = 0


def fire_due_timers(db: Database, clock: Clock, wf: Workflow, batch_size: int = 200) -> TimerReport:
    """Every pending timer due by now, oldest first; a timer fires once, whatever crashes when."""
    report = TimerReport()

    def ready(now: datetime):  # noqa: ANN202 - a select
        return (
            select(Timer)
            .where(Timer.status == "pending", Timer.due_at <= now)
            .order_by(Timer.due_at, Timer.id)
        )

    def handle(session: Session, timer: Timer, now: datetime) -> None:
        timer.status, timer.fired_at = "fired", now
        record = load_record(session, timer.record_type, timer.record_id)
        if record is None or record.state != timer.state:
            timer.status = "cancelled"  # its state was left; the cancel raced the firing
            report.stale += 1
            return
        turn = Turn(session, wf, now, Cause("timer", timer_id=timer.id))
        apply_event(turn, record, Event(timer.name, now, cause="timer", sequence=timer.sequence))
        report.fired += 1

    def fail(session: Session, timer: Timer, now: datetime, exc: Exception) -> None:
        SCHEDULER.exception("timer #%s failed", timer.id)
        timer.status = "failed"
        session.add(
            DeadLetter(inbox_id=None, stage=f"timer #{timer.id} {timer.name}",
                       reason=f"{type(exc).__name__}: {exc}"[:2000],
                       detail=traceback.format_exc(limit=20), created_at=now)
        )  # fmt: skip
        report.failed += 1

    run_claimed(db, clock, ready, handle, fail, batch_size)
    return report
