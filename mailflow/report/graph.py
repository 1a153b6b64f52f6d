"""A state machine drawn as inline SVG from its Mermaid text (`mailflow rules graph`).

Layout: states in rows by longest path from the initial state, once the edges that go back up
the rules file's order of states are set aside; each row ordered by the mean position of its
predecessors. Edges to the next row are straight lines; longer ones curve down on the left,
and the ones going back up curve on the right, dashed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from mailflow.report.charts import text_width

__all__ = ["Graph", "parse_mermaid", "state_svg"]

_EDGE = re.compile(r"^\s*(\S+)\s*-->\s*(\S+?)\s*(?::\s*(.*))?$")
BOX_H, ROW_GAP, COL_GAP, PAD = 44, 56, 26, 16


@dataclass(frozen=True)
class Graph:
    initial: str
    states: tuple[str, ...]
    edges: tuple[tuple[str, str, str], ...]  # (source, target, label)
    finals: frozenset[str]


def parse_mermaid(text: str) -> Graph:
    """`stateDiagram-v2` lines as `loader.mermaid` writes them."""
    initial, states, edges, finals = "", [], [], set()
    for line in text.splitlines():
        m = _EDGE.match(line)
        if not m:
            continue
        source, target, label = m.group(1), m.group(2), (m.group(3) or "").strip()
        if source == "[*]":
            initial = target
        elif target == "[*]":
            finals.add(source)
        else:
            edges.append((source, target, label))
        for state in (source, target):
            if state != "[*]" and state not in states:
                states.append(state)
    return Graph(initial, tuple(states), tuple(edges), frozenset(finals))


def _layers(g: Graph, hint: Sequence[str]) -> tuple[dict[str, int], set[tuple[str, str]]]:
    """Rows by longest path; an edge back up the declared order (``hint``) closes a cycle."""
    rank: dict[str, int] = {}
    for s in (*hint, *g.states):  # first mention wins
        rank.setdefault(s, len(rank))
    back = {(s, t) for s, t, _ in g.edges if rank[t] <= rank[s]}
    layer = {s: 0 for s in g.states}
    for _ in g.states:  # longest path on the acyclic rest: at most |V| rounds
        changed = False
        for s, t, _label in g.edges:
            if (s, t) not in back and layer[t] < layer[s] + 1:
                layer[t], changed = layer[s] + 1, True
        if not changed:
            break
    return layer, back


def _box_width(state: str, sub: str) -> float:
    return max(text_width(state, 14), text_width(sub, 12)) + 28


def _route(
    pos: Mapping[str, tuple[float, float]],
    widths: Mapping[str, float],
    s: str,
    t: str,
    lane_x: float,
    lane: int,
    right: bool,
) -> str:
    """Out of the source's bottom, along the gap below it to the lane, up or down the lane,
    along the gap above the target, and into the target's top: rows of boxes are never crossed.
    """
    (x1, y1), (x2, y2) = pos[s], pos[t]
    sign = 1 if right else -1
    step = (lane % 5) * 6
    sx = x1 + sign * (widths[s] / 2 - 10 - (lane % 3) * 5)
    tx = x2 + sign * (widths[t] / 2 - 10 - (lane % 3) * 5)
    below, above = y1 + BOX_H / 2 + 8 + step, y2 - BOX_H / 2 - 8 - step
    points = [(sx, y1 + BOX_H / 2), (sx, below), (lane_x, below), (lane_x, above), (tx, above),
              (tx, y2 - BOX_H / 2)]  # fmt: skip
    return "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in points)


def state_svg(
    g: Graph,
    *,
    title: str,
    order: Sequence[str] = (),
    counts: Mapping[str, int] | None = None,
    label: Callable[[str], str] | None = None,
) -> Markup:
    """The graph as an accessible SVG; each box shows the state, a label and a count.

    ``order``: the states as the rules file declares them (a life's order); edges that go
    back up it are dashed, on the right; forward edges that skip a row go down on the left.
    """
    counts, label = counts or {}, label or (lambda s: "")
    layer, back = _layers(g, order)
    rows: dict[int, list[str]] = {}
    for s in g.states:
        rows.setdefault(layer[s], []).append(s)
    subs = {s: " · ".join(x for x in (label(s), str(counts.get(s, 0))) if x) for s in g.states}
    widths = {s: _box_width(s, subs[s]) for s in g.states}
    slot: dict[str, float] = {}
    for depth in sorted(rows):  # barycentre of the predecessors in the row above
        near = {
            s: [slot[a] for a, b, _ in g.edges if b == s and a in slot and layer[a] == depth - 1]
            for s in rows[depth]
        }
        rows[depth].sort(key=lambda s: sum(near[s]) / len(near[s]) if near[s] else 0.0)
        for i, s in enumerate(rows[depth]):
            slot[s] = i - (len(rows[depth]) - 1) / 2
    # Edges in drawing order (short first), each with its side; one label per (target, events).
    edges = sorted(g.edges, key=lambda e: (abs(layer[e[1]] - layer[e[0]]), e[0], e[1]))
    side = {
        (s, t): "right" if (s, t) in back else "left" if layer[t] - layer[s] > 1 else ""
        for s, t, _ in edges
    }
    shown: dict[tuple[str, str], tuple[str, str]] = {}
    for s, t, text in edges:
        shown.setdefault((t, text), (s, t))
    gutter = {
        name: 24 + 7 * sum(1 for v in side.values() if v == name)
        + max([text_width(x, 11) for s, t, x in edges if side[(s, t)] == name and shown[(t, x)] == (s, t)] or [0])
        for name in ("left", "right")
    }  # fmt: skip
    row_w = {d: sum(widths[s] for s in r) + COL_GAP * (len(r) - 1) for d, r in rows.items()}
    span = max(row_w.values())
    width = gutter["left"] + span + gutter["right"]
    pos: dict[str, tuple[float, float]] = {}
    for depth, row in rows.items():
        x = gutter["left"] + (span - row_w[depth]) / 2
        for s in row:
            pos[s] = (x + widths[s] / 2, PAD + depth * (BOX_H + ROW_GAP) + BOX_H / 2)
            x += widths[s] + COL_GAP
    height = PAD * 2 + (max(rows) + 1) * (BOX_H + ROW_GAP) - ROW_GAP
    body = [
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>'
    ]
    lanes = {"left": 0, "right": 0}
    used: dict[str, list[float]] = {"left": [], "right": []}  # label heights taken per side
    for s, t, text in edges:
        (x1, y1), (x2, y2) = pos[s], pos[t]
        where = side[(s, t)]
        if where:
            lanes[where] += 1
            right = where == "right"
            lane_x = (
                (gutter["left"] + span + 12 + lanes[where] * 7)
                if right
                else (gutter["left"] - 12 - lanes[where] * 7)
            )
            d = _route(pos, widths, s, t, lane_x, lanes[where], right)
            ly = (y1 + y2) / 2
            while any(abs(ly - u) < 13 for u in used[where]):
                ly += 13
            lx, anchor = (lane_x + 4, "start") if right else (lane_x - 4, "end")
        else:
            y1e, y2e = y1 + BOX_H / 2, y2 - BOX_H / 2
            d = f"M{x1:.1f},{y1e:.1f} L{x2:.1f},{y2e:.1f}"
            lx, ly = (x1 + x2) / 2 + (5 if x2 >= x1 else -5), (y1e + y2e) / 2 + 4
            anchor = "end" if x2 < x1 - 1 else "start"
        text_el = ""
        if shown[(t, text)] == (s, t):
            if where:
                used[where].append(ly)
            text_el = f'<text x="{lx:.1f}" y="{ly:.1f}" font-size="11" text-anchor="{anchor}">{escape(text)}</text>'
        cls = {"right": "edge back", "left": "edge long", "": "edge"}[where]
        body.append(
            f'<g class="{cls}"><title>{escape(f"{s} → {t}: {text}")}</title>'
            f'<path d="{d}" fill="none" marker-end="url(#arrow)"/>{text_el}</g>'
        )
    for s in g.states:
        x, y = pos[s]
        w = widths[s]
        kind = "final" if s in g.finals else "initial" if s == g.initial else "state"
        body.append(
            f'<g class="node {kind}" data-state="{escape(s)}"><title>{escape(s)}: {counts.get(s, 0)}</title>'
            f'<rect x="{x - w / 2:.1f}" y="{y - BOX_H / 2:.1f}" width="{w:.1f}" height="{BOX_H}" rx="8"/>'
            f'<text x="{x:.1f}" y="{y - 3:.1f}" text-anchor="middle" font-size="14" '
            f'font-weight="bold">{escape(s)}</text>'
            f'<text x="{x:.1f}" y="{y + 14:.1f}" text-anchor="middle" font-size="12">'
            f"{escape(subs[s])}</text></g>"
        )
    return Markup(
        f'<svg class="machine" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        + "".join(body)
        + "</svg>"
    )
