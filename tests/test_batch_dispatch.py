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


def _written(services: Services) -> dict[str, list[tuple[object, ...]]]:
    """What a run wrote, without the random parts (Message-IDs), in the order it was written."""
    from mailflow.store.schema import AttentionItem, History, Suppressed

    with services.db.unit_of_work() as s:
        outbox = [
            (
                o.template,
                tuple(o.recipients),
                o.thread_key,
                len((o.spec or {}).get("references", [])),
            )
            for o in s.scalars(select(Outbox).order_by(Outbox.id))
        ]
        # VERP: each row's return path names that row (its id taken ahead in a batch).
        senders = [o.sender for o in s.scalars(select(Outbox).order_by(Outbox.id))]
        ids = list(s.scalars(select(Outbox.id).order_by(Outbox.id)))
        assert all(f"+b{i}." in sender for i, sender in zip(ids, senders, strict=True))
        return {
            "outcomes": list(
                s.scalars(select(MessageFacts.outcome).order_by(MessageFacts.inbox_id))
            ),
            "outbox": outbox,
            "suppressed": [
                (x.inbox_id, x.recipient, x.template, x.reason)
                for x in s.scalars(select(Suppressed).order_by(Suppressed.id))
            ],
            "history": [
                (h.record_type, h.record_id, h.from_state, h.to_state, h.event, h.note, h.inbox_id)
                for h in s.scalars(select(History).order_by(History.id))
            ],
            "items": [
                (i.code, i.reason, i.record_id, i.inbox_id)
                for i in s.scalars(select(AttentionItem).order_by(AttentionItem.id))
            ],
        }


def test_one_batch_writes_what_one_message_at_a_time_writes(
    make_services: Callable[..., Services], tmp_path
) -> None:
    """The batch's shortcuts (ids taken ahead, rows written at its end, the outbox read once
    about its senders, the answered mails once for its replies) change nothing written."""
    staff_notices = "MAILFLOW_LIMITS_STAFF_NOTICES_PER_HOUR"
    mails = [
        application(1), application(2),
        application(1).replace(b"Message-ID: <", b"Message-ID: <again."),
        # A reply to a mail we never sent, and a stranger who writes three times (one answer,
        # then the day's limit; the third held), and mail to staff past their hourly notices.
        mail(sender=STRANGER, subject="Re: our offer", body="Yes, we accept.",
             headers={"In-Reply-To": "<not.ours@elsewhere.example>"}),
        *[mail(sender=STRANGER, subject=f"hello {n}", body="Bonjour?") for n in range(3)],
        mail(sender="Lee <lee@other.example>", subject="question", body="Who are you?"),
    ]  # fmt: skip
    batch = make_services(MAILFLOW_LIMITS_HOLD_AFTER_MESSAGES="3", **{staff_notices: "2"})
    _process_as_one_batch(batch, mails)
    alone = make_services(
        MAILFLOW_DATABASE_URL=f"sqlite:///{tmp_path / 'alone.sqlite3'}",
        MAILFLOW_LIMITS_HOLD_AFTER_MESSAGES="3", **{staff_notices: "2"},
    )  # fmt: skip
    for raw in mails:
        _process_as_one_batch(alone, [raw])
    in_batch, one_by_one = _written(batch), _written(alone)
    assert in_batch == one_by_one
    # What the comparison covers is there: answers with their threads, suppressed mail,
    # history, needs-a-person items.
    assert any(o[0] == "library-not-understood" for o in in_batch["outbox"])
    assert any("sender held" in o for o in in_batch["outcomes"])
    assert in_batch["suppressed"] and in_batch["history"] and in_batch["items"]
