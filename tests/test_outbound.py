"""Outgoing mail: compose, the transports, and the outbox drainer against a real aiosmtpd sink."""

from __future__ import annotations

import email
import mailbox
import threading
from collections.abc import Iterator, Sequence
from datetime import timedelta
from email.message import EmailMessage
from email.policy import default
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from mailflow.app import build_transport
from mailflow.clock import FrozenClock
from mailflow.outbound.smtp import SmtpTransport
from mailflow.outbound.transport import (
    CaptureTransport,
    MaildirTransport,
    PermanentSendError,
    TemporarySendError,
)
from mailflow.outbox.compose import MAX_REFERENCES, compose, make_message_id
from mailflow.outbox.drain import backoff, drain
from mailflow.settings import load
from mailflow.store.db import Database
from mailflow.store.schema import Outbox, Suppressed
from tests.helpers import PROGRAM, T0
from tests.servers.dovecot import free_port
from tests.servers.smtp_sink import SmtpSink

DOMAIN = "program.example"


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=default)
    assert isinstance(msg, EmailMessage)
    return msg


def render(key: str, to: Sequence[str], **kw: object) -> bytes:
    args: dict = {
        "sender": f"Sister Libraries <{PROGRAM}>",
        "to": to,
        "subject": f"Hello {key}",
        "text": f"Body of {key}\n",
        "html": None,
        "message_id": make_message_id(key, DOMAIN),
        "date": T0,
        "origin": DOMAIN,
    }
    args.update(kw)
    return compose(**args)


def add_rows(db: Database, *recipients: Sequence[str]) -> list[int]:
    """One pending outbox row per recipient list, due at T0; returns their ids in order."""
    ids = []
    with db.unit_of_work() as s:
        for n, to in enumerate(recipients):
            key = f"test/{n}"
            row = Outbox(
                message_id=make_message_id(key, DOMAIN),
                template="test-mail",
                locale="en",
                sender=PROGRAM,
                recipients=list(to),
                subject=f"Hello {key}",
                raw=render(key, to),
                status="pending",
                attempts=0,
                next_attempt_at=T0,
                created_at=T0,
            )
            s.add(row)
            s.flush()
            ids.append(row.id)
    return ids


def rows(db: Database) -> list[Outbox]:
    with db.unit_of_work() as s:
        return list(s.scalars(select(Outbox).order_by(Outbox.id)))


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


@pytest.fixture
def smtp(sink: SmtpSink) -> Iterator[SmtpTransport]:
    transport = SmtpTransport(sink.host, sink.port, timeout=5)
    yield transport
    transport.close()


# -- compose --------------------------------------------------------------------------------


def test_compose_round_trips_every_header_and_both_alternatives() -> None:
    refs = [f"<ref{i}@client.example>" for i in range(30)]
    raw = compose(
        sender="姐妹图书馆项目 <sisters@program.example>",
        to=["王丽 <wangli@library.example.cn>"],
        cc=["Zoë Brontë <zoe@library.example.org>"],
        subject="回复：申请姐妹图书馆 — 杭州市西湖区图书馆 and a long English tail to fold",
        text="王丽，您好！\n\nThank you — 谢谢。\n" + "long line " * 30,
        html="<p>王丽，您好！</p>",
        message_id=make_message_id("library/7:welcome", DOMAIN),
        date=T0,
        in_reply_to="<orig@client.example>",
        references=refs,
        reply_to="sisters+p7.abcd@program.example",
        origin="mailflow@program.example",
        extra_headers={"List-Id": "Sister Libraries <sisters.program.example>"},
    )
    assert raw.isascii()  # 7-bit clean: RFC 2047 headers, quoted-printable bodies
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78

    msg = parse(raw)
    assert msg["From"].addresses[0].display_name == "姐妹图书馆项目"
    assert msg["To"].addresses[0].display_name == "王丽"
    assert msg["To"].addresses[0].addr_spec == "wangli@library.example.cn"
    assert msg["Cc"].addresses[0].display_name == "Zoë Brontë"
    assert (
        msg["Subject"]
        == "回复：申请姐妹图书馆 — 杭州市西湖区图书馆 and a long English tail to fold"
    )
    assert msg["Message-ID"] == f"<{make_message_id('library/7:welcome', DOMAIN)}>"
    assert msg["In-Reply-To"] == "<orig@client.example>"
    assert msg["References"].split() == refs[-MAX_REFERENCES:]
    assert msg["Reply-To"] == "sisters+p7.abcd@program.example"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert "OOF" in msg["X-Auto-Response-Suppress"]
    assert msg["Precedence"] is None
    assert msg["X-Mailflow-Origin"] == "mailflow@program.example"
    assert msg["List-Id"] == "Sister Libraries <sisters.program.example>"
    assert msg["MIME-Version"] == "1.0"
    assert parsedate_to_datetime(msg["Date"]) == T0
    assert msg.get_content_type() == "multipart/alternative"
    plain, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert plain is not None and html is not None
    # Wire bytes are CRLF; quoted-printable decoding keeps them.
    assert (
        plain.get_content().replace("\r\n", "\n").startswith("王丽，您好！\n\nThank you — 谢谢。\n")
    )
    assert html.get_content().strip() == "<p>王丽，您好！</p>"
    assert [p.get("MIME-Version") for p in msg.iter_parts()] == [None, None]


