"""The inbox stage: each stored message is parsed once, correlated, applied, and its outcome kept.

A pass (see store/inbox_claims.py for the claim itself):

1. claim: a short transaction counts an attempt on the oldest ready rows (up to a byte budget)
   and leases them to this pass, and commits, before any work on them;
2. parse: their raw bytes are read and parsed in the parse worker process (mailflow/sandbox.py)
   with a time budget per message, outside any transaction (SQLite's write lock is free);
3. dispatch: one transaction for the batch, a savepoint per message: facts, library/contact
   changes, state, history, outbox rows and the row's `done` commit together.

A crash rolls the dispatch back and leaves the row `new` with its attempt counted; once the
lease runs out it is taken again (alone, so a poison message cannot use up the attempts of
the mail beside it). A message that used `processing.max_attempts` attempts (past its parse
budget, a dying parser, crashes) is quarantined with the reason and staff are told; one whose
handling raises is dead-lettered. Either way the queue moves on.
"""

from __future__ import annotations

import traceback
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from mailflow.clock import Clock
from mailflow.dispatch import attention, letters, route
from mailflow.dispatch.program import Workflow
from mailflow.dispatch.reading import parse_options
from mailflow.dispatch.turn import Cause, Outcome, Outcomes, Turn
from mailflow.errors import TransientError
from mailflow.log import DISPATCH, hide_addresses
from mailflow.parse import Facts
from mailflow.sandbox import ParseFailed, ParseWorker, Result, shared_worker
from mailflow.store.claims import Renewing
from mailflow.store.db import Database
from mailflow.store.inbox_claims import (
    InboxClaim,
    claim_inbox,
    held,
    let_go,
    load_raws,
    release_failed,
    renew,
    unclaim,
)
from mailflow.store.locks import is_contention, serialise, worker_id
from mailflow.store.schema import (
    DEAD,
    NEW,
    DeadLetter,
    InboxMessage,
    MessageFacts,
)

QUARANTINED_CODE = "quarantined"  # the needs-a-person item for a quarantined message
# Messages sent to the parse worker in one go: few round trips for small mail, and no more
# raw bytes held at once than this (a larger message goes alone).
CHUNK_ROWS = 50
CHUNK_BYTES = 4 * 1024 * 1024


@dataclass
class ProcessReport:
    done: int = 0
    quarantined: int = 0
    dead: int = 0
    deferred: int = 0  # lost a race to another worker: taken again at once
    kinds: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.done + self.quarantined + self.dead


@dataclass(frozen=True)
class Processing:
    """How a pass takes its work (the `processing.*` settings)."""

    batch_size: int = 200  # messages per claim and per dispatch transaction
    batch_bytes: int = 16 * 1024 * 1024  # their raw sizes added up (one larger message alone)
    max_attempts: int = 3
    parse_seconds: float = 30.0  # budget per message in the parse worker
    lease_seconds: float = 60.0  # a claim returns to the queue this long after a worker died

    @classmethod
    def from_settings(cls, settings: Any) -> Processing:
        return cls(
            batch_size=int(settings["processing.batch_size"]),
            batch_bytes=int(settings["processing.batch_bytes"]),
            max_attempts=int(settings["processing.max_attempts"]),
            parse_seconds=float(settings["processing.parse_seconds"]),
            lease_seconds=float(settings["processing.lease_seconds"]),
        )


def worker_name() -> str:
    """Who holds a claim: host, process (as `mailflow status` names workers) and this pass."""
    return f"{worker_id()}:{uuid.uuid4().hex[:8]}"


