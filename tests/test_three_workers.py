"""Issue 11: three `mailflow run` workers on one PostgreSQL, one of them SIGKILLed again and again.

Three real worker processes share one fresh PostgreSQL schema, one Dovecot mailbox (exactly one
of them polls it: the advisory lock) and an aiosmtpd sink as their relay; each also runs the
SMTP endpoint on its own port. About 150 messages arrive, half through Dovecot (IMAP APPEND and
LMTP), half over SMTP to a random worker (as an MTA balancing between them would, retrying on
another when one is down): applications (acknowledged by mail), strangers' questions (answered),
staff `pair` commands (auto-approved: offers go out) and the libraries' replies to those offers
(accept, decline: transitions). Timers fire too: the offers' reminder and lapse timers are made
due. Meanwhile a killer SIGKILLs a random worker (the IMAP poller at least once) several times
and starts it again.

Afterwards: every message stored once and processed once, every IMAP message moved out of
INBOX, every due timer fired exactly once, every outbox row sent, and the sink saw each outbox
Message-ID once, except at most the mails in flight when a kill came: one per sender thread
(`outbox.senders`, set to SENDERS here), so at most SENDERS per kill.

`mailflow run` keeps the real time (`--now` is for `--once`), so "a week passes" is written into
the rows that wait for time: the due time of the chosen timers, and the send time of mail held
for a library's working hours (weekends). Short leases keep the whole run near a minute.
"""

from __future__ import annotations

import asyncio
import email
import os
import random
import re
import signal
import smtplib
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select, update

from mailflow.demo.world import free_port
from mailflow.store.db import Database
from mailflow.store.schema import (
    Contact,
    DeadLetter,
    History,
    InboxMessage,
    Library,
    MessageFacts,
    Outbox,
    Partnership,
    Timer,
)
from tests.helpers import PROGRAM, SECRET, STAFF, TRUSTED_MX, application, mail
from tests.program import Sent, reply
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.smtp_sink import SmtpSink

pytestmark = [pytest.mark.postgres, pytest.mark.dovecot]

WORKERS = 3
KILLS = 6
SENDERS = 4  # outbox.senders: mails each worker has in flight at once
PAIRS = 20
EXTRA_APPLICATIONS = 30
STRANGERS = 30  # before the offers, and as many again while the replies come in
BOTH_ACCEPT = range(0, 6)  # -> trial
ONE_ACCEPTS = range(6, 11)  # the reminder timer fires -> a reminder to the silent side
SILENT = range(11, 16)  # the lapse timer fires -> lapsed
ONE_DECLINES = range(16, 20)  # -> declined
DEADLINE = 120.0  # seconds for any one phase; a loaded 2-core machine needs far less
POLLS = re.compile(r":(\d+) polls ")


def en_address(i: int) -> str:
    return f"maria{100 + i}@biblioteca.example.es"


def zh_address(i: int) -> str:
    return f"wangli{200 + i}@library.example.cn"


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    """A fresh schema of its own on the session's PostgreSQL database."""
    schema = "k_" + uuid.uuid4().hex[:12]
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield f"{postgres_url}?options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


