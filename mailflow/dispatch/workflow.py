"""Apply one event to one record: decide (pure), then write state, history, mail and timers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from mailflow.dispatch.program import Workflow
from mailflow.dispatch.records import Cause, Record, machine_of
from mailflow.dispatch.sending import notify_staff, send
from mailflow.engine import actions as fx
from mailflow.engine.events import Event, RecordView
from mailflow.engine.machine import Decision, decide
from mailflow.log import ENGINE
from mailflow.parse.forms import MOU_FIELDS, REQUIRED_MOU_FIELDS, missing
from mailflow.store.schema import (
    Activity,
    DeclinedPair,
    History,
    Library,
    Partnership,
    Timer,
)

LIVE = ("trial", "mou_sent", "active", "renewal")
# Fields the rules may set that are columns (queried, typed), not keys of the `data` JSON.
COLUMNS = ("review_at", "informal", "hidden")


def view(session: Session, wf: Workflow, record: Record, event: Event) -> RecordView:
    data = dict(record.data or {})
    if isinstance(record, Library):
        live = session.scalar(
            select(func.count())
            .select_from(Partnership)
            .where(
                (Partnership.library_a_id == record.id) | (Partnership.library_b_id == record.id),
                Partnership.state.in_(LIVE),
            )
        )
        return RecordView(
            "library",
            record.id,
            record.state,
            data,
            {"missing": record.missing, "live_partnerships": live},
        )
    context: dict[str, Any] = {
        "a": record.library_a_id,
        "b": record.library_b_id,
        "informal": record.informal,
        "score": record.score,
        "auto_approve_threshold": wf.program.auto_approve_score,
    }
    if event.side is not None:
        merged = {**data.get("mou", {}).get(str(event.side), {}), **_mou_fields(event.fields)}
        context["mou_missing"] = missing(merged, REQUIRED_MOU_FIELDS)
    return RecordView("partnership", record.id, record.state, data, context)


def _mou_fields(fields: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in fields.items() if k in MOU_FIELDS and v}


def apply_event(
    session: Session, wf: Workflow, record: Record, event: Event, cause: Cause, now: datetime
) -> Decision:
    """Decide and apply; emitted events to related records are applied in the same transaction."""
    queue: list[tuple[Record, Event]] = [(record, event)]
    first: Decision | None = None
    while queue:
        target, ev = queue.pop(0)
        decision = _apply_one(session, wf, target, ev, cause, now, queue)
        first = first or decision
    assert first is not None
    return first


def _apply_one(
    session: Session,
    wf: Workflow,
    record: Record,
    event: Event,
    cause: Cause,
    now: datetime,
    queue: list[tuple[Record, Event]],
) -> Decision:
    machine = wf.machines[machine_of(record)]
    decision = decide(machine, view(session, wf, record, event), event, now)
    rtype = machine.name
    if not decision.matched:
        _history(
            session,
            rtype,
            record,
            decision,
            event,
            cause,
            now,
            f"{event.name}: no rule applies; nothing done",
        )
        ENGINE.debug("%s #%s in %s: no rule for %s", rtype, record.id, record.state, event.name)
        return decision
    emitted: list[str] = []
    for effect in decision.effects:
        if isinstance(effect, fx.Emit):
            emitted.append(effect.event)
        else:
            _effect(session, wf, record, event, cause, now, decision, effect)
    if decision.changed:
        record.state = decision.new_state
        if isinstance(record, Partnership):
            stamp = {"offered": "offered_at", "trial": "trial_at", "active": "active_at"}.get(
                record.state
            )
            if stamp and getattr(record, stamp) is None:
                setattr(record, stamp, now)
    record.updated_at = now
    note = _note(decision)
    _history(session, rtype, record, decision, event, cause, now, note)
    ENGINE.debug(
        "%s #%s: %s -> %s on %s",
        rtype,
        record.id,
        decision.old_state,
        decision.new_state,
        event.name,
    )
    session.flush()
    for name in emitted:
        for related in _related(session, record):
            queue.append(
                (
                    related,
                    Event(
                        name,
                        now,
                        cause="engine",
                        side=record.id if isinstance(record, Library) else None,
                    ),
                )
            )
    return decision


def _note(decision: Decision) -> str:
    t = decision.transition
    held = [
        g["guard"]
        for step in decision.trace
        for g in step["guards"]
        if g["held"] and step["matched"]
    ]
    why = f" because {', '.join(held)}" if held else ""
    return f"{t.event} (rules line {t.line}){why}"


def _related(session: Session, record: Record) -> list[Record]:
    if isinstance(record, Partnership):
        return [record.library_a, record.library_b]
    return list(
        session.scalars(
            select(Partnership).where(
                (Partnership.library_a_id == record.id) | (Partnership.library_b_id == record.id),
                Partnership.state.notin_(("dropped", "declined", "closed")),
            )
        )
    )


def _history(
    session: Session,
    rtype: str,
    record: Record,
    decision: Decision,
    event: Event,
    cause: Cause,
    now: datetime,
    note: str,
) -> None:
    session.add(
        History(
            record_type=rtype,
            record_id=record.id,
            from_state=decision.old_state,
            to_state=decision.new_state,
            cause=cause.kind if event.cause != "engine" else "engine",
            inbox_id=cause.inbox_id,
            timer_id=cause.timer_id,
            event=event.name,
            note=note,
            trace=list(decision.trace),
            created_at=now,
        )
    )


def _effect(
    session: Session,
    wf: Workflow,
    record: Record,
    event: Event,
    cause: Cause,
    now: datetime,
    decision: Decision,
    effect: fx.Effect,
) -> None:
    rtype = machine_of(record)
    if isinstance(effect, fx.CancelTimers):
        query = update(Timer).where(
            Timer.record_type == rtype, Timer.record_id == record.id, Timer.status == "pending"
        )
        if effect.state:
            query = query.where(Timer.state == effect.state)
        if effect.name:
            query = query.where(Timer.name == effect.name)
        session.execute(query.values(status="cancelled"))
    elif isinstance(effect, fx.ScheduleTimer):
        session.add(
            Timer(
                record_type=rtype,
                record_id=record.id,
                name=effect.name,
                state=decision.new_state,
                due_at=now + effect.after,
                status="pending",
                sequence=effect.sequence,
                created_at=now,
            )
        )
    elif isinstance(effect, fx.SetField):
        _set_field(record, effect, now)
    elif isinstance(effect, fx.Record):
        _record(session, record, event, cause, now, effect.kind)
    elif isinstance(effect, fx.BlockPair):
        assert isinstance(record, Partnership)
        low, high = sorted((record.library_a_id, record.library_b_id))
        if session.get(DeclinedPair, (low, high)) is None:
            session.add(DeclinedPair(low_id=low, high_id=high, created_at=now))
    elif isinstance(effect, fx.SendMail):
        send(session, wf, record, event, cause, now, effect)
    elif isinstance(effect, fx.NotifyStaff):
        notify_staff(session, wf, record, cause, now, effect.template, effect.reason)


def _set_field(record: Record, effect: fx.SetField, now: datetime) -> None:
    value: Any = effect.value
    if isinstance(value, str) and value == "now":
        value = now.isoformat()
    elif isinstance(value, str) and value.startswith("+"):
        value = (now + fx.parse_duration(value[1:])).isoformat()
    if effect.key in COLUMNS and hasattr(record, effect.key):
        if effect.key == "review_at":
            value = datetime.fromisoformat(value)
        setattr(record, effect.key, value)
        return
    data = dict(record.data or {})
    data[effect.key] = int(data.get(effect.key, 0)) + int(value) if effect.increment else value
    record.data = data


def _record(
    session: Session, record: Record, event: Event, cause: Cause, now: datetime, kind: str
) -> None:
    data = dict(record.data or {})
    side = str(event.side) if event.side is not None else None
    if kind in ("accept", "decline") and side:
        data.setdefault("accepted" if kind == "accept" else "declined", {})[side] = True
        data.setdefault("answered", {})[side] = now.isoformat()
    elif kind == "mou" and side:
        merged = {**data.get("mou", {}).get(side, {}), **_mou_fields(event.fields)}
        data.setdefault("mou", {})[side] = merged
        if event.agreed and not missing(merged, REQUIRED_MOU_FIELDS):
            data.setdefault("signed", {})[side] = True
    elif kind in ("activity", "note") and isinstance(record, Partnership):
        session.add(
            Activity(
                partnership_id=record.id,
                library_id=event.side,
                inbox_id=cause.inbox_id,
                kind="note" if kind == "note" else "report",
                text=event.text[:20000],
                created_at=now,
            )
        )
    elif kind == "keep-listed":
        data["listed_confirmed"] = now.isoformat()
    record.data = data
