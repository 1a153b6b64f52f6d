"""rules/*.yaml -> frozen Machines, checked; a broken file is refused with its file, line and key."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from mailflow.engine.actions import ACTIONS, parse_duration
from mailflow.engine.definition import (
    COMMAND_NEEDS,
    REPLY_SIGNALS,
    ActionDef,
    Command,
    Guard,
    Machine,
    Rules,
    StateDef,
    TimerDef,
    Transition,
)
from mailflow.engine.guards import GUARDS
from mailflow.errors import RuleDefinitionError

LINE = "__line__"
STATE_KEYS = {"description", "final", "timers", "tags", "replies"}
TIMER_KEYS = {"name", "after", "every", "working_hours", "at", "before"}
COMMAND_KEYS = {"words", "description", "event", "run", "needs", "takes", "by"}
ANCHORS = ("review_at",)  # date fields a timer may be anchored to
TRANSITION_KEYS = {"from", "on", "if", "to", "do", "note"}


class _Loader(yaml.SafeLoader):
    """Safe loading that keeps yes/no/on/off as strings and remembers each mapping's line."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        mapping = super().construct_mapping(node, deep=True)
        mapping[LINE] = node.start_mark.line + 1
        return mapping


# YAML 1.1 reads `on:` as True and `yes` as a boolean; rules say `on: accept` and mean it.
_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", __import__("re").compile(r"^(?:true|false|True|False)$"), list("tTfF")
)


class _Errors:
    def __init__(self, path: str) -> None:
        self.path = path
        self.items: list[str] = []

    def add(self, line: int | None, key: str, message: str) -> None:
        where = f"{self.path}:{line}" if line else self.path
        self.items.append(f"{where}: {key}: {message}")


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def load_machine(path: Path, template_exists: Callable[[str], bool] | None = None) -> Machine:
    """Load and check one rules file. Raises RuleDefinitionError listing every problem."""
    errors = _Errors(str(path))
    data = read_yaml(path)
    top_line = data.get(LINE)
    name = data.get("machine")
    if not isinstance(name, str):
        errors.add(top_line, "machine", "missing or not a name")
    states = _states(data.get("states"), errors, top_line)
    initial = data.get("initial")
    if initial not in states:
        errors.add(top_line, "initial", f"{initial!r} is not a declared state")
    transitions = _transitions(data.get("transitions"), states, errors, template_exists, top_line)
    machine = Machine(
        name=str(name),
        initial=str(initial),
        states=states,
        transitions=tuple(transitions),
        source=str(path),
    )
    if not errors.items:
        _check_graph(machine, errors)
    if errors.items:
        raise RuleDefinitionError("\n".join(errors.items))
    return machine


def _states(raw: Any, errors: _Errors, top_line: int | None) -> dict[str, StateDef]:
    states: dict[str, StateDef] = {}
    if not isinstance(raw, dict) or len(raw) <= 1:
        errors.add(top_line, "states", "must be a mapping of state names")
        return states
    for name, body in raw.items():
        if name == LINE:
            continue
        body = body if isinstance(body, dict) else {"description": body or "", LINE: raw[LINE]}
        line = body.get(LINE)
        for key in set(body) - STATE_KEYS - {LINE}:
            errors.add(line, f"states.{name}.{key}", "unknown key")
        timers = []
        for timer in _list(body.get("timers")):
            if not isinstance(timer, dict):
                errors.add(line, f"states.{name}.timers", "each timer is a mapping")
                continue
            tline = timer.get(LINE)
            for key in set(timer) - TIMER_KEYS - {LINE}:
                errors.add(tline, f"states.{name}.timers.{key}", "unknown key")
            at = timer.get("at")
            if at is not None and at not in ANCHORS:
                errors.add(tline, f"states.{name}.timers.{timer.get('name')}.at",
                           f"{at!r} is not a date field ({', '.join(ANCHORS)})")  # fmt: skip
            try:
                default_after = "0d" if at else timer.get("every", "")
                after = parse_duration(str(timer.get("after", default_after)))
                every = parse_duration(timer["every"]) if timer.get("every") else None
                before = parse_duration(timer["before"]) if timer.get("before") else None
            except ValueError as exc:
                errors.add(tline, f"states.{name}.timers.{timer.get('name')}", str(exc))
                continue
            if not timer.get("name"):
                errors.add(tline, f"states.{name}.timers", "a timer needs a name")
                continue
            timers.append(
                TimerDef(
                    str(timer["name"]), after, every, bool(timer.get("working_hours", True)),
                    at=at, before=before or timedelta(0),
                )
            )  # fmt: skip
        tags = _list(body.get("tags"))
        if not all(isinstance(t, str) for t in tags):
            errors.add(line, f"states.{name}.tags", "a list of names")
        states[str(name)] = StateDef(
            str(name),
            str(body.get("description", "")),
            bool(body.get("final", False)),
            tuple(timers),
            frozenset(str(t) for t in tags),
            _replies(body.get("replies"), f"states.{name}.replies", line, errors),
            line,
        )
    return states


