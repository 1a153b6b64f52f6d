"""Creating a partnership proposal: the one door for the matcher, `mailflow propose` and staff."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.dispatch.mail import profile
from mailflow.dispatch.program import Workflow
from mailflow.dispatch.workflow import Cause, apply_event
from mailflow.engine.events import Event
from mailflow.matching import judge
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
