"""`rules check`: the rules, the commands and the templates' front matter form one connected whole.

Each problem names the file and line it is about:
- a transition listens for an event that nothing produces (no reply table, timer, staff command,
  emit or the system makes it);
- a reply table maps a reply to an event no transition handles in that state;
- a command sends an event no transition handles, or names a handler the code does not have;
- a template invites a reply (its `expects`) that the state it is sent in does not understand,
  or quotes the date of a timer (its `deadline`) the machine does not have.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Protocol

from mailflow.engine.definition import (
    GLOBAL_SIGNALS,
    REPLY_SIGNALS,
    SYSTEM_EVENTS,
    Machine,
    Rules,
    Transition,
)
from mailflow.engine.machine import applies


class TemplateMeta(Protocol):
    """What the checks read of a template's front matter (outbox.render.TemplateMeta)."""

    @property
    def expects(self) -> Sequence[str]: ...

    @property
    def deadline(self) -> str | None: ...


Meta = Callable[[str], TemplateMeta]


def producers(rules: Rules, machine: Machine) -> dict[str, str]:
    """Every event something can send to this machine, with what produces it."""
    made: dict[str, str] = {e: "the system" for e in SYSTEM_EVENTS.get(machine.name, {})}
    for state in machine.states.values():
        for timer in state.timers:
            made.setdefault(timer.name, f"a timer of state {state.name}")
        for signal, event in state.replies:
            made.setdefault(event, f"a {signal!r} reply in state {state.name}")
    for t in machine.transitions:
        for action in t.actions:
            if action.name == "schedule":
                made.setdefault(action.args["timer"], f"the schedule at line {t.line}")
    for command in rules.commands.values():
        if command.event and command.needs in (machine.name, "record", "any"):
            made.setdefault(command.event, f"the staff command {command.verb!r}")
    for other in rules:
        if other.name == machine.name:
            continue
        for t in other.transitions:
            for action in t.actions:
                if action.name == "emit":
                    made.setdefault(action.args["event"], f"{other.source}:{t.line}")
    return made


def _handled(machine: Machine, event: str, state: str) -> bool:
    return any(t.event == event and applies(machine, t, state) for t in machine.transitions)


def _states_after(machine: Machine, t: Transition) -> list[str]:
    """Where a record is when the mail of this transition goes out."""
    if t.target:
        return [t.target]
    if "*" in t.sources:
        return list(machine.states)  # a staying wildcard applies to finished records too
    return list(t.sources)


def check_rules(
    rules: Rules, meta: Meta | None = None, handlers: Collection[str] | None = None
) -> list[str]:
    """Every connectivity problem, as `file:line: key: message` lines (empty: all connected)."""
    problems: list[str] = []
    for machine in rules:
        made = producers(rules, machine)
        for t in machine.transitions:
            if t.event not in made:
                problems.append(
                    f"{machine.source}:{t.line}: on: event {t.event!r} is produced by nothing"
                    " (no reply table, timer, staff command, emit or the system makes it)"
                )
        for state in machine.states.values():
            for signal, event in state.replies:
                if not _handled(machine, event, state.name):
                    problems.append(
                        f"{machine.source}:{state.line}: states.{state.name}.replies.{signal}:"
                        f" no transition handles {event!r} in state {state.name}"
                    )
        if meta is not None:
            problems.extend(_check_invitations(rules, machine, meta))
    for command in rules.commands.values():
        where = f"{_commands_file(rules)}:{command.line}: commands.{command.verb}"
        if command.event and not any(
            command.event in m.events() for m in rules if command.needs in (m.name, "record", "any")
        ):
            problems.append(f"{where}: no transition handles {command.event!r}")
        if command.run and handlers is not None and command.run not in handlers:
            problems.append(f"{where}: run: no handler {command.run!r} (known: {sorted(handlers)})")
    return problems


def _commands_file(rules: Rules) -> str:
    first = next(iter(rules), None)
    folder = first.source.rsplit("/", 1)[0] if first else "rules"
    return f"{folder}/commands.yaml"


def _check_invitations(rules: Rules, machine: Machine, meta: Meta) -> list[str]:
    problems = []
    timers = {timer.name for state in machine.states.values() for timer in state.timers}
    timers |= {
        a.args["timer"] for t in machine.transitions for a in t.actions if a.name == "schedule"
    }
    for t in machine.transitions:
        for action in t.actions:
            template = action.args.get("template")
            if action.name not in ("send", "notify-staff") or not template:
                continue
            where = f"{machine.source}:{t.line}: do.{action.name}"
            deadline = meta(template).deadline
            if deadline and deadline not in timers:
                problems.append(f"{where}: {template} quotes the date of timer {deadline!r}, which"
                                f" machine {machine.name} does not have")  # fmt: skip
            for signal in meta(template).expects:
                for state in _states_after(machine, t):
                    problem = _invitation(rules, machine, action.name, signal, state)
                    if problem:
                        problems.append(f"{where}: {template} invites {signal!r}, but {problem}")
    return problems


def _invitation(rules: Rules, machine: Machine, action: str, signal: str, state: str) -> str:
    if action == "send":
        if signal in GLOBAL_SIGNALS:
            return ""
        if signal not in REPLY_SIGNALS:
            return f"{signal!r} is no reply signal ({', '.join([*REPLY_SIGNALS, *GLOBAL_SIGNALS])})"
        if machine.states[state].reply_event(signal) is None:
            return f"state {state} has no reply for it (states.{state}.replies)"
        return ""
    command = rules.commands.get(signal)
    if command is None:
        return f"{signal!r} is no staff command (rules/commands.yaml)"
    if command.event and not _handled(machine, command.event, state):
        return f"no transition handles {command.event!r} in state {state}"
    return ""
