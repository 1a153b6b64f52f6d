"""Kill mailflow with SIGKILL at arbitrary moments: every message is stored and acted on once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from mailflow.store.db import Database
from mailflow.store.schema import Contact, InboxMessage, Library, MessageFacts
from tests.helpers import PROGRAM, SECRET, application, mail
from tests.servers.dovecot import Dovecot, MailUser

N_APPLICATIONS = 60
N_OTHER = 90


def _env(db_url: str, server: Dovecot, user: MailUser, cwd: Path) -> dict[str, str]:
    return {
        **os.environ,
        "MAILFLOW_DATABASE_URL": db_url,
        "MAILFLOW_PROGRAM_SECRET": SECRET,
        "MAILFLOW_PROGRAM_ADDRESS": PROGRAM,
        "MAILFLOW_INBOUND_LISTEN": "off",
        "MAILFLOW_IMAP_HOST": server.host,
        "MAILFLOW_IMAP_PORT": str(server.imap_port),
        "MAILFLOW_IMAP_USER": user.address,
        "MAILFLOW_IMAP_PASSWORD": user.password,
        "MAILFLOW_IMAP_SECURITY": "none",
        "MAILFLOW_IMAP_BATCH_SIZE": "7",  # many small batches: more moments to be killed in
        "MAILFLOW_PROCESSING_BATCH_SIZE": "5",
        "MAILFLOW_LOG_LEVEL": "WARNING",
    }


def test_sigkill_at_any_moment_loses_nothing_and_repeats_nothing(
    db_url: str, dovecot: Dovecot, dovecot_user: MailUser, tmp_path: Path
) -> None:
    user = dovecot_user.address
    with dovecot.session(user) as c:
        for n in range(N_APPLICATIONS):
            c.append("INBOX", application(n))
        for n in range(N_OTHER):
            c.append("INBOX", mail(sender=f"reader{n}@lib.example", subject=f"question {n}"))
    env = _env(db_url, dovecot, dovecot_user, tmp_path)
    Database(db_url).upgrade()  # so the first kill cannot land inside the migration

    # Kill after different delays so the kills land in different places: mid-FETCH, between
    # the store commit and the move, mid-processing, mid-move.
    for delay in (0.4, 0.7, 0.9, 1.2, 1.6):
        proc = subprocess.Popen(
            [sys.executable, "-m", "mailflow", "run"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL

    done = subprocess.run(
        [sys.executable, "-m", "mailflow", "run", "--once"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr

    total = N_APPLICATIONS + N_OTHER
    assert dovecot.uids(user, "INBOX") == []
    processed = dovecot.fetch_all(user, "Processed")
    assert len(processed) == total
    db = Database(db_url)
    with db.unit_of_work() as s:
        rows = list(s.scalars(select(InboxMessage)))
        assert len(rows) == total
        assert len({r.message_id for r in rows}) == total
        assert {r.status for r in rows} == {"done"}
        assert sorted(r.raw for r in rows) == sorted(processed.values())
        assert s.scalar(select(func.count()).select_from(MessageFacts)) == total
        # Each application acted on exactly once: one library and one contact each.
        assert s.scalar(select(func.count()).select_from(Library)) == N_APPLICATIONS
        assert s.scalar(select(func.count()).select_from(Contact)) == N_APPLICATIONS
    db.dispose()