def process_pending(
    db: Database,
    clock: Clock,
    wf: Workflow,
    batch_size: int | None = None,
    processing: Processing | None = None,
    parser: ParseWorker | None = None,
) -> ProcessReport:
    """Process every stored message still `new` (claim, parse, dispatch; batch by batch)."""
    p = processing or Processing()
    if batch_size is not None:
        p = replace(p, batch_size=batch_size)
    parser = parser or shared_worker()
    report = ProcessReport()
    me = worker_name()
    lease = timedelta(seconds=p.lease_seconds)
    options = parse_options(wf, clock.now())

    def tell_staff(session: Session, row: InboxMessage, now: datetime) -> None:
        report.quarantined += 1
        quarantined(Turn(session, wf, now, Cause("message", inbox_id=row.id)), row)

    parser.start()  # before any claim: a slow start must not run out the leases
    while True:
        claims, n_quarantined = claim_inbox(
            db, clock.now(), me, lease=lease, max_bytes=p.batch_bytes, max_rows=p.batch_size,
            max_attempts=p.max_attempts, on_quarantine=tell_staff,
        )  # fmt: skip
        if not claims:
            if not n_quarantined:
                return report
            continue
        try:
            results = _parse(db, clock, parser, claims, options, p, me, lease)
        except TransientError:  # no parse worker: no message's fault, no attempt used
            unclaim(db, [c.id for c in claims], me)
            raise
        for row_id, result in list(results.items()):
            if isinstance(result, ParseFailed):
                del results[row_id]
                release_failed(
                    db, row_id, me, clock.now(), result.reason, p.max_attempts, tell_staff
                )
        _dispatch(db, clock, wf, results, me, report)


def _parse(
    db: Database,
    clock: Clock,
    parser: ParseWorker,
    claims: Sequence[InboxClaim],
    options: dict[str, Any],
    p: Processing,
    me: str,
    lease: timedelta,
) -> dict[int, Result]:
    """Facts (or why not) for each claimed row; raw bytes are read a chunk at a time."""
    results: dict[int, Result] = {}
    waiting = [c.id for c in claims]

    def chunks() -> Iterator[list[tuple[int, bytes]]]:
        for group in _by_bytes(claims, CHUNK_BYTES, CHUNK_ROWS):
            raws = load_raws(db, [c.id for c in group])
            yield [(c.id, raws.pop(c.id)) for c in group if c.id in raws]

    def on_result(row_id: int, result: Result) -> None:
        results[row_id] = result
        waiting.remove(row_id)

    def keep_claims() -> None:  # the rows still waiting for the parser keep their lease
        renew(db, list(waiting), me, clock.now() + lease)

    with Renewing(keep_claims, every=p.lease_seconds / 3):
        parser.parse(chunks(), options, p.parse_seconds, on_result)
    return results


def _by_bytes(
    claims: Sequence[InboxClaim], max_bytes: int, max_rows: int
) -> Iterator[list[InboxClaim]]:
    group: list[InboxClaim] = []
    total = 0
    for claim in claims:
        if group and (total + claim.size > max_bytes or len(group) >= max_rows):
            yield group
            group, total = [], 0
        group.append(claim)
        total += claim.size
    if group:
        yield group


def _dispatch(
    db: Database,
    clock: Clock,
    wf: Workflow,
    facts_by_id: dict[int, Result],
    me: str,
    report: ProcessReport,
) -> None:
    """One transaction for the batch, a savepoint per message (a failure stays alone)."""
    if not facts_by_id:
        return
    now = clock.now()
    with db.unit_of_work() as session:
        for row in held(session, list(facts_by_id), me, db.is_sqlite):
            facts = facts_by_id.pop(row.id)
            assert isinstance(facts, Facts)
            try:
                with session.begin_nested():
                    turn = Turn(session, wf, now, Cause("message", inbox_id=row.id))
                    with session.no_autoflush:
                        kind, outcome = handle_message(turn, row, facts)
                report.kinds[kind] = report.kinds.get(kind, 0) + 1
                if outcome.code is Outcomes.QUARANTINED:
                    report.quarantined += 1
                else:
                    report.done += 1
                DISPATCH.info("inbox #%s (%s): %s", row.id, kind, hide_addresses(outcome.text))
            except Exception as exc:  # noqa: BLE001 - one bad message must not stop the others
                if is_contention(exc):
                    # Another worker changed the same record or inserted the same key first:
                    # not this message's fault. Give it back at once, its attempt not counted.
                    DISPATCH.info("inbox #%s: deferred (another worker): %s", row.id, exc)
                    row.attempts = max(row.attempts - 1, 0)
                    row.claimed_by, row.claimed_until = None, None
                    report.deferred += 1
                    continue
                with session.begin_nested():
                    _dead_letter(session, row, now, exc)
                report.dead += 1
            let_go(row)
    for row_id in facts_by_id:  # its lease ran out and another worker took it
        DISPATCH.warning("inbox #%s: claim lost to another worker; left to it", row_id)


