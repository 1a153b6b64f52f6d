"""Failover with several workers on one PostgreSQL: how long until another worker carries on.

Three `mailflow run` workers share one fresh PostgreSQL database, a private Dovecot mailbox and
an aiosmtpd sink (slowed to 100 ms a mail, so a batch of claimed mail takes a while to send).
`--messages` applications arrive over IMAP; each is acknowledged by mail. Then:

1. the worker polling IMAP (it logs "<host:pid> polls <mailbox>") is SIGKILLed and a new mail
   is appended at once: time until another worker has processed it (target < 10 s);
2. a worker holding outbox claims (`outbox.claimed_by`) is SIGKILLed: time until every mail it
   had claimed is sent by the others (target < 60 s);
3. at the end, every message processed exactly once and the sink's count of each outbox
   Message-ID (a mail in flight at the kill may reach the relay twice, with the same id).

Prints figures and PASS/FAIL words; never asserts on timings. Needs PostgreSQL on 127.0.0.1
(trust auth) and Dovecot. Usage: python bench/failover.py [--messages 2000] [--workers 3]
"""

from __future__ import annotations

import argparse
import asyncio
import email
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

from common import PASSWORD, SECRET, USER, dovecot, login, shm_dir
from sqlalchemy import create_engine, func, select, text

from mailflow.store.db import Database
from mailflow.store.schema import InboxMessage, MessageFacts, Outbox
from tests.helpers import PROGRAM, application, mail
from tests.servers.smtp_sink import SmtpSink

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1/postgres"
POLLS = re.compile(r"(\S+):(\d+) polls ")


class Worker:
    def __init__(self, n: int, env: dict[str, str], cwd: Path) -> None:
        self.n = n
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mailflow", "run"],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.polling_since: float | None = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            found = POLLS.search(line)
            if found and int(found.group(2)) == self.proc.pid:
                self.polling_since = time.monotonic()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)


