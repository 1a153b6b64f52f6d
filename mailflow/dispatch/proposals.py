"""Creating a partnership proposal: the one door for the matcher, `mailflow propose` and staff."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailflow.dispatch.apply import apply_event
from mailflow.dispatch.letters import deliverable, profile
from mailflow.dispatch.program import StaffMember, Workflow
from mailflow.dispatch.turn import Cause, Turn
from mailflow.engine.events import Event
from mailflow.matching import DEFAULT_WEIGHTS, Weights, judge
from mailflow.matching_pool import Proposal, choose_pairs
from mailflow.parse.forms import language_codes
from mailflow.store.schema import DeclinedPair, Library, Partnership


def why_not(session: Session, wf: Workflow, a: Library, b: Library) -> str | None:
    """The hard rule a pair breaks, in words; None if it may be proposed."""
    if a.id == b.id:
        return "a library cannot partner with itself"
    for lib in (a, b):
        if lib.state not in wf.states("library", "proposable"):
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
    turn: Turn,
    a: Library,
    b: Library,
    reasons: Sequence[str] = (),
    *,
    score: float | None = None,
) -> tuple[Partnership | None, str]:
    """A new partnership for the pair, and its `proposed` event; or why the pair may not be."""
    session, wf, now = turn.session, turn.wf, turn.now
    reason = why_not(session, wf, a, b)
    if reason is not None:
        return None, reason
    if score is None:
        verdict = judge(profile(a), profile(b), now)
        score, reasons = verdict.score, [*verdict.reasons, *reasons]
    first, second = sorted((a, b), key=lambda lib: lib.id)
    partnership = Partnership(
        library_a_id=first.id,
        library_b_id=second.id,
        state=wf.machines["partnership"].initial,
        score=score,
        reasons=list(reasons),
        informal=False,
        mentor=choose_mentor(turn, a, b),
        data={},
        created_at=now,
        updated_at=now,
    )
    session.add(partnership)
    session.flush()
    session.refresh(partnership)
    apply_event(turn, partnership, Event("proposed", now, cause=turn.cause.kind))
    return partnership, "proposed"


def choose_mentor(turn: Turn, a: Library, b: Library) -> str | None:
    """The mentor of a new partnership: one who speaks a language of both libraries (or of
    either, or any), then the one with the fewest partnerships not yet finished, then the first
    in the settings. A coordinator names another with `mentor p12 Ana`."""
    program = turn.program
    if not program.members:
        return program.mentor_address  # the old simple form: one mentor for every partnership
    mentors = program.mentors
    if not mentors:
        return None
    # Names and codes alike ("Spanish", "西班牙语", "es"): one code each (parse/forms.py).
    langs = [language_codes([*profile(lib)["languages"], lib.language or ""]) for lib in (a, b)]
    finished = [
        s for s, d in turn.wf.machines["partnership"].states.items() if d.final
    ]  # fmt: skip
    load = dict(
        turn.session.execute(
            select(Partnership.mentor, func.count())
            .where(Partnership.state.not_in(finished), Partnership.mentor.is_not(None))
            .group_by(Partnership.mentor)
        ).all()
    )

    def fit(member: StaffMember) -> int:
        spoken = language_codes(member.languages)
        if not spoken:
            return 1  # any language
        return 2 * len([s for s in langs if s & spoken]) - (
            0 if any(s & spoken for s in langs) else 3
        )

    best = min(
        enumerate(mentors),
        key=lambda pair: (-fit(pair[1]), load.get(pair[1].address, 0), pair[0]),
    )
    return best[1].address


def matching_pool(
    session: Session, wf: Workflow, now: datetime
) -> tuple[list[Mapping[str, Any]], set[tuple[int, int]]]:
    """Libraries that may be matched now, as profiles, and the pairs that must never be."""
    busy = set()
    pending = {wf.machines["partnership"].initial, *wf.states("partnership", "pending")}
    blocked: set[tuple[int, int]] = set()
    for a_id, b_id, state in session.execute(
        select(Partnership.library_a_id, Partnership.library_b_id, Partnership.state)
    ):
        blocked.add((min(a_id, b_id), max(a_id, b_id)))
        if state in pending:
            busy |= {a_id, b_id}  # one open proposal at a time per library
    blocked |= {(d.low_id, d.high_id) for d in session.scalars(select(DeclinedPair))}
    pool: list[Mapping[str, Any]] = []
    for library in session.scalars(
        select(Library).where(
            Library.state.in_(wf.states("library", "listed")), Library.hidden.is_(False)
        )
    ):
        if library.id in busy or not deliverable(library):
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
    pool, blocked = matching_pool(session, wf, now)
    chosen = choose_pairs(
        pool, now, weights=weights, blocked=blocked, candidates=candidates, min_score=min_score
    )
    if dry_run:
        return chosen
    libraries = {
        lib.id: lib
        for lib in session.scalars(select(Library).where(Library.id.in_([p["id"] for p in pool])))
    }
    turn = Turn(session, wf, now, Cause("engine"))
    for pair in chosen:
        propose(turn, libraries[pair.a], libraries[pair.b], list(pair.reasons), score=pair.score)
    return chosen
