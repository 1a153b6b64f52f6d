"""Charts as inline SVG, drawn here: no JavaScript, no network, every text escaped."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import count

from markupsafe import Markup, escape

__all__ = ["bar_chart", "funnel_chart", "text_width"]

_ids = count(1)
ROW = 28  # px per bar
FONT = 13


def text_width(text: str, size: int = FONT) -> float:
    """A good-enough width for layout: CJK characters are about twice as wide as Latin ones."""
    return sum(size * (1.0 if ord(ch) > 0x2E80 else 0.6) for ch in text)


def _frame(title: str, width: int, height: int, body: list[str], desc: str = "") -> Markup:
    uid = f"chart{next(_ids)}"
    return Markup(
        f'<svg class="chart" role="img" aria-labelledby="{uid}t {uid}d" '
        f'viewBox="0 0 {width} {height}" width="{width}" '
        f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{uid}t">{escape(title)}</title><desc id="{uid}d">{escape(desc)}</desc>'
        + "".join(body)
        + "</svg>"
    )


def _clip(text: str, room: float) -> str:
    if text_width(text) <= room:
        return text
    while text and text_width(text + "…") > room:
        text = text[:-1]
    return text + "…"


def bar_chart(
    title: str, items: Sequence[tuple[str, int]], *, width: int = 440, label_room: int = 150
) -> Markup:
    """Horizontal bars, one per (label, value), with the value written after each bar."""
    if not items:
        return _frame(title, width, ROW, [], "no data")
    top = max(v for _, v in items) or 1
    room = width - label_room - 48
    body: list[str] = []
    for i, (label, value) in enumerate(items):
        y = i * ROW
        bar = max(2.0, room * value / top) if value else 0.0
        body.append(
            f'<g class="bar"><title>{escape(label)}: {value}</title>'
            f'<text x="{label_room - 8}" y="{y + 18}" text-anchor="end" font-size="{FONT}">'
            f"{escape(_clip(label, label_room - 12))}</text>"
            f'<rect x="{label_room}" y="{y + 5}" width="{bar:.1f}" height="{ROW - 10}" rx="3"/>'
            f'<text class="value" x="{label_room + bar + 6:.1f}" y="{y + 18}" font-size="{FONT}">'
            f"{value}</text></g>"
        )
    desc = "; ".join(f"{label}: {value}" for label, value in items)
    return _frame(title, width, ROW * len(items), body, desc)


def funnel_chart(
    title: str, stages: Sequence[tuple[str, int, int]], *, now_word: str = "now", width: int = 440
) -> Markup:
    """Centred bars narrowing by stage: (label, reached, now), "label  reached (now n)"."""
    if not stages:
        return _frame(title, width, ROW, [], "no data")
    top = max(r for _, r, _ in stages) or 1
    height = 40
    body: list[str] = []
    for i, (label, reached, now) in enumerate(stages):
        y = i * (height + 6)
        w = max(60.0, (width - 20) * reached / top)
        x = (width - w) / 2
        text = f"{label}: {reached} ({now_word} {now})"
        body.append(
            f'<g class="stage"><title>{escape(text)}</title>'
            f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{height}" rx="4"/>'
            f'<text x="{width / 2}" y="{y + 25}" text-anchor="middle" font-size="{FONT + 1}">'
            f"<tspan font-weight="
            f'"bold">{escape(label)}</tspan> {reached} ({escape(now_word)} {now})</text></g>'
        )
    desc = "; ".join(f"{label}: {reached} ({now_word} {now})" for label, reached, now in stages)
    return _frame(title, width, len(stages) * (height + 6), body, desc)
