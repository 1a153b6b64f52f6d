"""The frozen form of the rules: what the loader produces and `decide` interprets.

The rules declare the workflow's whole vocabulary: states and the tags the code asks for, the
events transitions listen for, what a library's reply means in each state (the reply table),
and the staff commands with their words. Python reads these; it does not repeat them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

# What a library's reply can carry, as dispatch reads it from the parsed facts. A state's reply
# table maps some of these, in order, to the event the reply means there.
REPLY_SIGNALS: dict[str, str] = {
    "form": "a whole application form (three or more application fields besides contact lines)",
    "fields": (
        "one or more application fields, e.g. a correction 'City: York'; contact lines alone"
        " count where the state has no other reading"
    ),
    "informal": "prefers an informal partnership, without an MOU",
    "mou": "MOU fields, or an agreement ('I agree', '同意')",
    "yes": "says yes",
    "no": "says no",
    "text": "any new text (what they did together, a question)",
}
# Understood in every state, outside the tables: a withdrawal and a contact update line.
GLOBAL_SIGNALS: dict[str, str] = {
    "withdraw": "asks to leave the program",
    "contact": "a 'Contact email: ...' or 'Contact person: ...' line",
}

# Events the code itself produces (not a timer, reply, command or emit): by machine.
SYSTEM_EVENTS: dict[str, dict[str, str]] = {
    "library": {
        "application": "an application form, or a correction to one, from the library",
        "withdrawal": "a library's contact asks to leave the program",
        "contacts-unreachable": "every contact address of the library failed",
    },
    "partnership": {
        "proposed": "the matcher or a staff `pair` proposed the pair",
    },
}

# Records a staff command can need: the one its mail names by its reply token.
COMMAND_NEEDS = ("nothing", "library", "partnership", "record", "any")


@dataclass(frozen=True)
class TimerDef:
    name: str  # the event it fires
    after: timedelta  # first firing, from entering the state (or from `at`, when given)
    every: timedelta | None = None  # then repeat at this interval while in the state
    working_hours: bool = True  # shift mail it causes to the library's next working morning
    at: str | None = None  # a date field of the record the timer is anchored to (review_at)
    before: timedelta = timedelta(0)  # with `at`: fire this long before that date


@dataclass(frozen=True)
class StateDef:
    name: str
    description: str = ""
    final: bool = False
    timers: tuple[TimerDef, ...] = ()
    tags: frozenset[str] = frozenset()
    replies: tuple[tuple[str, str], ...] = ()  # (signal, event), first present signal wins
    line: int | None = None

    def reply_event(self, signal: str) -> str | None:
        return next((event for s, event in self.replies if s == signal), None)


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
    target: str | None  # None: stay. Naming the source state itself re-enters it (timers restart)
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

    def tagged(self, tag: str) -> tuple[str, ...]:
        """The states carrying `tag`, in file order (what the code asks instead of names)."""
        return tuple(name for name, s in self.states.items() if tag in s.tags)

    def has_tag(self, state: str, tag: str) -> bool:
        definition = self.states.get(state)
        return definition is not None and tag in definition.tags

    def live_states(self) -> list[str]:
        return [s for s, d in self.states.items() if not d.final]

    def states_of(self, transition: Transition) -> list[str]:
        """The concrete source states of a transition (a wildcard is every non-final state)."""
        return self.live_states() if "*" in transition.sources else list(transition.sources)

    def days(self, state: str, timer: str, default: int) -> int:
        found = self.timer(state, timer)
        return found.after.days if found else default


@dataclass(frozen=True)
class Command:
    """A staff command, declared once in rules/commands.yaml; the parser reads its words."""

    verb: str
    words: tuple[str, ...]  # every spelling staff may write, the verb itself first
    description: str
    event: str | None  # the event it sends to the record its mail names, or
    run: str | None  # the dispatch handler that carries it out (pair, status, merge, contact)
    needs: str  # one of COMMAND_NEEDS
    takes_text: bool  # the rest of the mail is its argument (a note may run over lines)
    by: tuple[
        str, ...
    ]  # who may use it: coordinator, mentor (a coordinator may do what a mentor may)
    line: int


@dataclass(frozen=True)
class Rules:
    """Every machine and the staff commands: the workflow's whole vocabulary."""

    machines: dict[str, Machine]
    commands: dict[str, Command] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Machine]:
        return iter(self.machines.values())

    def command_words(self) -> dict[str, tuple[str, ...]]:
        return {verb: c.words for verb, c in self.commands.items()}

    def text_verbs(self) -> frozenset[str]:
        return frozenset(verb for verb, c in self.commands.items() if c.takes_text)

    def command_for_event(self, event: str) -> Command | None:
        return next((c for c in self.commands.values() if c.event == event), None)
