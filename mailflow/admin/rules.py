"""The rules as text: a Graphviz DOT drawing of a machine and the `rules check` summary."""

from __future__ import annotations

import json
from collections.abc import Sequence

from mailflow.engine.definition import Machine


def _q(name: str) -> str:
    return json.dumps(name, ensure_ascii=False)  # DOT's quoted IDs escape like JSON strings


def dot(machine: Machine) -> str:
    """The machine as Graphviz DOT; the same edges as `loader.mermaid` (wildcards fanned out)."""
    live = [s for s, d in machine.states.items() if not d.final]
    edges: dict[tuple[str, str], list[str]] = {}
    for t in machine.transitions:
        if not t.target:
            continue
        for source in live if "*" in t.sources else t.sources:
            if source != t.target:
                edges.setdefault((source, t.target), []).append(t.event)
    lines = [f"digraph {_q(machine.name)} {{", "    rankdir=LR;", '    "__start" [shape=point];']
    for state, definition in machine.states.items():
        lines.append(
            f"    {_q(state)} [shape={'doublecircle' if definition.final else 'ellipse'}];"
        )
    lines.append(f'    "__start" -> {_q(machine.initial)};')
    for (source, target), events in edges.items():
        label = ", ".join(dict.fromkeys(events))
        lines.append(f"    {_q(source)} -> {_q(target)} [label={_q(label)}];")
    return "\n".join(lines) + "\n}\n"


def rules_summary(machines: dict[str, Machine], locales: Sequence[str]) -> str:
    counts = ", ".join(
        f"{name} ({len(machines[name].transitions)} transitions)" for name in sorted(machines)
    )
    return f"rules OK: {counts}; templates OK (locales {', '.join(locales)})"