def test_compose_plain_only_is_deterministic_and_can_look_personal() -> None:
    kw = {"html": None, "auto_submitted": False}
    raw = render("plain", ["a@library.example"], **kw)
    assert raw == render("plain", ["a@library.example"], **kw)  # a retry rebuilds the same bytes
    msg = parse(raw)
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    assert msg["Auto-Submitted"] is None and msg["X-Auto-Response-Suppress"] is None
    assert msg["X-Mailflow-Origin"] == DOMAIN  # loop detection does not depend on the flag


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("Subject", {"subject": "Hi\r\nBcc: victim@example.org"}),
        ("From", {"sender": "Evil\n <x@example.org>"}),
        ("To", {"to": ["a@example.org\r\nBcc: b@example.org"]}),
        ("Cc", {"cc": ["c@example.org\nX: y"]}),
        ("Reply-To", {"reply_to": "r@example.org\rX: y"}),
        ("In-Reply-To", {"in_reply_to": "<a@b>\r\nBcc: c@d"}),
        ("References", {"references": ["<a@b>", "<c@d>\nBcc: e@f"]}),
        ("X-Mailflow-Origin", {"origin": "o\r\n\r\nbody"}),
        ("X-Campaign", {"extra_headers": {"X-Campaign": "x\ny"}}),
    ],
)
def test_header_injection_is_refused(field: str, kwargs: dict) -> None:
    with pytest.raises(ValueError, match=f"header injection in {field}"):
        render("evil", kwargs.pop("to", ["a@example.org"]), **kwargs)


def test_encoded_words_in_library_text_are_decoded_not_copied() -> None:
    raw = render(
        "encoded",
        ["=?utf-8?q?Wang_Li?= <wangli@library.example.cn>"],
        subject="=?utf-8?b?5p2t5bee?= Public Library is on the list",
    )
    assert b"=?utf-8?b?5p2t5bee?=" not in raw and b"=?utf-8?q?Wang_Li?=" not in raw
    msg = parse(raw)
    assert msg["Subject"] == "杭州 Public Library is on the list"
    assert msg["To"].addresses[0].display_name == "Wang Li"
    # Text that only looks like an encoded word is wrapped whole, so it reads as typed.
    msg = parse(render("bogus", ["a@example.org"], subject="About =?bogus?q?x?= here"))
    assert msg["Subject"] == "About =?bogus?q?x?= here"


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("Subject", {"subject": "Hi =?utf-8?q?x=0D=0ABcc:_victim@example.org?="}),
        ("To", {"to": ["=?utf-8?b?RXZpbA0KQmNjOiB4QHk=?= <a@example.org>"]}),
    ],
)
def test_an_encoded_cr_or_lf_is_refused_too(field: str, kwargs: dict) -> None:
    with pytest.raises(ValueError, match=f"header injection in {field}"):
        render("evil", kwargs.pop("to", ["a@example.org"]), **kwargs)


def test_extra_headers_cannot_replace_our_own() -> None:
    with pytest.raises(ValueError, match="set by compose"):
        render("x", ["a@example.org"], extra_headers={"message-id": "<other@x>"})


