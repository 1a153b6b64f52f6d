"""The only write path from stored mail to program state.

Claims stored inbox rows, parses them, and writes facts, library/contact changes and history in
the same transaction that marks the row done. A crash anywhere rolls the transaction back and
leaves the row `new`, so it is processed again and never acted on twice. A message whose
processing raises is rolled back to its savepoint and dead-lettered with the reason.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.clock import Clock
from mailflow.dispatch.program import Workflow
from mailflow.dispatch.route import route
from mailflow.log import DISPATCH, hide_addresses
from mailflow.parse import parse_message
from mailflow.store.db import Database
from mailflow.store.schema import DEAD, NEW, QUARANTINED, DeadLetter, InboxMessage, MessageFacts


@dataclass
class ProcessReport:
    done: int = 0
    quarantined: int = 0
    dead: int = 0
    kinds: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.done + self.quarantined + self.dead


def process_pending(
    db: Database, clock: Clock, wf: Workflow, batch_size: int = 200
) -> ProcessReport:
    """Process every stored message still `new`, one transaction per batch."""
    report = ProcessReport()
    while True:
        with db.unit_of_work() as session:
            query = select(InboxMessage).where(InboxMessage.status == NEW).order_by(InboxMessage.id)
            if not db.is_sqlite:
                # Several workers on PostgreSQL each take their own rows.
                query = query.with_for_update(skip_locked=True)
            rows = list(session.scalars(query.limit(batch_size)))
            for row in rows:
                _process_one(session, row, clock.now(), wf, report)
        if len(rows) < batch_size:
            return report


def _process_one(
    session: Session,
    row: InboxMessage,
    now: datetime,
    wf: Workflow,
    report: ProcessReport,
) -> None:
    row_id = row.id
    row.attempts += 1  # outside the savepoint: a failed attempt still counts
    try:
        # SAVEPOINT flushes what earlier messages did; inside one message dispatch flushes where
        # it needs ids, so autoflush before every lookup would only repeat work.
        with session.begin_nested(), session.no_autoflush:
            facts = parse_message(
                row.raw,
                program_address=wf.program.program_address,
                secret=wf.program.secret,
                staff=wf.program.staff,
            )
            outcome, status = route(session, wf, row, facts, now)
            session.add(
                MessageFacts(
                    inbox_id=row.id,
                    kind=facts.kind,
                    from_address=facts.from_.address,
                    from_name=facts.from_.name[:255],
                    subject=facts.subject,
                    sent_at=facts.date,
                    language=facts.language,
                    token=facts.token,
                    token_forged=facts.token_forged,
                    in_reply_to=facts.in_reply_to,
                    intent=facts.intent,
                    auto_reply=facts.auto_reply,
                    auto_reply_until=facts.auto_reply_until,
                    reply_text=facts.reply_text,
                    outcome=outcome,
                    data=facts.to_json(),
                )
            )
            row.status, row.processed_at, row.error = status, now, None
            if status == QUARANTINED:
                row.error = outcome
        report.kinds[facts.kind] = report.kinds.get(facts.kind, 0) + 1
        if status == QUARANTINED:
            report.quarantined += 1
        else:
            report.done += 1
        DISPATCH.info("inbox #%s (%s): %s", row_id, facts.kind, hide_addresses(outcome))
    except Exception as exc:  # noqa: BLE001 - one bad message must not stop the others
        reason = f"{type(exc).__name__}: {exc}"[:2000]
        DISPATCH.error("inbox #%s dead-lettered: %s", row_id, reason)
        row = session.get(InboxMessage, row_id)
        row.status, row.error, row.processed_at = DEAD, reason, now
        session.add(
            DeadLetter(
                inbox_id=row_id,
                stage="dispatch",
                reason=reason,
                detail=traceback.format_exc(limit=20),
                created_at=now,
            )
        )
        report.dead += 1


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
        row.status, row.error = NEW, None
        letter.replayed_at = now
        return row