class Worker:
    """One `mailflow run` process; its stderr is read for "<host:pid> polls <mailbox>"."""

    def __init__(self, env: dict[str, str], port: int, cwd: Path) -> None:
        self.port = port
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mailflow", "run"],
            cwd=cwd,
            env={**env, "MAILFLOW_INBOUND_PORT": str(port)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.polling = False
        self.tail: deque[str] = deque(maxlen=30)
        threading.Thread(target=self._read, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.tail.append(line.rstrip())
            found = POLLS.search(line)
            if found and int(found.group(1)) == self.pid:
                self.polling = True

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        assert self.proc.returncode == -signal.SIGKILL


class Cluster:
    """The workers, a killer that SIGKILLs and restarts them, and the ways mail reaches them."""

    def __init__(self, env: dict[str, str], cwd: Path, seed: int, db: Database) -> None:
        self.env, self.cwd, self.db = env, cwd, db
        self.lock = threading.Lock()
        self.workers = [Worker(env, free_port(), cwd) for _ in range(WORKERS)]
        self.random = random.Random(seed)
        self.kills: list[str] = []  # what each kill hit
        self.failovers: list[tuple[int, int]] = []  # (killed poller pid, pid that took over)
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._killer = threading.Thread(target=self._kill_loop, name="killer", daemon=True)

    # -- the killer ---------------------------------------------------------------------------
    def start_killing(self) -> None:
        self._killer.start()

    def _kill_loop(self) -> None:
        # Random moments, and moments that matter: the poller once at least (not last: its
        # failover is checked), and a worker while it holds claims (mid-batch, mid-send).
        # The inbox first: messages are claimed only while mail is still coming in.
        rest = ["poller", "outbox"] + ["random"] * (KILLS - 3)
        self.random.shuffle(rest)
        if rest[-1] == "poller":
            rest[0], rest[-1] = rest[-1], rest[0]
        plan = ["inbox", *rest]
        try:
            for how in plan:
                if self._stop.wait(self.random.uniform(1.5, 4.0)):
                    return
                self._kill_one(how)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(f"killer: {type(exc).__name__}: {exc}")

    def _kill_one(self, how: str) -> None:
        victim = None
        if how == "poller":
            victim = self._wait_for(lambda w: w.polling, DEADLINE)
            assert victim is not None, "no worker polls the mailbox"
        elif how in ("inbox", "outbox"):
            side = 0 if how == "inbox" else 1
            victim = self._wait_for(lambda w: self._claims(w.pid)[side] > 0, 15)
        if victim is None:
            with self.lock:
                victim = self.random.choice(self.workers)
        with self.lock:
            self.workers.remove(victim)
        was_polling = victim.polling
        inbox, outbox = self._claims(victim.pid)
        victim.kill()
        who = "the IMAP poller" if was_polling else "a worker"
        self.kills.append(f"{who} holding {inbox} inbox and {outbox} outbox claims")
        if was_polling:
            # Failover: another (running) worker takes the mailbox before the victim returns.
            heir = self._wait_for(lambda w: w.polling, 60)
            if heir is None:
                self.errors.append(
                    f"no worker took over the IMAP mailbox after killing {victim.pid}"
                )
            else:
                self.failovers.append((victim.pid, heir.pid))
        with self.lock:
            self.workers.append(Worker(self.env, victim.port, self.cwd))

    def _wait_for(self, which: Callable[[Worker], bool], timeout: float) -> Worker | None:
        """The first running worker for which `which` is true, or None after `timeout`."""
        end = time.monotonic() + timeout
        while time.monotonic() < end and not self._stop.is_set():
            with self.lock:
                workers = list(self.workers)
            for w in workers:
                if which(w):
                    return w
            time.sleep(0.05)
        return None

    def _claims(self, pid: int) -> tuple[int, int]:
        """The inbox and outbox rows the worker has claimed (read just before a kill)."""
        mine = f"%:{pid}"
        with self.db.unit_of_work() as s:
            inbox = s.scalar(
                select(func.count())
                .select_from(InboxMessage)
                .where(InboxMessage.status == "new", InboxMessage.claimed_by.like(mine))
            )
            outbox = s.scalar(
                select(func.count())
                .select_from(Outbox)
                .where(Outbox.status == "pending", Outbox.claimed_by.like(mine))
            )
        return int(inbox or 0), int(outbox or 0)

    def finish_killing(self) -> None:
        self._killer.join(timeout=DEADLINE)
        assert not self._killer.is_alive(), "the killer did not finish"
        assert not self.errors, self.errors

    def stop(self) -> None:
        self._stop.set()
        self._killer.join(timeout=30) if self._killer.is_alive() else None
        with self.lock:
            for w in self.workers:
                if w.proc.poll() is None:
                    w.kill()

    def tails(self) -> str:
        with self.lock:
            return "\n".join(f"-- worker {w.pid}:\n" + "\n".join(w.tail) for w in self.workers)

    # -- mail in ----------------------------------------------------------------------------------
    def send(self, raw: bytes, sender: str) -> None:
        """Over SMTP to a random worker; on a dead or dying one, to another (as an MTA would)."""
        end = time.monotonic() + DEADLINE
        while True:
            with self.lock:
                port = self.random.choice(self.workers).port
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=15, local_hostname="localhost") as s:
                    s.sendmail(sender, [PROGRAM], raw)
                return
            except (OSError, smtplib.SMTPException):
                if time.monotonic() > end:
                    raise
                time.sleep(0.2)


class Run:
    """The test's view: feed mail, wait on the database, read the sink."""

    def __init__(
        self, cluster: Cluster, db: Database, dovecot: Dovecot, user: MailUser, sink: SmtpSink
    ) -> None:
        self.cluster, self.db, self.dovecot, self.user, self.sink = (
            cluster, db, dovecot, user, sink,
        )  # fmt: skip
        self.messages = 0
        self.through_imap = 0
        self._turn = 0

    def feed(self, raw: bytes, sender: str) -> None:
        """Round robin: IMAP APPEND, SMTP endpoint, LMTP into Dovecot, SMTP endpoint."""
        way = self._turn % 4
        self._turn += 1
        self.messages += 1
        if way == 0:
            self.dovecot.append(self.user.address, "INBOX", raw)
            self.through_imap += 1
        elif way == 2:
            self.dovecot.deliver_lmtp(self.user.address, raw, sender=sender)
            self.through_imap += 1
        else:
            self.cluster.send(raw, sender)

    def scalar(self, query: sa.Select) -> int:
        with self.db.unit_of_work() as s:
            return int(s.scalar(query) or 0)

    def wait(self, what: str, check: Callable[[], bool]) -> None:
        end = time.monotonic() + DEADLINE
        while not check():
            if self.cluster.errors:
                pytest.fail(f"while waiting for {what}: {self.cluster.errors}")
            if time.monotonic() > end:
                pytest.fail(f"timed out after {DEADLINE:.0f} s waiting for {what}\n"
                            f"{self.summary()}\n{self.cluster.tails()}")  # fmt: skip
            time.sleep(0.3)

    def summary(self) -> str:
        """What the database holds, for a timeout's message."""
        with self.db.unit_of_work() as s:
            inbox = Counter(s.scalars(select(InboxMessage.status)))
            outbox = Counter(s.execute(select(Outbox.template, Outbox.status)).all())
            partnerships = Counter(s.scalars(select(Partnership.state)))
            timers = Counter(s.execute(select(Timer.name, Timer.status)).all())
        return (f"{self.messages} fed; inbox {dict(inbox)}; outbox {dict(outbox)}; "
                f"partnerships {dict(partnerships)}; timers {dict(timers)}")  # fmt: skip

    def processed(self) -> bool:
        count = select(func.count()).select_from(InboxMessage)
        done = count.where(InboxMessage.status != "new")
        return self.scalar(count) == self.messages and self.scalar(done) == self.messages

    def sunk(self, template: str, address: str) -> Sent:
        """The one mail of `template` sent to `address`, as the relay received it."""
        with self.db.unit_of_work() as s:
            ids = [
                row.message_id.strip("<>")
                for row in s.scalars(select(Outbox).where(Outbox.template == template))
                if address in row.recipients
            ]
        assert len(ids) == 1, (template, address, ids)
        for r in self.sink.received:
            msg = email.message_from_bytes(r.content, policy=default)
            if str(msg["Message-ID"]).strip().strip("<>") == ids[0]:
                return Sent(r.rcpt_tos, msg)
        raise LookupError(f"the relay has no {template} for {address}")

    def out(self, template: str, count: int) -> bool:
        """`count` mails of `template` sent, and the relay has them all."""
        with self.db.unit_of_work() as s:
            ids = {
                o.message_id.strip("<>")
                for o in s.scalars(
                    select(Outbox).where(Outbox.template == template, Outbox.status == "sent")
                )
            }
        got = {
            str(email.message_from_bytes(r.content)["Message-ID"]).strip().strip("<>")
            for r in list(self.sink.received)
        }
        return len(ids) == count and ids <= got

    def offers_out(self) -> bool:
        sent = (
            select(func.count())
            .select_from(Outbox)
            .where(Outbox.template == "library-offer", Outbox.status == "sent")
        )
        return self.scalar(sent) == 2 * PAIRS


def slow_sink(delay: float) -> SmtpSink:
    """The relay takes a while per mail, as a real one does: mail is in flight when kills come."""
    sink = SmtpSink().start()
    handle = sink.handler.handle_DATA

    async def slowly(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(delay)
        return await handle(*args, **kwargs)

    sink.handler.handle_DATA = slowly  # type: ignore[method-assign]
    return sink


def environment(url: str, server: Dovecot, user: MailUser, sink: SmtpSink) -> dict[str, str]:
    return {
        **os.environ,
        "MAILFLOW_DATABASE_URL": url,
        "MAILFLOW_PROGRAM_SECRET": SECRET,
        "MAILFLOW_PROGRAM_ADDRESS": PROGRAM,
        "MAILFLOW_PROGRAM_STAFF": STAFF,
        "MAILFLOW_STAFF_TRUSTED_AUTHSERV_IDS": TRUSTED_MX,
        "MAILFLOW_PROGRAM_AUTO_APPROVE_SCORE": "0",  # a staff `pair` offers at once
        "MAILFLOW_MATCHING_WEEKLY": "",  # only the test's pairs
        "MAILFLOW_LIMITS_HOLD_AFTER_MESSAGES": "50",  # one coordinator pairs 20 in a minute
        "MAILFLOW_INBOUND_LISTEN": "smtp",
        "MAILFLOW_IMAP_HOST": server.host,
        "MAILFLOW_IMAP_PORT": str(server.imap_port),
        "MAILFLOW_IMAP_USER": user.address,
        "MAILFLOW_IMAP_PASSWORD": user.password,
        "MAILFLOW_IMAP_SECURITY": "none",
        "MAILFLOW_IMAP_BATCH_SIZE": "10",
        "MAILFLOW_OUTBOUND_TRANSPORT": "smtp",
        "MAILFLOW_SMTP_HOST": sink.host,
        "MAILFLOW_SMTP_PORT": str(sink.port),
        "MAILFLOW_SMTP_SECURITY": "none",
        "MAILFLOW_OUTBOX_SENDERS": str(SENDERS),
        "MAILFLOW_SCHEDULE_WORKING_HOURS": "00:00-23:59",
        # Short leases and ticks: a killed worker's claims return within seconds.
        "MAILFLOW_WORKERS_LEASE_SECONDS": "5",
        "MAILFLOW_PROCESSING_LEASE_SECONDS": "5",
        "MAILFLOW_WORKERS_POLLER_RETRY_SECONDS": "1",
        "MAILFLOW_PROCESSING_TICK_SECONDS": "1",
        "MAILFLOW_PROCESSING_BATCH_SIZE": "10",
        "MAILFLOW_LOG_LEVEL": "INFO",  # the "polls" line names the poller
    }


def test_three_workers_one_killed_again_and_again_process_and_send_everything_once(
    pg_url: str, dovecot: Dovecot, dovecot_user: MailUser, tmp_path: Path
) -> None:
    db = Database(pg_url)
    db.upgrade()  # so that no kill lands inside the migration
    sink = slow_sink(0.05)
    seed = random.randrange(1 << 30)
    cluster = Cluster(environment(pg_url, dovecot, dovecot_user, sink), tmp_path, seed, db)
    run = Run(cluster, db, dovecot, dovecot_user, sink)
    started = time.monotonic()
    try:
        cluster.start_killing()
        drive(run)
        cluster.finish_killing()
        settle(run)
        check(run)
    finally:
        cluster.stop()
        sink.stop()
        db.dispose()
    print(
        f"seed {seed}: {run.messages} messages ({run.through_imap} through Dovecot), "
        f"{len(cluster.kills)} kills ({'; '.join(cluster.kills)}), IMAP failovers "
        f"{cluster.failovers}, {time.monotonic() - started:.1f} s"
    )


def drive(run: Run) -> None:
    # 1. Applications (each acknowledged by mail) and strangers' questions (each answered).
    for i in range(PAIRS):
        run.feed(application(100 + i), en_address(i))
        run.feed(application(200 + i, lang="zh"), zh_address(i))
    for n in range(EXTRA_APPLICATIONS):
        run.feed(application(300 + n), f"maria{300 + n}@biblioteca.example.es")
    for n in range(STRANGERS):
        run.feed(mail(sender=f"reader{n}@town.example", subject=f"question {n}",
                      body="What are your opening hours?"), f"reader{n}@town.example")  # fmt: skip
    run.wait("the applications", run.processed)

    # 1b. Each applicant answers the confirmation mail (only then is a library acted on).
    applicants = [a for i in range(PAIRS) for a in (en_address(i), zh_address(i))]
    applicants += [f"maria{300 + n}@biblioteca.example.es" for n in range(EXTRA_APPLICATIONS)]
    run.wait(
        "the confirmation mails to reach the relay",
        lambda: run.out("library-confirm-address", len(applicants)),
    )
    for address in applicants:
        ask = run.sunk("library-confirm-address", address)
        run.feed(reply(ask, address, "Yes, I confirm."), address)
    run.wait("the confirmations", run.processed)

    # 2. Staff pair them (auto-approved: each library gets an offer).
    for i in range(PAIRS):
        command = f"pair {en_address(i)} with {zh_address(i)}"
        run.feed(mail(sender=STAFF, subject=f"pair {i}", body=command), STAFF)
    run.wait("the staff commands", run.processed)
    run.wait("the offers to reach the relay", run.offers_out)

    # 3. A week, then three, pass for the offers nobody (or only one side) answers.
    make_due(run)

    # 4. The libraries answer (transitions), while more strangers write.
    for i in range(PAIRS):
        en = run.sunk("library-offer", en_address(i))
        zh = run.sunk("library-offer", zh_address(i))
        if i in BOTH_ACCEPT or i in ONE_ACCEPTS:
            run.feed(reply(en, en_address(i), "Yes, we would love an introduction!"), en_address(i))
        if i in BOTH_ACCEPT:
            run.feed(reply(zh, zh_address(i), "好的，我们同意。", client="qq"), zh_address(i))
        if i in ONE_DECLINES:
            run.feed(reply(zh, zh_address(i), "不用了，谢谢。", client="qq"), zh_address(i))
        run.feed(mail(sender=f"reader{STRANGERS + i}@town.example", subject=f"question {i}",
                      body="Do you have a children's corner?"),
                 f"reader{STRANGERS + i}@town.example")  # fmt: skip
    run.wait("the replies", run.processed)


def pair_ids(run: Run) -> dict[int, Partnership]:
    """Pair number -> its partnership (found by the English side's contact)."""
    with run.db.unit_of_work() as s:
        found = {}
        for i in range(PAIRS):
            contact = s.scalar(select(Contact).where(Contact.email == en_address(i)))
            assert contact is not None, en_address(i)
            found[i] = s.scalar(
                select(Partnership).where(
                    sa.or_(
                        Partnership.library_a_id == contact.library_id,
                        Partnership.library_b_id == contact.library_id,
                    )
                )
            )
            assert found[i] is not None, f"no partnership for pair {i}"
        return found


def make_due(run: Run) -> None:
    """The chosen timers of the offered partnerships: due now (the week passed)."""
    pairs = pair_ids(run)
    chosen = [(i, "offer-reminder") for i in ONE_ACCEPTS] + [(i, "offer-lapse") for i in SILENT]
    now = datetime.now(UTC) - timedelta(seconds=1)
    ids = []
    with run.db.unit_of_work() as s:
        for i, name in chosen:
            timer = s.scalar(
                select(Timer).where(
                    Timer.record_type == "partnership",
                    Timer.record_id == pairs[i].id,
                    Timer.name == name,
                    Timer.status == "pending",
                )
            )
            assert timer is not None, f"pair {i} has no pending {name}"
            timer.due_at = now
            ids.append(timer.id)
    run.due_timers = ids  # type: ignore[attr-defined]


def settle(run: Run) -> None:
    """Wait for the timers, let held mail (working hours: weekends) go, wait for the relay."""
    ids = run.due_timers  # type: ignore[attr-defined]
    fired = (
        select(func.count()).select_from(Timer).where(Timer.id.in_(ids), Timer.status != "pending")
    )
    run.wait("the due timers to fire", lambda: run.scalar(fired) == len(ids))
    run.wait("the mail the timers' turns and the replies left", run.processed)
    with run.db.unit_of_work() as s:
        # Mail held for working hours (a weekend): those hours came. Only unclaimed rows.
        s.execute(
            update(Outbox)
            .where(
                Outbox.status == "pending",
                Outbox.claimed_by.is_(None),
                Outbox.next_attempt_at > datetime.now(UTC),
            )
            .values(next_attempt_at=datetime.now(UTC))
        )
    pending = select(func.count()).select_from(Outbox).where(Outbox.status != "sent")
    run.wait("every outbox row sent", lambda: run.scalar(pending) == 0)


def check(run: Run) -> None:
    db, cluster = run.db, run.cluster
    with db.unit_of_work() as s:
        # -- every message stored once, processed once ---------------------------------------
        rows = list(s.scalars(select(InboxMessage)))
        assert len(rows) == run.messages
        # A message whose attempts the kills used up is quarantined with its reason (the issue
        # allows it; it is never lost, nor left waiting). Reported, so a rise shows.
        quarantined = [(r.id, r.attempts, r.error) for r in rows if r.status == "quarantined"]
        print(f"quarantined: {quarantined}")
        assert {r.status for r in rows} <= {"done", "quarantined"}
        assert all(error for _id, _attempts, error in quarantined)
        assert len(quarantined) <= len(cluster.kills)
        done = {r.id for r in rows if r.status == "done"}
        assert len({r.message_id for r in rows}) == run.messages
        facts = Counter(s.scalars(select(MessageFacts.inbox_id)))
        assert done <= set(facts) and set(facts.values()) == {1}
        assert list(s.scalars(select(DeadLetter.reason))) == []
        n_applications = 2 * PAIRS + EXTRA_APPLICATIONS
        assert s.scalar(select(func.count()).select_from(Library)) == n_applications
        assert s.scalar(select(func.count()).select_from(Contact)) == n_applications
        # A message's turn happened once: no record saw one message's event twice, and no
        # message caused the same mail to the same people twice.
        turns = Counter(
            s.execute(
                select(
                    History.inbox_id, History.record_type, History.record_id, History.event
                ).where(History.inbox_id.is_not(None))
            ).all()
        )
        assert [t for t, n in turns.items() if n > 1] == []
        letters = Counter(
            (o.inbox_id, o.template, tuple(o.recipients))
            for o in s.scalars(select(Outbox).where(Outbox.inbox_id.is_not(None)))
        )
        assert [t for t, n in letters.items() if n > 1] == []
        templates = Counter(s.scalars(select(Outbox.template)))

        # -- the transitions the replies and timers fired ----------------------------------------
        pairs = pair_ids(run)
        states = {i: s.get(Partnership, p.id).state for i, p in pairs.items()}
        assert {states[i] for i in BOTH_ACCEPT} == {"trial"}
        assert {states[i] for i in ONE_ACCEPTS} == {"offered"}
        assert {states[i] for i in SILENT} == {"lapsed"}
        assert {states[i] for i in ONE_DECLINES} == {"declined"}
        for i in ONE_ACCEPTS:
            accepted = s.get(Partnership, pairs[i].id).data.get("accepted", [])
            assert len(accepted) == len(set(accepted)) == 1

        # -- every due timer fired exactly once ----------------------------------------------
        ids = run.due_timers  # type: ignore[attr-defined]
        timers = {t.id: t for t in s.scalars(select(Timer).where(Timer.id.in_(ids)))}
        assert {t.status for t in timers.values()} == {"fired"}
        fired_events = Counter(
            s.execute(select(History.timer_id, History.event).where(History.timer_id.in_(ids)))
        )
        assert {tid: fired_events[(tid, t.name)] for tid, t in timers.items()} == {
            tid: 1 for tid in ids
        }
        still_due = (
            select(func.count())
            .select_from(Timer)
            .where(Timer.status == "pending", Timer.due_at <= datetime.now(UTC))
        )
        assert s.scalar(still_due) == 0
        # One reminder per side it went to: the silent side, or both when the timer came
        # before the yes (the replies and timers race on purpose).
        reminders = Counter(
            (o.record_id, tuple(o.recipients))
            for o in s.scalars(select(Outbox).where(Outbox.template == "library-offer-reminder"))
        )
        assert set(reminders.values()) == {1}
        assert {rid for rid, _to in reminders} == {pairs[i].id for i in ONE_ACCEPTS}
        assert templates["library-offer-lapsed"] == 2 * len(SILENT)  # both sides were silent

        # -- every outbox row sent; the relay saw each once (a kill may resend those in flight)
        outbox = list(s.scalars(select(Outbox)))
    assert {o.status for o in outbox} == {"sent"}
    seen = Counter(
        str(email.message_from_bytes(r.content)["Message-ID"]).strip().strip("<>")
        for r in run.sink.received
    )
    ids_sent = {o.message_id.strip("<>") for o in outbox}
    assert len(ids_sent) == len(outbox)
    assert [i for i in ids_sent if seen[i] == 0] == []
    assert set(seen) == ids_sent  # nothing the outbox does not know
    resent = sum(n - 1 for n in seen.values())
    print(f"{len(outbox)} mails sent; the relay saw {resent} of them twice")
    assert resent <= len(cluster.kills) * SENDERS  # at most one in flight per sender

    # -- every IMAP message moved out of INBOX ------------------------------------------------
    assert run.dovecot.uids(run.user.address, "INBOX") == []
    assert len(run.dovecot.uids(run.user.address, "Processed")) == run.through_imap
    assert len(cluster.kills) == KILLS
    assert any(k.startswith("the IMAP poller") for k in cluster.kills)
    assert cluster.failovers and all(heir != dead for dead, heir in cluster.failovers)
