"""One batch, one transaction (dispatch/inbox.py): what a message writes, the next message of
the same batch sees, though the batch asks about its senders once (dispatch/lookups.py) and
writes its facts rows and statuses only at its end."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select

from mailflow.app import Services
from mailflow.dispatch import process_pending
from mailflow.dispatch.inbox import Processing
from mailflow.inbound.intake import Incoming, store
from mailflow.store.schema import Contact, InboxMessage, Library, MessageFacts, Outbox
from tests.helpers import application, mail

STRANGER = "Pat Doe <pat@unknown.example>"
APPLICANT = "Maria Lopez <maria1@biblioteca.example.es>"  # application(1)'s sender


def _process_as_one_batch(services: Services, raws: list[bytes]) -> None:
    with services.db.unit_of_work() as s:
        for raw in raws:
            store(s, Incoming(raw=raw, source="file", mailbox="test"), services.clock.now())
    s = services
    report = process_pending(s.db, s.clock, s.workflow, processing=Processing(batch_size=50))
    assert (report.done, report.dead, report.deferred) == (len(raws), 0, 0)


def test_a_batch_sees_its_own_contacts_answers_and_counts(
    make_services: Callable[..., Services],
) -> None:
    services = make_services(MAILFLOW_LIMITS_HOLD_AFTER_MESSAGES="4")
    first = application(1)
    # The same applicant again (another Message-ID), then a note from her address with no
    # form (known only by her contact, made two messages before), a stranger writing twice,
    # and the stranger flooding: all in one batch, one transaction.
    again = first.replace(b"Message-ID: <", b"Message-ID: <again.")
    note = mail(sender=APPLICANT, subject="Our library", body="City: Segovia\n")
    stranger = [mail(sender=STRANGER, subject=f"hello {n}", body="Bonjour?") for n in range(5)]
    _process_as_one_batch(services, [first, again, note, *stranger])

    with services.db.unit_of_work() as s:
        # The second application found the contact the first created in this batch.
        assert s.scalar(select(func.count()).select_from(Library)) == 1
        assert s.scalar(select(func.count()).select_from(Contact)) == 1
        # One "could not understand" answer to the stranger, not one per mail.
        answers = s.scalars(select(Outbox).where(Outbox.template == "library-not-understood")).all()
        assert [a.recipients for a in answers] == [["pat@unknown.example"]]
        # Every message has its facts row and status, written at the batch's end.
        rows = s.scalars(select(InboxMessage).order_by(InboxMessage.id)).all()
        assert {r.status for r in rows} == {"done"}
        assert all(r.claimed_by is None and r.processed_at is not None for r in rows)
        outcomes = dict(
            s.execute(
                select(MessageFacts.inbox_id, MessageFacts.outcome).order_by(MessageFacts.inbox_id)
            ).all()
        )
        assert len(outcomes) == len(rows)
        # The note was read against her library, found by the contact this batch made.
        assert "could not tell" not in outcomes[rows[2].id]
        assert "library #" in outcomes[rows[2].id]
        stranger_outcomes = [outcomes[r.id] for r in rows[3:]]
        # The fifth mail is past limits.hold_after_messages = 4 counted in this batch: held.
        assert "sender held" in stranger_outcomes[4]
        assert not any("sender held" in o for o in stranger_outcomes[:4])