def _replies(raw: Any, key: str, line: int | None, errors: _Errors) -> tuple[tuple[str, str], ...]:
    """A state's reply table: {signal: event}, in the order the signals are tried."""
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        errors.add(line, key, "a mapping of reply signal: event")
        return ()
    table = []
    for signal, event in raw.items():
        if signal == LINE:
            continue
        if signal not in REPLY_SIGNALS:
            errors.add(raw.get(LINE, line), f"{key}.{signal}",
                       f"unknown reply signal (known: {', '.join(REPLY_SIGNALS)})")  # fmt: skip
            continue
        if not isinstance(event, str) or not event:
            errors.add(raw.get(LINE, line), f"{key}.{signal}", "names the event the reply means")
            continue
        table.append((str(signal), event))
    return tuple(table)


def _transitions(
    raw: Any,
    states: dict[str, StateDef],
    errors: _Errors,
    template_exists: Callable[[str], bool] | None,
    top_line: int | None,
) -> list[Transition]:
    if not isinstance(raw, list) or not raw:
        errors.add(top_line, "transitions", "must be a list")
        return []
    result: list[Transition] = []
    seen: dict[tuple, int] = {}
    for item in raw:
        if not isinstance(item, dict):
            errors.add(top_line, "transitions", f"{item!r} is not a mapping")
            continue
        line = item[LINE]
        for key in set(item) - TRANSITION_KEYS - {LINE}:
            errors.add(line, f"transitions.{key}", "unknown key")
        sources = tuple(str(s) for s in _list(item.get("from", "*")))
        for source in sources:
            if source != "*" and source not in states:
                errors.add(line, "from", f"unknown state {source!r}")
        event = item.get("on")
        if not isinstance(event, str) or not event:
            errors.add(line, "on", "every transition needs an event")
            continue
        target = item.get("to")
        if target is not None and target not in states:
            errors.add(line, "to", f"unknown state {target!r}")
        guards = []
        for text in _list(item.get("if")):
            negated = str(text).startswith("not ")
            gname = str(text)[4:].strip() if negated else str(text)
            if gname not in GUARDS:
                errors.add(line, "if", f"unknown guard {gname!r}")
            guards.append(Guard(gname, negated))
        actions = []
        for step in _list(item.get("do")):
            if isinstance(step, str):
                step = {step: None}
            step = {k: v for k, v in step.items() if k != LINE}
            if len(step) != 1:
                errors.add(line, "do", f"each step names one action, got {sorted(step)}")
                continue
            ((aname, arg),) = step.items()
            spec = ACTIONS.get(aname)
            if spec is None:
                errors.add(line, "do", f"unknown action {aname!r}")
                continue
            if isinstance(arg, dict):
                arg = {k: v for k, v in arg.items() if k != LINE}
            try:
                args = spec.check(arg)
            except ValueError as exc:
                errors.add(line, f"do.{aname}", str(exc))
                continue
            if template_exists is not None:
                for template in spec.templates(args):
                    if not template_exists(template):
                        errors.add(line, f"do.{aname}", f"unknown template {template!r}")
            actions.append(ActionDef(aname, args))
        key = (tuple(sorted(sources)), event, tuple(guards))
        if key in seen:
            errors.add(line, "transitions", f"duplicate of the transition at line {seen[key]}")
        seen[key] = line
        result.append(Transition(sources, event, tuple(guards), target, tuple(actions), line))
    return result


def _check_graph(machine: Machine, errors: _Errors) -> None:
    live = [s for s, d in machine.states.items() if not d.final]
    # Reachability from the initial pseudo-state; a wildcard source covers every live state.
    reached, frontier = {machine.initial}, [machine.initial]
    while frontier:
        state = frontier.pop()
        for t in machine.transitions:
            if (
                t.target
                and t.target not in reached
                and (state in t.sources or ("*" in t.sources and state in live))
            ):
                reached.add(t.target)
                frontier.append(t.target)
    for state in machine.states:
        if state not in reached:
            errors.add(None, f"states.{state}", "unreachable: no transition leads to it")
    for state in live:
        leaves = any(
            t.target and t.target != state and t.applies_to(state) for t in machine.transitions
        )
        if not leaves:
            errors.add(None, f"states.{state}", "trap: not final, and no transition leaves it")
        for timer in machine.states[state].timers:
            handled = any(
                t.event == timer.name and t.applies_to(state) for t in machine.transitions
            )
            if not handled:
                errors.add(None, f"states.{state}.timers.{timer.name}", "no transition handles it")


