"""Apply: decide (pure), then write state, history and timers, and hand mail to letters.

Events a decision emits to related records (a library's withdrawal closes its partnerships)
are applied in the same transaction, after the first record is written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update

from mailflow.dispatch import attention, letters, lookups
from mailflow.dispatch.turn import Record, Turn, machine_of
from mailflow.engine import actions as fx
from mailflow.engine.events import Event, RecordView
from mailflow.engine.machine import Decision, decide
from mailflow.log import ENGINE
from mailflow.parse.forms import MOU_FIELDS, REQUIRED_MOU_FIELDS, missing
from mailflow.store.locks import locked
from mailflow.store.schema import Activity, DeclinedPair, History, Library, Partnership, Timer

# Fields the rules may set that are columns (queried, typed), not keys of the `data` JSON.
COLUMNS = ("review_at", "informal", "hidden")
# Partnership tags that stamp a column the first time a state carrying them is entered.
STAMPS = {"offer": "offered_at", "introduced": "trial_at", "agreed": "active_at"}
# What the engine may keep of an MOU reply besides its fields (dispatch parses the dates).
MOU_TERMS = ("review_on", "start_on", "duration_months")


def _partnerships_of(library_id: int) -> Any:
    return or_(Partnership.library_a_id == library_id, Partnership.library_b_id == library_id)


def view(turn: Turn, record: Record, event: Event) -> RecordView:
    data = dict(record.data or {})
    if isinstance(record, Library):
        live = turn.session.scalar(
            select(func.count())
            .select_from(Partnership)
            .where(
                _partnerships_of(record.id),
                Partnership.state.in_(turn.wf.states("partnership", "live")),
            )
        )
        counts = {"missing": record.missing, "live_partnerships": live}
        return RecordView("library", record.id, record.state, data, counts)
    context: dict[str, Any] = {
        "a": record.library_a_id,
        "b": record.library_b_id,
        "informal": record.informal,
        "score": record.score,
        "review_at": record.review_at,
        "auto_approve_threshold": turn.program.auto_approve_score,
    }
    if event.side is not None:
        merged = {**data.get("mou", {}).get(str(event.side), {}), **_mou_fields(event.fields)}
        context["mou_missing"] = missing(merged, REQUIRED_MOU_FIELDS)
    return RecordView("partnership", record.id, record.state, data, context)


def _mou_fields(fields: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in fields.items() if k in MOU_FIELDS and v}


def apply_event(turn: Turn, record: Record, event: Event, last: bool = False) -> Decision:
    """Decide and apply; emitted events to related records follow in the same transaction.

    last: nothing in this turn reads the database after it, and the turn's caller flushes
    (a batch's message): the changes are flushed here only when emitted events follow."""
    queue: list[tuple[Record, Event]] = [(record, event)]
    first: Decision | None = None
    while queue:
        target, ev = queue.pop(0)
        decision = _apply_one(turn, target, ev, queue, last)
        first = first or decision
    assert first is not None
    return first


def _apply_one(
    turn: Turn, record: Record, event: Event, queue: list[tuple[Record, Event]], last: bool
) -> Decision:
    machine = turn.machine(record)
    locked(turn.session, record)  # concurrent turns on one record take turns (store/locks.py)
    decision = decide(machine, view(turn, record, event), event, turn.now)
    if not decision.matched:
        _history(turn, record, decision, event, f"{event.name}: no rule applies; nothing done")
        ENGINE.info(
            "%s #%s in %s: no rule for %s", machine.name, record.id, record.state, event.name
        )
        return decision
    if decision.changed:
        turn.progressed = True
    emitted: list[fx.Emit] = []
    # Timers first: the timers of a state being entered come last in the decision, but a mail
    # sent on the way in (library-missing) states the date one of them falls due.
    timers = (fx.CancelTimers, fx.ScheduleTimer)
    ordered = sorted(decision.effects, key=lambda e: not isinstance(e, timers))
    for effect in ordered:
        if isinstance(effect, fx.Emit):
            emitted.append(effect)
        else:
            _effect(turn, record, event, decision, effect)
    if decision.transition is not None and decision.transition.target is not None:
        record.state = decision.new_state
        if isinstance(record, Partnership):
            for tag, column in STAMPS.items():
                if machine.has_tag(record.state, tag) and getattr(record, column) is None:
                    setattr(record, column, turn.now)
    record.updated_at = turn.now
    _history(turn, record, decision, event, _note(decision))
    ENGINE.info(
        "%s #%s: %s -> %s on %s", machine.name, record.id, decision.old_state,
        decision.new_state, event.name,
    )  # fmt: skip
    if emitted or not last:
        turn.session.flush()
    for emit in emitted:
        for related in _related(turn, record, event, emit):
            side = record.id if isinstance(record, Library) else None
            queue.append((related, Event(emit.event, turn.now, cause="engine", side=side)))
    return decision


def _note(decision: Decision) -> str:
    t = decision.transition
    assert t is not None
    held = [
        g["guard"]
        for step in decision.trace
        for g in step["guards"]
        if g["held"] and step["matched"]
    ]
    why = f" because {', '.join(held)}" if held else ""
    return f"{t.event} (rules line {t.line}){why}"


def _related(turn: Turn, record: Record, event: Event, emit: fx.Emit) -> list[Record]:
    if isinstance(record, Partnership):
        sides = [record.library_a, record.library_b]
        if emit.to == "sender":
            return [lib for lib in sides if lib.id == event.side]
        return list(sides)
    finished = [s for s, d in turn.wf.machines["partnership"].states.items() if d.final]
    return list(
        turn.session.scalars(
            select(Partnership).where(
                _partnerships_of(record.id), Partnership.state.notin_(finished)
            )
        )
    )


def _history(turn: Turn, record: Record, decision: Decision, event: Event, note: str) -> None:
    lookups.insert_later(
        turn.session,
        History,
        record_type=machine_of(record),
        record_id=record.id,
        from_state=decision.old_state,
        to_state=decision.new_state,
        cause=turn.cause.kind if event.cause != "engine" else "engine",
        inbox_id=turn.cause.inbox_id,
        timer_id=turn.cause.timer_id,
        event=event.name,
        note=note,
        trace=list(decision.trace),
        created_at=turn.now,
    )


def _effect(
    turn: Turn, record: Record, event: Event, decision: Decision, effect: fx.Effect
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
        turn.session.execute(query.values(status="cancelled"))
    elif isinstance(effect, fx.ScheduleTimer):
        due = effect.due_at or turn.now + effect.after
        turn.scheduled[(rtype, record.id, effect.name)] = due
        turn.session.add(
            Timer(
                record_type=rtype, record_id=record.id, name=effect.name,
                state=decision.new_state, due_at=due, status="pending",
                sequence=effect.sequence, created_at=turn.now,
            )
        )  # fmt: skip
    elif isinstance(effect, fx.SetField):
        _set_field(record, effect)
    elif isinstance(effect, fx.Record):
        _record(turn, record, event, effect.kind)
    elif isinstance(effect, fx.BlockPair):
        assert isinstance(record, Partnership)
        low, high = sorted((record.library_a_id, record.library_b_id))
        if turn.session.get(DeclinedPair, (low, high)) is None:
            turn.session.add(DeclinedPair(low_id=low, high_id=high, created_at=turn.now))
    elif isinstance(effect, fx.SendMail):
        letters.send(turn, record, event, effect)
    elif isinstance(effect, fx.NotifyStaff):
        attention.escalate(turn, record, effect.template, effect.reason)


def _set_field(record: Record, effect: fx.SetField) -> None:
    value: Any = effect.value
    if effect.key in COLUMNS and hasattr(record, effect.key):
        setattr(record, effect.key, value)
        return
    data = dict(record.data or {})
    if effect.increment:
        data[effect.key] = int(data.get(effect.key, 0)) + int(value)
    else:
        data[effect.key] = value.isoformat() if isinstance(value, datetime) else value
    record.data = data


def _record(turn: Turn, record: Record, event: Event, kind: str) -> None:
    data = dict(record.data or {})
    side = str(event.side) if event.side is not None else None
    if kind in ("accept", "decline") and side:
        data.setdefault("accepted" if kind == "accept" else "declined", {})[side] = True
        data.setdefault("answered", {})[side] = turn.now.isoformat()
    elif kind == "renew" and side:
        data.setdefault("renew", {})[side] = True
    elif kind == "mou" and side:
        terms = {k: event.data[k] for k in MOU_TERMS if event.data.get(k)}
        merged = {**data.get("mou", {}).get(side, {}), **_mou_fields(event.fields), **terms}
        data.setdefault("mou", {})[side] = merged
        if event.agreed and not missing(merged, REQUIRED_MOU_FIELDS):
            data.setdefault("signed", {})[side] = True
    elif kind in ("activity", "note") and isinstance(record, Partnership):
        turn.session.add(
            Activity(
                partnership_id=record.id,
                library_id=event.side,
                inbox_id=turn.cause.inbox_id,
                kind="note" if kind == "note" else "report",
                text=event.text[:20000],
                attachments=list(event.data.get("attachments") or []) or None,
                created_at=turn.now,
            )
        )
    elif kind == "note":  # on a library: kept in its history, which `show` prints
        lookups.insert_later(
            turn.session, History, record_type=machine_of(record), record_id=record.id,
            from_state=record.state, to_state=record.state, cause="staff",
            inbox_id=turn.cause.inbox_id, event="note",
            note=f"note by {turn.cause.by or 'staff'}: {event.text[:2000]}", trace=[],
            created_at=turn.now,
        )  # fmt: skip
    elif kind == "keep-listed":
        data["listed_confirmed"] = turn.now.isoformat()
    record.data = data