def test_message_id_is_stable_per_key_and_distinct_across_keys() -> None:
    a = make_message_id("library/1:welcome", DOMAIN)
    assert a == make_message_id("library/1:welcome", DOMAIN)
    assert a.startswith("mailflow.") and a.endswith("@program.example")
    # Keys that sanitise alike still differ through the hash.
    assert make_message_id("library/1 welcome", DOMAIN) != make_message_id(
        "library/1<welcome", DOMAIN
    )
    assert make_message_id("library/1:welcome", "other.example") != a
    assert " " not in make_message_id("a b\tc" * 40, DOMAIN)


# -- the drainer over real SMTP ----------------------------------------------------------------


def test_drain_sends_pending_rows_in_order_once(
    db: Database, sink: SmtpSink, smtp: SmtpTransport
) -> None:
    clock = FrozenClock(T0)
    ids = add_rows(
        db, ["a@library.example"], ["b@library.example", "c@library.example"], ["d@x.example"]
    )
    report = drain(db, clock, smtp)
    assert (report.sent, report.retried, report.failed) == (3, 0, 0)

    stored = rows(db)
    assert [r.id for r in stored] == ids
    assert all(r.status == "sent" and r.sent_at == T0 and r.attempts == 1 for r in stored)
    got = sink.received
    assert [g.content for g in got] == [r.raw for r in stored]  # the exact bytes, in id order
    assert [g.rcpt_tos for g in got] == [tuple(r.recipients) for r in stored]
    assert {g.mail_from for g in got} == {PROGRAM}
    assert [parse(g.content)["Message-ID"] for g in got] == [f"<{r.message_id}>" for r in stored]
    assert sink.connections == 1  # one SMTP session for the whole batch

    assert drain(db, clock, smtp).total == 0  # nothing is sent twice
    assert len(sink.received) == 3


def test_the_senders_connections_go_back_to_the_pool_transactional(
    db: Database, sink: SmtpSink
) -> None:
    """The senders mark `sent` in autocommit (PostgreSQL: on the driver's connection); once the
    drain is done, a unit of work on a pooled connection still rolls back as a whole."""
    transport = SmtpTransport(sink.host, sink.port, timeout=5, connections=3)
    try:
        add_rows(db, *[[f"r{n}@library.example"] for n in range(9)])
        assert drain(db, FrozenClock(T0), transport, senders=3).sent == 9
    finally:
        transport.close()
    # Every connection the pool holds, at once: the senders' among them.
    pooled = [db.engine.connect() for _ in range(max(1, db.engine.pool.checkedin()))]
    try:
        for conn in pooled:
            tx = conn.begin()
            conn.execute(update(Outbox).values(status="pending"))  # on the server already
            tx.rollback()  # must take it back: no connection left in autocommit
    finally:
        for conn in pooled:
            conn.close()
    assert {r.status for r in rows(db)} == {"sent"}
    assert len(sink.received) == 9


def test_temporary_failure_retries_later_with_backoff_and_same_message_id(
    db: Database, sink: SmtpSink, smtp: SmtpTransport
) -> None:
    clock = FrozenClock(T0)
    add_rows(db, ["slow@library.example"])
    sink.fail_rcpt("slow@library.example", 451, times=2)

    assert drain(db, clock, smtp).retried == 1
    (row,) = rows(db)
    assert (row.status, row.attempts, row.next_attempt_at) == (
        "pending",
        1,
        T0 + timedelta(seconds=60),
    )
    assert "451" in (row.last_error or "")

    clock.advance(timedelta(seconds=59))
    assert drain(db, clock, smtp).total == 0  # not due yet

    clock.advance(timedelta(seconds=1))
    assert drain(db, clock, smtp).retried == 1
    (row,) = rows(db)
    assert (row.attempts, row.next_attempt_at) == (2, clock.now() + timedelta(seconds=120))

    clock.advance(timedelta(seconds=120))
    assert drain(db, clock, smtp).sent == 1
    (row,) = rows(db)
    assert (row.status, row.attempts, row.sent_at) == ("sent", 3, clock.now())
    (got,) = sink.received
    assert got.content == row.raw
    assert parse(got.content)["Message-ID"] == f"<{row.message_id}>"


def test_backoff_doubles_and_is_capped_at_six_hours() -> None:
    assert [backoff(n, 60).total_seconds() for n in (1, 2, 3, 4)] == [60, 120, 240, 480]
    assert backoff(20, 60) == timedelta(hours=6)
    assert backoff(10_000, 60) == timedelta(hours=6)