def slow_sink(delay: float) -> SmtpSink:
    sink = SmtpSink(keep=True).start()
    handle = sink.handler.handle_DATA

    async def slowly(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - aiosmtpd's hook
        await asyncio.sleep(delay)
        return await handle(*args, **kwargs)

    sink.handler.handle_DATA = slowly  # type: ignore[method-assign]
    return sink


def wait_for(check, timeout: float, step: float = 0.05) -> float | None:  # noqa: ANN001
    """Seconds until check() is true, or None after timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(step)
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()

    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"mailflow_failover_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+psycopg://postgres@127.0.0.1/{name}"
    workers: list[Worker] = []
    sink = slow_sink(0.1)
    tmp = shm_dir("failover")
    try:
        with dovecot() as server:
            db = Database(url)
            db.upgrade()
            env = {
                **os.environ,
                "MAILFLOW_DATABASE_URL": url,
                "MAILFLOW_PROGRAM_SECRET": SECRET,
                "MAILFLOW_PROGRAM_ADDRESS": PROGRAM,
                "MAILFLOW_INBOUND_LISTEN": "off",
                "MAILFLOW_IMAP_HOST": server.host,
                "MAILFLOW_IMAP_PORT": str(server.imap_port),
                "MAILFLOW_IMAP_USER": USER,
                "MAILFLOW_IMAP_PASSWORD": PASSWORD,
                "MAILFLOW_IMAP_SECURITY": "none",
                "MAILFLOW_OUTBOUND_TRANSPORT": "smtp",
                "MAILFLOW_SMTP_HOST": sink.host,
                "MAILFLOW_SMTP_PORT": str(sink.port),
                "MAILFLOW_SMTP_SECURITY": "none",
                "MAILFLOW_SCHEDULE_WORKING_HOURS": "00:00-23:59",
                "MAILFLOW_LOG_LEVEL": "INFO",
            }
            print(f"{os.cpu_count()} cores; {args.workers} workers; {args.messages} messages")
            with login(server) as client:
                for n in range(args.messages):
                    client.append("INBOX", application(1000 + n))
            workers = [Worker(n, env, tmp) for n in range(args.workers)]
            started = time.monotonic()

            def processed() -> int:
                with db.unit_of_work() as s:
                    return (
                        s.scalar(
                            select(func.count())
                            .select_from(InboxMessage)
                            .where(InboxMessage.status != "new")
                        )
                        or 0
                    )

            # -- 2 first (while the acknowledgements are being sent): a worker with claims --------
            holder_claims: list[int] = []
            holder: Worker | None = None

            def someone_holds_claims() -> bool:
                nonlocal holder
                with db.unit_of_work() as s:
                    rows = s.execute(
                        select(Outbox.id, Outbox.claimed_by).where(
                            Outbox.status == "pending", Outbox.claimed_by.is_not(None)
                        )
                    ).all()
                by_pid: dict[int, list[int]] = {}
                for row_id, owner in rows:
                    by_pid.setdefault(int(owner.rsplit(":", 1)[1]), []).append(row_id)
                for w in workers:
                    if w.polling_since is None and len(by_pid.get(w.proc.pid, [])) >= 5:
                        holder = w
                        holder_claims.extend(by_pid[w.proc.pid])
                        return True
                return False

            wait_for(someone_holds_claims, 300)
            if holder is None:
                print("outbox failover: no worker was seen holding claims; not measured")
            else:
                holder.kill()
                killed = time.monotonic()
                workers.remove(holder)

                def claims_sent() -> bool:
                    with db.unit_of_work() as s:
                        return not s.scalar(
                            select(func.count())
                            .select_from(Outbox)
                            .where(Outbox.id.in_(holder_claims), Outbox.status != "sent")
                        )

                took = wait_for(claims_sent, 180)
                took = None if took is None else time.monotonic() - killed
                verdict = "PASS" if took is not None and took < 60 else "FAIL"
                print(
                    f"outbox failover: killed a worker holding {len(holder_claims)} claimed mails;"
                    f" all sent by the others after {took if took is None else f'{took:.1f}'} s"
                    f" (target < 60 s) {verdict}"
                )
                workers.append(Worker(99, env, tmp))  # back to full strength

            wait_for(lambda: processed() >= args.messages, 900, step=0.5)
            print(
                f"{args.messages} messages processed by {args.workers} workers in "
                f"{time.monotonic() - started:.1f} s (with one kill)"
            )

            # -- 1: the IMAP poller ----------------------------------------------------------------
            for _round in range(3):
                wait_for(lambda: any(w.polling_since for w in workers), 30)
                poller = next((w for w in workers if w.polling_since), None)
                if poller is None:
                    print("IMAP failover: no worker says it polls; not measured")
                    break
                subject = f"after the kill {uuid.uuid4().hex[:8]}"
                poller.kill()
                killed = time.monotonic()
                workers.remove(poller)
                with login(server) as client:
                    client.append("INBOX", mail(sender="late@town.example", subject=subject))

                def handled(subject: str = subject) -> bool:
                    with db.unit_of_work() as s:
                        return (
                            s.scalar(select(MessageFacts.id).where(MessageFacts.subject == subject))
                            is not None
                        )

                took = wait_for(handled, 60)
                took = None if took is None else time.monotonic() - killed
                verdict = "PASS" if took is not None and took < 10 else "FAIL"
                print(
                    f"IMAP failover: poller killed; the next message processed by another worker "
                    f"after {took if took is None else f'{took:.1f}'} s (target < 10 s) {verdict}"
                )
                workers.append(Worker(100 + _round, env, tmp))

            # -- 3: exactly once -----------------------------------------------------------------
            def drained() -> bool:
                with db.unit_of_work() as s:
                    return not s.scalar(
                        select(func.count()).select_from(Outbox).where(Outbox.status == "pending")
                    )

            wait_for(drained, 300, step=0.5)
            time.sleep(1)
            with db.unit_of_work() as s:
                stored = s.scalar(select(func.count()).select_from(InboxMessage))
                facts = s.scalar(select(func.count()).select_from(MessageFacts))
                sent = s.scalars(select(Outbox.message_id).where(Outbox.status == "sent"))
                ids = {i.strip("<>") for i in sent}
            seen = Counter(
                str(email.message_from_bytes(r.content)["Message-ID"]).strip().strip("<>")
                for r in sink.received
            )
            twice = {i: c for i, c in seen.items() if c > 1}
            missing = [i for i in ids if seen.get(i, 0) == 0]
            print(
                f"stored {stored}, processed (facts) {facts}; outbox sent {len(ids)}, relay saw "
                f"{sum(seen.values())} mails: {len(twice)} Message-ID(s) twice (the mail in flight"
                f" at a kill), {len(missing)} missing"
            )
            db.dispose()
    finally:
        for w in workers:
            w.kill()
        sink.stop()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
