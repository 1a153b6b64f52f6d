"""Creating a partnership proposal: the one door for the matcher, `mailflow propose` and staff."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.dispatch.mail import profile
from mailflow.dispatch.program import Workflow
from mailflow.dispatch.records import Cause
from mailflow.dispatch.workflow import apply_event
from mailflow.engine.events import Event
from mailflow.matching import DEFAULT_WEIGHTS, Weights, judge
from mailflow.matching_pool import Proposal, choose_pairs
from mailflow.store.schema import DeclinedPair, Library, Partnership

PROPOSABLE = ("seeking", "partnered")


def why_not(session: Session, a: Library, b: Library) -> str | None:
    """The hard rule a pair breaks, in words; None if it may be proposed."""
    if a.id == b.id:
        return "a library cannot partner with itself"
    for lib in (a, b):
        if lib.state not in PROPOSABLE:
            return f"{lib.name} is {lib.state}, not seeking"
    verdict = judge(profile(a), profile(b), a.updated_at)
    if not verdict.allowed:
        return verdict.reasons[0] + "; the program pairs libraries abroad that share a language"
    low, high = sorted((a.id, b.id))
    if session.get(DeclinedPair, (low, high)) is not None:
        return "this pair was declined or rejected before and is never proposed again"
    existing = session.scalar(
        select(Partnership).where(Partnership.library_a_id == low, Partnership.library_b_id == high)
    )
    if existing is not None:
        return f"they already have partnership #{existing.id} ({existing.state})"
    return None


def propose(
    session: Session,
    wf: Workflow,
    a: Library,
    b: Library,
    now: datetime,
    cause: Cause,
    *,
    score: float | None = None,
    reasons: Sequence[str] = (),
) -> tuple[Partnership | None, str]:
    reason = why_not(session, a, b)
    if reason is not None:
        return None, reason
    if score is None:
        verdict = judge(profile(a), profile(b), now)
        score, reasons = verdict.score, [*verdict.reasons, *reasons]
    first, second = sorted((a, b), key=lambda lib: lib.id)
    partnership = Partnership(
        library_a_id=first.id,
        library_b_id=second.id,
        state="new",
        score=score,
        reasons=list(reasons),
        informal=False,
        mentor=wf.program.mentor_address,
        data={},
        created_at=now,
        updated_at=now,
    )
    session.add(partnership)
    session.flush()
    session.refresh(partnership)
    apply_event(session, wf, partnership, Event("proposed", now, cause=cause.kind), cause, now)
    return partnership, "proposed"


def matching_pool(session: Session, now: datetime) -> tuple[list[dict], set[tuple[int, int]]]:
    """Libraries that may be matched now, as profiles, and the pairs that must never be."""
    busy = set()
    blocked: set[tuple[int, int]] = set()
    for a_id, b_id, state in session.execute(
        select(Partnership.library_a_id, Partnership.library_b_id, Partnership.state)
    ):
        blocked.add((min(a_id, b_id), max(a_id, b_id)))
        if state in ("new", "proposed", "offered"):
            busy |= {a_id, b_id}  # one open proposal at a time per library
    blocked |= {(d.low_id, d.high_id) for d in session.scalars(select(DeclinedPair))}
    pool = []
    for library in session.scalars(
        select(Library).where(Library.state == "seeking", Library.hidden.is_(False))
    ):
        if library.id in busy or not any(c.status != "failed" for c in library.contacts):
            continue
        item = profile(library)
        item["waited_days"] = max(0, (now - library.created_at).days)
        item["interpreter"] = str((library.fields or {}).get("interpreter", "")).lower() in (
            "yes",
            "true",
            "1",
            "是",
        )
        pool.append(item)
    return pool, blocked


def run_matching(
    session: Session,
    wf: Workflow,
    now: datetime,
    *,
    weights: Weights = DEFAULT_WEIGHTS,
    candidates: int = 10,
    min_score: float = 0.35,
    dry_run: bool = False,
) -> list[Proposal]:
    """Choose pairs for the whole pool and (unless dry_run) propose each one to staff."""
    pool, blocked = matching_pool(session, now)
    chosen = choose_pairs(
        pool, now, weights=weights, blocked=blocked, candidates=candidates, min_score=min_score
    )
    if dry_run:
        return chosen
    libraries = {
        lib.id: lib
        for lib in session.scalars(select(Library).where(Library.id.in_([p["id"] for p in pool])))
    }
    for pair in chosen:
        propose(
            session, wf, libraries[pair.a], libraries[pair.b], now, Cause("engine"),
            score=pair.score, reasons=list(pair.reasons),
        )  # fmt: skip
    return chosen
