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

import threading
import traceback
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, insert, update
from sqlalchemy.orm import Session

from mailflow.clock import Clock
from mailflow.dispatch import attention, letters, route
from mailflow.dispatch.correlate import answered_ids
from mailflow.dispatch.lookups import Lookups, batch_lookups
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
from mailflow.store.locks import is_contention, serialise_all, worker_id
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

    # Messages per claim and per dispatch transaction: small enough that the parse of the
    # next batch overlaps most of the dispatch even when the IMAP poller hands over 200 at a
    # time, and that a transaction holds its locks briefly; large enough that the batch's
    # own statements (claim, locks, lookups, the final writes) stay well under one a message.
    batch_size: int = 50
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
    """Process every stored message still `new` (claim, parse, dispatch; batch by batch).

    Pipelined: while one batch is dispatched (this thread), the next is already claimed and
    being parsed (the parse worker, fed from a thread), so parsing and dispatch use a core
    each.
    """
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

    def claim_next(first_only: bool = False) -> ParseAhead | None:
        """The next batch, claimed, its parse started; None when nothing is ready."""
        while True:
            claims, n_quarantined = claim_inbox(
                db, clock.now(), me, lease=lease, max_bytes=p.batch_bytes,
                max_rows=p.batch_size, max_attempts=p.max_attempts, on_quarantine=tell_staff,
                first_only=first_only,
            )  # fmt: skip
            if claims:
                return ParseAhead(db, clock, parser, claims, options, p, me, lease)
            if not n_quarantined:
                return None

    parser.start()  # before any claim: a slow start must not run out the leases
    ahead = claim_next()
    try:
        while ahead is not None:
            batch, ahead = ahead, None
            if batch.first_attempt:
                # The next batch, claimed before this one's dispatch transaction (SQLite: no
                # other write can run in this thread meanwhile); its parse follows this one's
                # in the parse worker. Only first attempts, and only behind first attempts:
                # should this batch crash the process, they lose one attempt and are then
                # retried alone, with nothing claimed ahead of a retry.
                ahead = claim_next(first_only=True)
            try:
                _dispatch(db, clock, wf, batch, me, report)
            except TransientError:  # no parse worker: no message's fault, no attempt used
                unclaim(db, batch.ids, me)
                raise
            # Parse failures are written after the dispatch committed (SQLite: one writer).
            for row_id, reason in batch.failed():
                release_failed(db, row_id, me, clock.now(), reason, p.max_attempts, tell_staff)
            if ahead is None:  # nothing was claimed ahead (a retry, or no first attempt)
                ahead = claim_next()
    finally:
        if ahead is not None:  # stopped by an error: the batch parsed ahead goes back untouched
            ahead.abandon()
    return report


class ParseAhead:
    """One claimed batch whose raw mail is read and parsed in a thread, a chunk at a time
    (while the batch before it is dispatched).

    Its leases are renewed until `results()` hands it to dispatch. The raw bytes are read in
    a read-only transaction, so the thread never waits for the write lock the dispatch of the
    batch before holds (SQLite).
    """

    def __init__(
        self,
        db: Database,
        clock: Clock,
        parser: ParseWorker,
        claims: Sequence[InboxClaim],
        options: dict[str, Any],
        p: Processing,
        me: str,
        lease: timedelta,
    ) -> None:
        self.db, self.me, self.ids = db, me, [c.id for c in claims]
        self.first_attempt = all(c.attempt == 1 for c in claims)
        self._results: dict[int, Result] = {}
        self._error: BaseException | None = None

        def keep_claims() -> None:
            renew(db, self.ids, me, clock.now() + lease)

        def chunks() -> Iterator[list[tuple[int, bytes]]]:
            for group in _by_bytes(claims, CHUNK_BYTES, CHUNK_ROWS):
                raws = load_raws(db, [c.id for c in group])
                yield [(c.id, raws.pop(c.id)) for c in group if c.id in raws]

        def run() -> None:
            try:
                parser.parse(chunks(), options, p.parse_seconds, self._results.__setitem__)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller by results()
                self._error = exc

        self._renewing = Renewing(keep_claims, every=p.lease_seconds / 3)
        self._renewing.__enter__()
        self._thread = threading.Thread(target=run, name="parse-ahead", daemon=True)
        self._thread.start()

    def results(self) -> dict[int, Result]:
        """Facts (or why not) for each claimed row, once all are parsed."""
        self._thread.join()
        self._renewing.__exit__(None, None, None)
        if self._error is not None:
            raise self._error
        return self._results

    def facts(self) -> dict[int, Facts]:
        return {i: r for i, r in self.results().items() if isinstance(r, Facts)}

    def failed(self) -> list[tuple[int, str]]:
        """The rows whose parse failed, and why."""
        return [(i, r.reason) for i, r in self.results().items() if isinstance(r, ParseFailed)]

    def abandon(self) -> None:
        """Give the rows back, their attempt not counted (best effort: else the lease ends)."""
        self._thread.join()
        self._renewing.__exit__(None, None, None)
        try:
            unclaim(self.db, self.ids, self.me)
        except Exception:  # noqa: BLE001 - their lease runs out and they return anyway
            DISPATCH.exception("could not give back %d claimed messages", len(self.ids))


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


