"""The dashboard's computed indicators: the funnel, times to partnership, response times."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from statistics import median
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.store.schema import Contact, History, MessageFacts, Outbox, Partnership

__all__ = ["FUNNEL", "SIDE", "funnel", "month_series", "response_hours", "timings"]

FUNNEL = ("proposed", "offered", "trial", "mou_sent", "active")
SIDE = ("renewal", "stalled", "lapsed", "declined", "dropped", "closed")


def funnel(session: Session, partnerships: Sequence[Partnership]) -> dict[str, Any]:
    """How many partnerships ever reached each stage, and how many are in it now.

    A partnership that reached a later stage counts as having passed the earlier ones (an
    auto-approved proposal goes straight to ``offered``; an informal one skips ``mou_sent``).
    """
    reached_states: dict[int, set[str]] = defaultdict(set)
    for pid, state in session.execute(
        select(History.record_id, History.to_state).where(History.record_type == "partnership")
    ):
        reached_states[pid].add(state)
    for p in partnerships:
        reached_states[p.id].add(p.state)
        for stamp, state in ((p.offered_at, "offered"), (p.trial_at, "trial"), (p.active_at, "active")):  # fmt: skip
            if stamp is not None:
                reached_states[p.id].add(state)
    furthest = Counter(
        max((FUNNEL.index(s) for s in states if s in FUNNEL), default=-1)
        for states in reached_states.values()
    )
    now = Counter(p.state for p in partnerships)
    stages = [
        {
            "state": state,
            "reached": sum(n for depth, n in furthest.items() if depth >= i),
            "now": now.get(state, 0),
        }
        for i, state in enumerate(FUNNEL)
    ]
    return {"stages": stages, "side": [{"state": s, "now": now.get(s, 0)} for s in SIDE]}


def _days(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 86400


def _summary(values: Iterable[float]) -> dict[str, Any]:
    values = list(values)
    return {"median": round(median(values), 1) if values else None, "n": len(values)}


def timings(partnerships: Sequence[Partnership]) -> dict[str, dict[str, Any]]:
    """Median days from each library's application to its offer, introduction and activation."""
    samples: dict[str, list[float]] = {"to_offer": [], "to_trial": [], "to_active": []}
    for p in partnerships:
        for lib in (p.library_a, p.library_b):
            for key, stamp in (("to_offer", p.offered_at), ("to_trial", p.trial_at), ("to_active", p.active_at)):  # fmt: skip
                if stamp is not None and stamp >= lib.created_at:
                    samples[key].append(_days(lib.created_at, stamp))
    return {key: _summary(values) for key, values in samples.items()}


def response_hours(session: Session) -> dict[str, Any]:
    """Median hours from the first unanswered mail to a library (in a partnership) to its reply.

    Mail out: outbox rows of the partnership, per contact address. Mail in: the partnership's
    history rows caused by a message, with the sender from the message facts.
    """
    contacts = {e.lower() for e in session.scalars(select(Contact.email))}
    events: dict[tuple[int, str], list[tuple[datetime, int]]] = defaultdict(list)
    for pid, recipients, created in session.execute(
        select(Outbox.record_id, Outbox.recipients, Outbox.created_at).where(
            Outbox.record_type == "partnership"
        )
    ):
        for address in recipients or ():
            if str(address).lower() in contacts:
                events[(pid, str(address).lower())].append((created, 0))
    seen: set[tuple[int, int]] = set()
    for pid, inbox_id, sender, created in session.execute(
        select(History.record_id, History.inbox_id, MessageFacts.from_address, History.created_at)
        .join(MessageFacts, MessageFacts.inbox_id == History.inbox_id)
        .where(History.record_type == "partnership", History.cause == "message")
    ):
        if (pid, inbox_id) in seen or sender.lower() not in contacts:
            continue
        seen.add((pid, inbox_id))
        events[(pid, sender.lower())].append((created, 1))
    hours: list[float] = []
    for timeline in events.values():
        waiting: datetime | None = None
        # A reply and the mail it caused share a timestamp: the reply comes first.
        for at, incoming in sorted(timeline, key=lambda e: (e[0], -e[1])):
            if not incoming:
                waiting = waiting or at
            elif waiting is not None:
                hours.append((at - waiting).total_seconds() / 3600)
                waiting = None
    return _summary(hours)


def month_series(months: dict[str, int], now: datetime, limit: int = 12) -> list[tuple[str, int]]:
    """Counts per ``YYYY-MM`` for every month from the first one (at most ``limit``) to now."""
    if not months:
        return []
    year, month = map(int, min(months).split("-"))
    keys: list[str] = []
    while (year, month) <= (now.year, now.month):
        keys.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return [(key, months.get(key, 0)) for key in keys[-limit:]]