def test_permanent_failure_marks_failed_and_tells_the_caller_once(
    db: Database, sink: SmtpSink, smtp: SmtpTransport
) -> None:
    clock = FrozenClock(T0)
    add_rows(db, ["gone@library.example"], ["fine@library.example"])
    sink.fail_rcpt("gone@library.example", 550, times=99)
    calls = []

    def on_permanent_failure(session, row, exc) -> None:  # noqa: ANN001
        calls.append((row.id, exc.recipients, exc.code, exc.delivered))
        # Same transaction as the status change: written together or not at all.
        for rcpt in exc.recipients:
            session.add(Suppressed(recipient=rcpt, reason=str(exc), created_at=clock.now()))

    report = drain(db, clock, smtp, on_permanent_failure=on_permanent_failure)
    assert (report.sent, report.retried, report.failed) == (1, 0, 1)
    first, second = rows(db)
    assert (first.status, first.attempts, first.sent_at) == ("failed", 1, None)
    assert "550" in (first.last_error or "") and second.status == "sent"
    assert calls == [(first.id, ("gone@library.example",), 550, ())]
    with db.unit_of_work() as s:
        assert [x.recipient for x in s.scalars(select(Suppressed))] == ["gone@library.example"]

    clock.advance(timedelta(days=1))
    assert drain(db, clock, smtp, on_permanent_failure=on_permanent_failure).total == 0
    assert len(calls) == 1


def test_partial_delivery_never_resends_to_who_already_got_it(
    db: Database, sink: SmtpSink, smtp: SmtpTransport
) -> None:
    clock = FrozenClock(T0)
    add_rows(db, ["ok@x.example", "gone@x.example", "busy@x.example"])
    sink.fail_rcpt("gone@x.example", 550, times=99)
    sink.fail_rcpt("busy@x.example", 452, times=1)
    calls = []
    report = drain(db, clock, smtp, on_permanent_failure=lambda s, r, e: calls.append(e))
    assert report.retried == 1
    (exc,) = calls
    assert (exc.recipients, exc.delivered, exc.deferred) == (
        ("gone@x.example",),
        ("ok@x.example",),
        ("busy@x.example",),
    )
    (row,) = rows(db)
    assert (row.status, row.recipients) == ("pending", ["busy@x.example"])

    clock.advance(timedelta(minutes=1))
    assert drain(db, clock, smtp).sent == 1
    first, second = sink.received
    assert (first.rcpt_tos, second.rcpt_tos) == (("ok@x.example",), ("busy@x.example",))
    assert first.content == second.content  # same bytes, same Message-ID
    assert rows(db)[0].status == "sent"


def test_refused_for_some_but_delivered_to_others_counts_as_sent(
    db: Database, sink: SmtpSink, smtp: SmtpTransport
) -> None:
    add_rows(db, ["ok@x.example", "gone@x.example"])
    sink.fail_rcpt("gone@x.example", 550, times=99)
    calls = []
    report = drain(db, FrozenClock(T0), smtp, on_permanent_failure=lambda s, r, e: calls.append(e))
    assert report.sent == 1 and calls[0].recipients == ("gone@x.example",)
    (row,) = rows(db)
    assert row.status == "sent" and "gone@x.example" in (row.last_error or "")
    assert sink.received[0].rcpt_tos == ("ok@x.example",)


def test_server_down_keeps_mail_queued_and_sends_when_it_is_back(
    db: Database, tmp_path: Path
) -> None:
    clock = FrozenClock(T0)
    port = free_port()
    transport = SmtpTransport("127.0.0.1", port, timeout=5)
    add_rows(db, ["a@x.example"], ["b@x.example"])
    report = drain(db, clock, transport)
    # The first row finds the relay down; the rest of the batch waits without burning attempts.
    assert (report.sent, report.retried, report.failed) == (0, 1, 0)
    first, second = rows(db)
    assert (first.status, first.attempts, first.next_attempt_at) == (
        "pending",
        1,
        T0 + timedelta(minutes=1),
    )
    assert (second.status, second.attempts, second.next_attempt_at) == (
        "pending",
        0,
        T0 + timedelta(minutes=1),
    )
    assert "cannot open SMTP session" in (first.last_error or "")

    with SmtpSink(port=port) as server:
        clock.advance(timedelta(minutes=1))
        assert drain(db, clock, transport).sent == 2
        assert len(server.received) == 2
    transport.close()