def load_commands(path: Path, data: dict[str, Any]) -> dict[str, Command]:
    """rules/commands.yaml: every staff command, its words in each language, what it needs."""
    errors = _Errors(str(path))
    raw = data.get("commands")
    if not isinstance(raw, dict):
        raise RuleDefinitionError(f"{path}: commands: a mapping of verb: declaration")
    commands: dict[str, Command] = {}
    spelled: dict[str, str] = {}
    for verb, body in raw.items():
        if verb == LINE:
            continue
        line = body.get(LINE) if isinstance(body, dict) else raw[LINE]
        if not isinstance(body, dict):
            errors.add(line, f"commands.{verb}", "a mapping with words and event or run")
            continue
        for key in set(body) - COMMAND_KEYS - {LINE}:
            errors.add(line, f"commands.{verb}.{key}", "unknown key")
        words = tuple(
            dict.fromkeys([str(verb), *(str(w).lower() for w in _list(body.get("words")))])
        )
        for word in words:
            if word in spelled:
                errors.add(
                    line, f"commands.{verb}.words", f"{word!r} is also a word of {spelled[word]!r}"
                )
            spelled[word] = str(verb)
        event, run = body.get("event"), body.get("run")
        if (event is None) == (run is None):
            errors.add(
                line, f"commands.{verb}", "names exactly one of event (to the record) or run"
            )
        needs = str(body.get("needs", "nothing"))
        if needs not in COMMAND_NEEDS:
            errors.add(line, f"commands.{verb}.needs", f"one of {', '.join(COMMAND_NEEDS)}")
        takes = body.get("takes")
        if takes not in (None, "text"):
            errors.add(line, f"commands.{verb}.takes", "only 'text' (the rest of the mail)")
        # `staff` is the old spelling of coordinator (the old staff list are the coordinators).
        by = tuple(
            dict.fromkeys(
                "coordinator" if b == "staff" else b
                for b in map(str, _list(body.get("by", "coordinator")))
            )
        )
        if not by or not set(by) <= {"coordinator", "mentor"}:
            errors.add(line, f"commands.{verb}.by", "coordinator and/or mentor")
        commands[str(verb)] = Command(
            verb=str(verb), words=words, description=str(body.get("description", "")),
            event=str(event) if event else None, run=str(run) if run else None, needs=needs,
            takes_text=takes == "text", by=by, line=line or 0,
        )  # fmt: skip
    if errors.items:
        raise RuleDefinitionError("\n".join(errors.items))
    return commands


def read_yaml(path: Path) -> dict[str, Any]:
    """One rules file as data (lines remembered); a YAML error says file and line."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 - _Loader is SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise RuleDefinitionError(f"{where}: yaml: {getattr(exc, 'problem', exc)}") from exc
    except OSError as exc:
        raise RuleDefinitionError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise RuleDefinitionError(f"{path}: the file must be a mapping")
    return data


def load_rules(directory: Path, template_exists: Callable[[str], bool] | None = None) -> Rules:
    """Every rules/*.yaml: the machines by name and the staff commands; all problems at once."""
    if not directory.is_dir():
        raise RuleDefinitionError(f"{directory}: no such rules folder")
    machines: dict[str, Machine] = {}
    commands: dict[str, Command] = {}
    problems: list[str] = []
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise RuleDefinitionError(f"{directory}: no rules files (*.yaml)")
    for path in files:
        try:
            data = read_yaml(path)
            if "commands" in data and "machine" not in data:
                commands.update(load_commands(path, data))
                continue
            machine = load_machine(path, template_exists)
        except RuleDefinitionError as exc:
            problems.append(str(exc))
            continue
        machines[machine.name] = machine
    if problems:
        raise RuleDefinitionError("\n".join(problems))
    return Rules(machines, commands)


def mermaid(machine: Machine, highlight: Iterable[str] = ()) -> str:
    """The machine as a Mermaid state diagram (wildcard transitions drawn from each live state)."""
    lines = ["stateDiagram-v2", f"    [*] --> {machine.initial}"]
    live = [s for s, d in machine.states.items() if not d.final]
    edges: dict[tuple[str, str], list[str]] = {}
    for t in machine.transitions:
        if not t.target:
            continue
        sources = live if "*" in t.sources else t.sources
        for source in sources:
            if source != t.target:
                edges.setdefault((source, t.target), []).append(t.event)
    for (source, target), events in edges.items():
        label = ", ".join(dict.fromkeys(events))
        lines.append(f"    {source} --> {target}: {label}")
    for state, definition in machine.states.items():
        if definition.final:
            lines.append(f"    {state} --> [*]")
    for state in highlight:
        lines.append(f"    class {state} current")
    return "\n".join(lines) + "\n"
