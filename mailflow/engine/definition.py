"""The frozen form of a rules file: what the loader produces and `decide` interprets."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any


@dataclass(frozen=True)
class TimerDef:
    name: str  # the event it fires
    after: timedelta  # first firing, from entering the state
    every: timedelta | None = None  # then repeat at this interval while in the state
    working_hours: bool = True  # shift to the library's next working morning


@dataclass(frozen=True)
class StateDef:
    name: str
    description: str = ""
    final: bool = False
    timers: tuple[TimerDef, ...] = ()


@dataclass(frozen=True)
class Guard:
    name: str
    negated: bool = False

    def __str__(self) -> str:
        return ("not " if self.negated else "") + self.name


@dataclass(frozen=True)
class ActionDef:
    name: str  # kebab-case, registered in engine/actions.py
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Transition:
    sources: tuple[str, ...]  # ("*",) for any non-final state
    event: str
    guards: tuple[Guard, ...]
    target: str | None  # None: stay
    actions: tuple[ActionDef, ...]
    line: int  # where it was declared, for messages and traces

    def applies_to(self, state: str) -> bool:
        return "*" in self.sources or state in self.sources


@dataclass(frozen=True)
class Machine:
    name: str
    initial: str  # the pseudo-state a record is in before its first event
    states: dict[str, StateDef]
    transitions: tuple[Transition, ...]
    source: str  # file path

    def events(self) -> set[str]:
        return {t.event for t in self.transitions}

    def timer(self, state: str, name: str) -> TimerDef | None:
        for timer in self.states[state].timers if state in self.states else ():
            if timer.name == name:
                return timer
        return None