@dataclass(frozen=True)
class _Handled:
    """What became of one message of a dispatch transaction (logged once it committed)."""

    row_id: int
    kind: str = ""
    outcome: Outcome | None = None
    deferred: str | None = None  # lost a race with another worker: given back, why
    dead: bool = False


def _dispatch(
    db: Database,
    clock: Clock,
    wf: Workflow,
    batch: ParseAhead,
    me: str,
    report: ProcessReport,
) -> None:
    """One transaction for the batch, opened once all of it is parsed (no transaction waits
    for a parse: a hostile message's budget never holds SQLite's write lock or a record's
    row lock). First without savepoints (the common case, a round trip less per message); if
    any message raises, that transaction is rolled back whole and the batch is done again
    with a savepoint per message, so the failure stays alone."""
    facts = batch.facts()  # TransientError: no parse worker
    now = clock.now()
    try:
        handled = _dispatch_batch(db, wf, now, facts, me, alone=False)
    except Exception as exc:  # noqa: BLE001 - the batch again, each message in its savepoint
        DISPATCH.info(
            "a batch of %d messages rolled back (%s: %s); again, each message alone",
            len(batch.ids), type(exc).__name__, str(exc)[:300],
        )  # fmt: skip
        handled = _dispatch_batch(db, wf, now, facts, me, alone=True)
    facts_by_id = facts
    for h in handled:
        if h.dead:
            report.dead += 1
        elif h.deferred is not None:
            # Another worker changed the same record or inserted the same key first: not this
            # message's fault; it was given back at once, its attempt not counted.
            DISPATCH.info("inbox #%s: deferred (another worker): %s", h.row_id, h.deferred)
            report.deferred += 1
        else:
            assert h.outcome is not None
            report.kinds[h.kind] = report.kinds.get(h.kind, 0) + 1
            if h.outcome.code is Outcomes.QUARANTINED:
                report.quarantined += 1
            else:
                report.done += 1
            DISPATCH.info("inbox #%s (%s): %s", h.row_id, h.kind, hide_addresses(h.outcome.text))
    for row_id in set(facts_by_id) - {h.row_id for h in handled}:
        # Its lease ran out and another worker took it.
        DISPATCH.warning("inbox #%s: claim lost to another worker; left to it", row_id)


def _dispatch_batch(
    db: Database,
    wf: Workflow,
    now: datetime,
    facts_by_id: dict[int, Facts],
    me: str,
    *,
    alone: bool,
) -> list[_Handled]:
    """One transaction. `alone`: a savepoint per message, its facts row and status written in
    it; else none, and the facts rows and statuses of all are written at the end in two
    statements (nothing in the batch reads them: `lookups` counts the handled messages), as
    are its history and suppressed-mail rows (`lookups.insert_later`)."""
    handled: list[_Handled] = []
    facts_rows: list[dict[str, Any]] = []
    statuses: list[dict[str, Any]] = []
    hold = timedelta(minutes=wf.program.limits.hold_window_minutes)
    with (
        db.unit_of_work() as session,
        batch_lookups(session, now - hold, write_later=not alone) as cached,
    ):
        _dispatch_turns(session, wf, now, facts_by_id, me, db.is_sqlite, cached, alone,
                        handled, facts_rows, statuses)  # fmt: skip
        cached.write_behind(session)  # mail and attention items no read asked for yet
        cached.write_later(session)  # history, suppressed mails (none when `alone`)
        if facts_rows:
            # The table, not the entity: a plain executemany (the ORM's bulk insert would
            # split the rows wherever their None columns differ).
            session.execute(insert(FACTS), facts_rows)
            session.execute(update(InboxMessage), statuses)  # by primary key, one executemany
    return handled