def test_running_out_of_attempts_fails_the_row_and_tells_the_caller(db: Database) -> None:
    clock = FrozenClock(T0)
    transport = SmtpTransport("127.0.0.1", free_port(), timeout=5)
    add_rows(db, ["a@x.example"])
    calls = []
    for _ in range(3):
        drain(
            db,
            clock,
            transport,
            max_attempts=3,
            on_permanent_failure=lambda s, r, e: calls.append(e),
        )
        clock.advance(timedelta(hours=1))
    (row,) = rows(db)
    assert (row.status, row.attempts) == ("failed", 3)
    (exc,) = calls
    assert "gave up after 3 attempts" in str(exc) and exc.recipients == ("a@x.example",)


class _Flaky(CaptureTransport):
    """Captures, but raises something unexpected for one recipient."""

    def send(self, sender: str, recipients: Sequence[str], raw: bytes) -> None:
        if "boom@x.example" in recipients:
            raise RuntimeError("a bug in a transport")
        super().send(sender, recipients, raw)


def test_an_unexpected_error_on_one_row_does_not_stop_the_loop(db: Database) -> None:
    transport = _Flaky()
    add_rows(db, ["a@x.example"], ["boom@x.example"], ["c@x.example"])
    report = drain(db, FrozenClock(T0), transport)
    assert (report.sent, report.retried, report.failed) == (2, 1, 0)
    a, boom, c = rows(db)
    assert (a.status, c.status) == ("sent", "sent")
    assert boom.status == "pending" and "RuntimeError: a bug" in (boom.last_error or "")
    assert [to for _, to, _ in transport.sent] == [["a@x.example"], ["c@x.example"]]


class Crash(BaseException):
    """Stands in for the process dying (kill -9) right after the SMTP server said 250."""


class _SendThenCrash(CaptureTransport):
    crash = True

    def send(self, sender: str, recipients: Sequence[str], raw: bytes) -> None:
        super().send(sender, recipients, raw)
        if self.crash:
            self.crash = False
            raise Crash


def test_a_crash_after_sending_resends_the_same_bytes_after_the_lease(db: Database) -> None:
    clock = FrozenClock(T0)
    transport = _SendThenCrash()
    add_rows(db, ["a@x.example"])
    with pytest.raises(Crash):
        drain(db, clock, transport, lease_seconds=600)
    (row,) = rows(db)
    assert (row.status, row.next_attempt_at) == ("pending", T0 + timedelta(minutes=10))
    assert drain(db, clock, transport, lease_seconds=600).total == 0  # leased: not again yet

    clock.advance(timedelta(minutes=10))
    assert drain(db, clock, transport, lease_seconds=600).sent == 1
    assert len(transport.sent) == 2 and transport.sent[0] == transport.sent[1]


