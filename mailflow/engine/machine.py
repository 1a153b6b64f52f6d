"""decide(machine, record, event, now) -> Decision. Pure: no I/O, no clock, no database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mailflow.engine.actions import ACTIONS, CancelTimers, Effect, ScheduleTimer
from mailflow.engine.definition import Machine, Transition
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


def decide(machine: Machine, record: RecordView, event: Event, now: datetime) -> Decision:
    """The first transition (in file order) whose event, source state and guards all hold."""
    state = record.state
    final = machine.states.get(state)
    trace: list[dict[str, Any]] = []
    for transition in machine.transitions:
        if transition.event != event.name or not transition.applies_to(state):
            continue
        if "*" in transition.sources and final is not None and final.final:
            continue  # a wildcard never reopens a finished record
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
            effects.extend(ACTIONS[action.name].build(action.args, record, event))
        target = transition.target or state
        if target != state:
            effects.insert(0, CancelTimers(state=state))
            for timer in machine.states[target].timers:
                effects.append(ScheduleTimer(timer.name, timer.after, timer.working_hours))
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