def _dispatch_turns(
    session: Session,
    wf: Workflow,
    now: datetime,
    facts_by_id: dict[int, Facts],
    me: str,
    is_sqlite: bool,
    cached: Lookups,
    alone: bool,
    handled: list[_Handled],
    facts_rows: list[dict[str, Any]],
    statuses: list[dict[str, Any]],
) -> None:
    """The batch's turns, inside its transaction."""
    rows = held(session, list(facts_by_id), me, is_sqlite)
    batch = [(row, facts_by_id[row.id]) for row in rows]
    # The senders' locks before the first turn, in one stable order (locks.serialise_all),
    # then what the turns will ask about them, in two queries.
    serialise_all(session, filter(None, (sender_key(facts) for _, facts in batch)))
    senders = [f.from_.address for _, f in batch if f.from_.address]
    cached.read_contacts(session, senders)
    cached.read_counts(session, senders)
    cached.expect_replies(i for _, f in batch if not f.token for i in answered_ids(f))
    for row, facts in batch:
        if not alone:
            outcome = _turn(session, wf, now, row, facts)
            # Written now: the next message's reads (limits, threads) must see it.
            session.flush()
            facts_rows.append(facts_row(row.id, facts, outcome))
            statuses.append({"id": row.id, **status_of(outcome, now), **RELEASED})
            cached.handled(facts.from_.address, row.received_at)
            handled.append(_Handled(row.id, facts.kind, outcome))
            continue
        try:
            with session.begin_nested():
                outcome = _turn(session, wf, now, row, facts)
                session.execute(insert(MessageFacts), [facts_row(row.id, facts, outcome)])
                for name, value in {**status_of(outcome, now), **RELEASED}.items():
                    setattr(row, name, value)
            cached.handled(facts.from_.address, row.received_at)
            handled.append(_Handled(row.id, facts.kind, outcome))
        except Exception as exc:  # noqa: BLE001 - one bad message must not stop the others
            if is_contention(exc):
                row.attempts = max(row.attempts - 1, 0)
                let_go(row)
                handled.append(_Handled(row.id, deferred=str(exc)))
                continue
            with session.begin_nested():
                _dead_letter(session, row, now, exc)
            let_go(row)
            handled.append(_Handled(row.id, dead=True))


FACTS = cast(Table, MessageFacts.__table__)
# An inbox row's claim columns once it is handled (store/inbox_claims.let_go).
RELEASED: dict[str, Any] = {"claimed_until": None, "claimed_by": None}


def _turn(
    session: Session, wf: Workflow, now: datetime, row: InboxMessage, facts: Facts
) -> Outcome:
    turn = Turn(session, wf, now, Cause("message", inbox_id=row.id))
    with session.no_autoflush:
        return handle_message(turn, row, facts)


def sender_key(facts: Result) -> str | None:
    """The lock a message's turn holds for its sender (locks.serialise), or None.

    Two mails from one address (an applicant writing twice, a stranger's second try) are
    handled one after the other across workers: the second sees the contact, the answer and
    the counts the first committed, instead of checking before either inserts. A bounce takes
    none: its sender is a mail server (one MAILER-DAEMON for every bounce, which would put
    all workers in one line), and what it changes, the contacts the quoted mail went to, it
    changes under their rows' locks (failures.mark_failed).
    """
    if not isinstance(facts, Facts) or not facts.from_.address or facts.kind == "bounce":
        return None
    return "sender:" + facts.from_.address.lower()


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


def handle_message(turn: Turn, row: InboxMessage, facts: Facts) -> Outcome:
    """Act on the facts read from the row; the caller keeps them with the outcome
    (`facts_row`) and sets the row's status (`status_of`).

    The caller holds the sender's lock (`sender_key`) for the transaction."""
    turn = turn.because(
        Cause("message", inbox_id=row.id, message_id=facts.message_id, sender=facts.from_.address)
    )
    return route.act(turn, facts)


def facts_row(inbox_id: int, facts: Facts, outcome: Outcome) -> dict[str, Any]:
    """The message's `message_facts` row (a Core insert: nothing holds it as an object)."""
    return dict(
        inbox_id=inbox_id, kind=facts.kind, from_address=facts.from_.address,
        from_name=facts.from_.name[:255], subject=facts.subject, sent_at=facts.date,
        language=facts.language, token=facts.token, token_forged=facts.token_forged,
        in_reply_to=facts.in_reply_to, intent=facts.intent, auto_reply=facts.auto_reply,
        auto_reply_until=facts.auto_reply_until, reply_text=facts.reply_text,
        outcome_code=str(outcome.code), outcome=outcome.text, data=facts.to_json(),
    )  # fmt: skip


def status_of(outcome: Outcome, now: datetime) -> dict[str, Any]:
    """The inbox row's columns once its message was handled with this outcome."""
    error = outcome.text if outcome.code is Outcomes.QUARANTINED else None
    return {"status": outcome.inbox_status, "processed_at": now, "error": error}


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