def test_concurrent_drainers_send_each_row_once(db: Database) -> None:
    class Slow(CaptureTransport):
        def send(self, sender: str, recipients: Sequence[str], raw: bytes) -> None:
            threading.Event().wait(0.002)  # let the other drainer run meanwhile
            super().send(sender, recipients, raw)

    add_rows(db, *[[f"r{i}@x.example"] for i in range(40)])
    transports = [Slow(), Slow(), Slow()]
    threads = [
        threading.Thread(target=drain, args=(db, FrozenClock(T0), t), kwargs={"batch_size": 5})
        for t in transports
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent = [raw for t in transports for _, _, raw in t.sent]
    assert len(sent) == len(set(sent)) == 40
    assert all(r.status == "sent" for r in rows(db))


def test_several_senders_send_each_row_once_over_their_own_sessions(
    db: Database, sink: SmtpSink
) -> None:
    transport = SmtpTransport(sink.host, sink.port, timeout=5, connections=4)
    ids = add_rows(db, *[[f"r{i}@x.example"] for i in range(60)])
    try:
        report = drain(db, FrozenClock(T0), transport, senders=4, batch_size=25)
    finally:
        transport.close()
    assert (report.sent, report.retried, report.failed) == (60, 0, 0)
    stored = rows(db)
    assert [r.id for r in stored] == ids
    assert all(r.status == "sent" and r.attempts == 1 and r.claimed_by is None for r in stored)
    got = sink.received
    # Each row once, with its own bytes; roughly, not strictly, in id order.
    assert sorted(g.content for g in got) == sorted(r.raw for r in stored)
    assert 1 < sink.connections <= 4


def test_several_senders_spend_one_attempt_when_the_relay_is_down(db: Database) -> None:
    transport = SmtpTransport("127.0.0.1", free_port(), timeout=5, connections=4)
    add_rows(db, *[[f"r{i}@x.example"] for i in range(10)])
    report = drain(db, FrozenClock(T0), transport, senders=4)
    # The first row goes alone: it finds the relay down, and the others wait untried.
    assert (report.sent, report.retried, report.failed) == (0, 1, 0)
    assert sorted(r.attempts for r in rows(db)) == [0] * 9 + [1]
    assert {r.next_attempt_at for r in rows(db)} == {T0 + timedelta(minutes=1)}


class _SendThenCrashOnThird(CaptureTransport):
    def send(self, sender: str, recipients: Sequence[str], raw: bytes) -> None:
        super().send(sender, recipients, raw)
        if len(self.sent) == 3:
            raise Crash


def test_a_crash_in_a_sender_thread_leaves_only_mail_in_flight_to_resend(db: Database) -> None:
    clock = FrozenClock(T0)
    transport = _SendThenCrashOnThird()
    add_rows(db, *[[f"r{i}@x.example"] for i in range(12)])
    with pytest.raises(Crash):
        drain(db, clock, transport, senders=3, lease_seconds=600)
    stored = rows(db)
    accepted = len(transport.sent)
    marked = [r for r in stored if r.status == "sent"]
    # Every accepted mail but those in flight (at most one per sender) was committed as sent.
    assert accepted - len(marked) <= 3
    clock.advance(timedelta(minutes=10))
    drain(db, clock, transport, lease_seconds=600)
    assert all(r.status == "sent" for r in rows(db))
    resent = len(transport.sent) - len({raw for _, _, raw in transport.sent})
    assert resent == accepted - len(marked) and resent >= 1  # the crashed one went again


# -- SmtpTransport ----------------------------------------------------------------------------


# idle check 0: the dead connection is found by NOOP; 30: by the failed MAIL FROM.
@pytest.mark.parametrize("idle_check_seconds", [0, 30])
def test_one_connection_across_sends_and_reconnect_when_it_drops(
    idle_check_seconds: float,
) -> None:
    raw = render("x", ["a@x.example"])
    server = SmtpSink().start()
    transport = SmtpTransport(
        server.host, server.port, timeout=5, idle_check_seconds=idle_check_seconds
    )
    try:
        for _ in range(5):
            transport.send(PROGRAM, ["a@x.example"], raw)
        assert server.connections == 1 and len(server.received) == 5
        server.stop()  # drops our idle connection
        server = SmtpSink(port=server.port).start()
        transport.send(PROGRAM, ["a@x.example"], raw)  # reconnects without losing the mail
        assert len(server.received) == 1
    finally:
        transport.close()
        server.stop()


def test_whole_message_refusals_map_to_temporary_and_permanent(
    sink: SmtpSink, smtp: SmtpTransport
) -> None:
    raw = render("x", ["a@x.example"])
    sink.fail_data(451, times=1)
    with pytest.raises(TemporarySendError) as temp:
        smtp.send(PROGRAM, ["a@x.example"], raw)
    assert temp.value.code == 451 and not temp.value.connection
    sink.fail_data(554, times=1)
    with pytest.raises(PermanentSendError) as perm:
        smtp.send(PROGRAM, ["a@x.example", "b@x.example"], raw)
    assert perm.value.code == 554 and perm.value.recipients == ("a@x.example", "b@x.example")
    smtp.send(PROGRAM, ["a@x.example"], raw)  # the session is still usable after RSET
    assert len(sink.received) == 1 and sink.connections == 1


@pytest.mark.parametrize(
    ("env", "greeting"),
    [
        ({}, "program.example"),  # the program address's domain, not `localhost`
        ({"MAILFLOW_SMTP_HELO_NAME": "mx1.lib.example"}, "mx1.lib.example"),
    ],
)
def test_the_relay_is_greeted_with_the_configured_name(env: dict, greeting: str) -> None:
    raw = render("x", ["a@x.example"])
    with SmtpSink() as server:
        settings = load(
            None,
            env={
                "MAILFLOW_PROGRAM_ADDRESS": PROGRAM,
                "MAILFLOW_OUTBOUND_TRANSPORT": "smtp",
                "MAILFLOW_SMTP_HOST": server.host,
                "MAILFLOW_SMTP_PORT": str(server.port),
                "MAILFLOW_SMTP_SECURITY": "none",
                **env,
            },
        )
        transport = build_transport(settings)
        try:
            transport.send(PROGRAM, ["a@x.example"], raw)
        finally:
            transport.close()
        assert [r.host_name for r in server.received] == [greeting]


def test_starttls_with_auth(tmp_path: Path) -> None:
    raw = render("x", ["a@x.example"])
    users = {"mailer": "s3cret"}
    with SmtpSink(tls="starttls", users=users, cert_dir=tmp_path) as server:
        good = SmtpTransport(
            server.host,
            server.port,
            "starttls",
            "mailer",
            "s3cret",
            cafile=server.cafile,
            timeout=5,
        )
        good.send(PROGRAM, ["a@x.example"], raw)
        good.close()
        assert server.received[0].content == raw

        wrong = SmtpTransport(
            server.host, server.port, "starttls", "mailer", "nope", cafile=server.cafile, timeout=5
        )
        with pytest.raises(TemporarySendError, match="login") as exc:
            wrong.send(PROGRAM, ["a@x.example"], raw)
        assert exc.value.connection and "nope" not in str(exc.value)

        untrusted = SmtpTransport(
            server.host, server.port, "starttls", "mailer", "s3cret", timeout=5
        )
        with pytest.raises(TemporarySendError, match="CERTIFICATE_VERIFY_FAILED"):
            untrusted.send(PROGRAM, ["a@x.example"], raw)

        plain = SmtpTransport(server.host, server.port, "none", timeout=5)
        with pytest.raises((TemporarySendError, PermanentSendError)):
            plain.send(PROGRAM, ["a@x.example"], raw)  # the server insists on STARTTLS
        plain.close()
        assert len(server.received) == 1


# The sink turns aiosmtpd's auth_require_tls off on its implicit-TLS port, which it warns about.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_implicit_tls_with_auth(tmp_path: Path) -> None:
    raw = render("x", ["a@x.example"])
    with SmtpSink(tls="tls", users={"mailer": "s3cret"}, cert_dir=tmp_path) as server:
        transport = SmtpTransport(
            server.host, server.port, "tls", "mailer", "s3cret", cafile=server.cafile, timeout=5
        )
        transport.send(PROGRAM, ["a@x.example"], raw)
        transport.send(PROGRAM, ["b@x.example"], raw)
        transport.close()
        assert [r.rcpt_tos for r in server.received] == [("a@x.example",), ("b@x.example",)]
        assert server.connections == 1


# -- development transports -------------------------------------------------------------------


def test_maildir_transport_writes_a_file_a_mail_client_can_open(tmp_path: Path) -> None:
    raw = render("m", ["王丽 <wangli@library.example.cn>"], html="<p>hi</p>", subject="你好")
    transport = MaildirTransport(tmp_path / "Maildir")
    transport.send(PROGRAM, ["wangli@library.example.cn"], raw)
    transport.close()

    (path,) = (tmp_path / "Maildir" / "new").iterdir()
    assert not list((tmp_path / "Maildir" / "tmp").iterdir())
    msg = parse(path.read_bytes())
    assert msg["Subject"] == "你好" and msg["X-Envelope-To"] == "wangli@library.example.cn"
    assert msg["Message-ID"] == f"<{make_message_id('m', DOMAIN)}>"
    assert msg.get_body(("html",)).get_content().strip() == "<p>hi</p>"
    (stored,) = list(mailbox.Maildir(tmp_path / "Maildir", factory=None))
    assert stored["Return-Path"] == f"<{PROGRAM}>"


def test_capture_transport_refuses_a_broken_envelope() -> None:
    transport = CaptureTransport()
    with pytest.raises(PermanentSendError):
        transport.send(PROGRAM, ["a@x.example\r\nRCPT TO:<b@x.example>"], b"x")
    with pytest.raises(PermanentSendError):
        transport.send(PROGRAM, [], b"x")
    assert transport.sent == []