def _dead_letter(session: Session, row: InboxMessage, now: datetime, exc: Exception) -> None:
    reason = f"{type(exc).__name__}: {exc}"[:2000]
    DISPATCH.error("inbox #%s dead-lettered: %s", row.id, reason)
    row.status, row.error, row.processed_at = DEAD, reason, now
    session.add(
        DeadLetter(inbox_id=row.id, stage="dispatch", reason=reason,
                   detail=traceback.format_exc(limit=20), created_at=now)
    )  # fmt: skip


def quarantined(turn: Turn, row: InboxMessage) -> None:
    """Staff learn of a quarantined message: an open item (the digest lists it) and a notice.

    Runs inside the claim's transaction, so it must not fail it: a problem telling staff is
    logged, and the row is quarantined regardless.
    """
    reason = f"inbox #{row.id} ({row.size} bytes) {row.error}"
    DISPATCH.warning("inbox #%s %s", row.id, row.error)
    try:
        with turn.session.begin_nested():
            attention.open_item(turn, QUARANTINED_CODE, reason, data={"inbox_id": row.id})
            letters.to_staff(turn, "staff-notice", reason)
    except Exception:  # noqa: BLE001 - the quarantine itself must hold
        DISPATCH.exception("inbox #%s: staff could not be told of its quarantine", row.id)


def handle_message(turn: Turn, row: InboxMessage, facts: Facts) -> tuple[str, Outcome]:
    """Act on the facts read from the row, and keep them with the outcome (code and words)."""
    if facts.from_.address:
        # Two mails from one address (an applicant writing twice, a stranger's second try) are
        # handled one after the other across workers: the second sees the contact, the answer
        # and the counts the first committed, instead of checking before either inserts.
        serialise(turn.session, "sender:" + facts.from_.address.lower())
    turn = turn.because(
        Cause("message", inbox_id=row.id, message_id=facts.message_id, sender=facts.from_.address)
    )
    outcome = route.act(turn, facts)
    # A Core insert, run at once inside the message's savepoint: one row per message does not
    # need the unit of work's bookkeeping (nothing in this session holds it as an object).
    turn.session.execute(
        insert(MessageFacts),
        [dict(
            inbox_id=row.id, kind=facts.kind, from_address=facts.from_.address,
            from_name=facts.from_.name[:255], subject=facts.subject, sent_at=facts.date,
            language=facts.language, token=facts.token, token_forged=facts.token_forged,
            in_reply_to=facts.in_reply_to, intent=facts.intent, auto_reply=facts.auto_reply,
            auto_reply_until=facts.auto_reply_until, reply_text=facts.reply_text,
            outcome_code=str(outcome.code), outcome=outcome.text, data=facts.to_json(),
        )],
    )  # fmt: skip
    row.status, row.processed_at = outcome.inbox_status, turn.now
    row.error = outcome.text if outcome.code is Outcomes.QUARANTINED else None
    return facts.kind, outcome


def replay(db: Database, dead_letter_id: int, now: datetime) -> InboxMessage:
    """Put a dead-lettered message back in the queue (it keeps its id and raw bytes)."""
    with db.unit_of_work() as session:
        letter = session.get(DeadLetter, dead_letter_id)
        if letter is None or letter.inbox_id is None:
            raise LookupError(f"no dead letter #{dead_letter_id}")
        row = session.get(InboxMessage, letter.inbox_id)
        assert row is not None
        if row.facts is not None:
            session.delete(row.facts)
        row.status, row.error, row.attempts = NEW, None, 0
        row.claimed_until = row.claimed_by = None
        letter.replayed_at = now
        return row
