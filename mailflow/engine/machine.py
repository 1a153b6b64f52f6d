"""decide(machine, record, event, now) -> Decision. Pure: no I/O, no clock, no database."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from mailflow.engine.actions import (
    ACTIONS,
    CancelTimers,
    Effect,
    ReviewDate,
    ScheduleTimer,
    SetField,
    parse_duration,
)
from mailflow.engine.definition import Machine, TimerDef, Transition
from mailflow.engine.events import Event, RecordView
from mailflow.engine.guards import GUARDS


@dataclass(frozen=True)
class Decision:
    old_state: str
    new_state: str
    effects: tuple[Effect, ...]
    trace: tuple[dict[str, Any], ...]  # every transition considered, with its guards
    transition: Transition | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def matched(self) -> bool:
        return self.transition is not None

    @property
    def changed(self) -> bool:
        return self.old_state != self.new_state


def applies(machine: Machine, transition: Transition, state: str) -> bool:
    """A wildcard never moves a finished record; it may still record something on it (a note)."""
    if not transition.applies_to(state):
        return False
    definition = machine.states.get(state)
    final = definition is not None and definition.final
    return not ("*" in transition.sources and final and transition.target is not None)


def decide(machine: Machine, record: RecordView, event: Event, now: datetime) -> Decision:
    """The first transition (in file order) whose event, source state and guards all hold."""
    state = record.state
    trace: list[dict[str, Any]] = []
    for transition in machine.transitions:
        if transition.event != event.name or not applies(machine, transition, state):
            continue
        checks, held = [], True
        for g in transition.guards:
            result = GUARDS[g.name].fn(record, event) != g.negated
            checks.append({"guard": str(g), "held": result})
            if not result:
                held = False
                break  # later guards may assume earlier ones held
        trace.append(
            {"line": transition.line, "to": transition.target, "guards": checks, "matched": held}
        )
        if not held:
            continue
        effects: list[Effect] = []
        for action in transition.actions:
            built = ACTIONS[action.name].build(action.args, record, event)
            effects.extend(_resolve(effect, record, event, now) for effect in built)
        target = transition.target or state
        if transition.target is not None:  # entering (or re-entering) a state restarts its timers
            effects.insert(0, CancelTimers(state=state))
            fields = _fields(record, effects)
            for timer in machine.states[target].timers:
                scheduled = _schedule(timer, fields, now)
                if scheduled is not None:
                    effects.append(scheduled)
        elif event.cause == "timer":
            repeat = machine.timer(state, event.name)
            if repeat is not None and repeat.every is not None:
                effects.append(
                    ScheduleTimer(
                        repeat.name, repeat.every, repeat.working_hours, event.sequence + 1
                    )
                )
        return Decision(state, target, tuple(effects), tuple(trace), transition)
    return Decision(state, state, (), tuple(trace), None)


def _fields(record: RecordView, effects: list[Effect]) -> dict[str, Any]:
    """The record's date fields as they will be once this decision's SetFields are applied."""
    fields = dict(record.context)
    for effect in effects:
        if isinstance(effect, SetField) and not effect.increment:
            fields[effect.key] = effect.value
    return fields


def _schedule(timer: TimerDef, fields: dict[str, Any], now: datetime) -> ScheduleTimer | None:
    if timer.at is None:
        return ScheduleTimer(timer.name, timer.after, timer.working_hours)
    anchor = fields.get(timer.at)
    if not isinstance(anchor, datetime):
        return None  # no date to count from: the rules set it when they enter such a state
    due = anchor - timer.before + timer.after
    return ScheduleTimer(timer.name, max(due, now) - now, timer.working_hours, due_at=max(due, now))


def _resolve(effect: Effect, record: RecordView, event: Event, now: datetime) -> Effect:
    """Times in the rules ('now', '+90d', a review date) become datetimes here, against `now`."""
    if isinstance(effect, ReviewDate):
        return SetField("review_at", review_date(effect, record, event, now))
    if isinstance(effect, SetField) and isinstance(effect.value, str):
        if effect.value == "now":
            return SetField(effect.key, now)
        if effect.value.startswith("+"):
            return SetField(effect.key, now + parse_duration(effect.value[1:]))
    return effect


def add_months(when: datetime, months: int) -> datetime:
    month = when.month - 1 + months
    year, month = when.year + month // 12, month % 12 + 1
    day = min(when.day, calendar.monthrange(year, month)[1])
    return when.replace(year=year, month=month, day=day)


def _mou_terms(record: RecordView, event: Event) -> tuple[list[date], list[date], list[int]]:
    sides = [dict(v) for v in (record.data.get("mou") or {}).values() if isinstance(v, dict)]
    sides.append(dict(event.data))
    dates, starts, months = [], [], []
    for side in sides:
        if side.get("review_on"):
            dates.append(date.fromisoformat(str(side["review_on"])))
        if side.get("start_on"):
            starts.append(date.fromisoformat(str(side["start_on"])))
        if side.get("duration_months"):
            months.append(int(side["duration_months"]))
    return dates, starts, months


def review_date(effect: ReviewDate, record: RecordView, event: Event, now: datetime) -> datetime:
    """The MOU's own review date if one is still ahead; else its start date plus its duration
    (or plus the default); else the default from now, or from the previous review date."""
    dates, starts, months = _mou_terms(record, event)
    default = effect.default if effect.default else timedelta(days=365)
    if effect.source == "mou":
        ahead = [d for d in dates if d > now.date()]
        if ahead:
            day = min(ahead)
            return now.replace(year=day.year, month=day.month, day=day.day)
        if starts:
            # The term runs from the day the MOU says it starts, not from the day it was signed.
            day = min(starts)
            start = now.replace(year=day.year, month=day.month, day=day.day)
            due = add_months(start, min(months)) if months else start + default
            if due > now:
                return due
    base = now
    previous = record.context.get("review_at")
    if effect.source == "previous" and isinstance(previous, datetime):
        base = max(previous, now)
    if months and effect.source != "now":
        return add_months(base, min(months))
    return base + default
