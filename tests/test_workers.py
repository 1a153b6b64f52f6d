"""Several workers on one PostgreSQL: races forced on purpose, and a second SQLite `run` refused.

Each race runs two workers (two `Services`, each with its own connection pool, as two
`mailflow run` processes would have) in two threads against one real PostgreSQL database. A
barrier at the moment that matters (both have read the record, both are about to insert)
forces the overlap: without locks both pass it and one overwrites the other; with them the
second worker waits on the first's lock, the barrier times out, and the second then reads
what the first committed.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from mailflow.app import Services, build
from mailflow.dispatch import apply as apply_stage
from mailflow.dispatch import letters, libraries
from mailflow.dispatch import route as route_stage
from mailflow.dispatch.digest import send_digest
from mailflow.dispatch.inbox import process_pending
from mailflow.store.schema import (
    Contact,
    DeadLetter,
    InboxMessage,
    Library,
    MessageFacts,
    Outbox,
)
from tests.helpers import PROGRAM, SECRET, application, mail
from tests.program import ProgramUnderTest, reply
from tests.test_workflow_paths import HANGZHOU, SEGOVIA, offered

pytestmark = pytest.mark.postgres

# Long enough for the other worker to reach the same point on a loaded machine, short enough
# that a worker waiting on a lock does not slow the suite much (it times out once per race).
BARRIER_SECONDS = 3.0


@pytest.fixture
def db_url(postgres_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """Only PostgreSQL: SQLite is single-process (refused below), so it cannot race."""
    import uuid

    import sqlalchemy as sa

    schema = "w_" + uuid.uuid4().hex[:12]
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield f"{postgres_url}?options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def second_worker(p: ProgramUnderTest) -> Services:
    """Another worker on the same database: its own engine and pool, the same clock."""
    return build(p.services.settings, p.clock, dnsfunc=lambda *_a, **_k: None)


def meet_at(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> None:
    """Both workers wait for each other just before `module.name` runs (at most a while)."""
    barrier = threading.Barrier(2)
    original = getattr(module, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # Broken: the other worker waits on our lock, which is what the locks are for.
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=BARRIER_SECONDS)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)


def race(*jobs: Callable[[], object]) -> list[object]:
    """Run the jobs at once in threads; re-raise the first error."""
    results: list[object] = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(i: int, job: Callable[[], object]) -> None:
        try:
            results[i] = job()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, j)) for i, j in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    if errors:
        raise errors[0]
    return results


def process_in_two_workers(p: ProgramUnderTest, other: Services) -> None:
    """Both workers take one stored message each (batch of one) at the same time."""
    race(
        *(
            (lambda s=s: process_pending(s.db, s.clock, s.workflow, batch_size=1))
            for s in (p.services, other)
        )
    )
    # Whatever a worker left (a row deferred after a race) is taken on the next pass.
    process_pending(p.services.db, p.clock, p.services.workflow)


def count(p: ProgramUnderTest, query: Any) -> int:
    with p.services.db.unit_of_work() as s:
        return int(s.scalar(select(func.count()).select_from(query.subquery())) or 0)


def dead_letters(p: ProgramUnderTest) -> list[str]:
    with p.services.db.unit_of_work() as s:
        return [d.reason for d in s.scalars(select(DeadLetter))]


def test_both_libraries_accept_at_the_same_moment_and_both_acceptances_count(
    program: ProgramUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = program
    en, zh = offered(p)
    p.send(reply(en, f"Maria Lopez <{SEGOVIA}>", "Yes, we would love an introduction!"))
    p.send(reply(zh, f"王丽 <{HANGZHOU}>", "好的，我们同意。", client="qq"))
    other = second_worker(p)
    meet_at(monkeypatch, apply_stage, "decide")  # both have read the partnership's answers

    process_in_two_workers(p, other)

    assert dead_letters(p) == []
    partnership = p.partnership(1)
    assert sorted(partnership.data["accepted"]) == sorted(
        [str(partnership.library_a_id), str(partnership.library_b_id)]
    )
    assert partnership.state == "trial"
    other.db.dispose()


def test_an_applicant_writing_twice_at_once_makes_one_library_and_no_dead_letter(
    program: ProgramUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = program
    first = application(7)
    again = first.replace(b"@client.example>", b".again@client.example>")  # a new Message-ID
    p.send(first)
    p.send(again)
    other = second_worker(p)
    meet_at(monkeypatch, libraries, "new_library")  # neither sees the other's library yet

    process_in_two_workers(p, other)

    assert dead_letters(p) == []
    assert count(p, select(Library)) == 1
    assert count(p, select(Contact)) == 1
    assert count(p, select(InboxMessage).where(InboxMessage.status == "done")) == 2
    with p.services.db.unit_of_work() as s:
        (library,) = s.scalars(select(Library))
        assert [c.email for c in library.contacts] == ["maria7@biblioteca.example.es"]


def test_a_stranger_writing_twice_at_once_is_told_once(
    program: ProgramUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = program
    stranger = "reader@town.example"
    for n in range(2):
        p.send(mail(sender=stranger, subject=f"hello {n}", body="What are your opening hours?"))
    other = second_worker(p)
    meet_at(monkeypatch, route_stage, "not_understood")  # neither has answered yet

    process_in_two_workers(p, other)

    assert dead_letters(p) == []
    answers = select(Outbox).where(
        Outbox.template == route_stage.NOT_UNDERSTOOD_TEMPLATE, Outbox.thread_key.contains(stranger)
    )
    assert count(p, answers) == 1
    with p.services.db.unit_of_work() as s:
        codes = sorted(s.scalars(select(MessageFacts.outcome_code)))
    assert codes == ["not-understood", "rate-limited"]


def test_the_digest_minute_on_two_workers_sends_one_digest(
    program: ProgramUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = program
    p.deliver(application(1))
    p.step()
    other = second_worker(p)
    meet_at(monkeypatch, letters, "to_staff")  # both have decided a digest is due

    sent = race(
        *((lambda s=s: send_digest(s.db, s.clock, s.workflow)) for s in (p.services, other))
    )

    assert sorted(sent) == [False, True]
    assert count(p, select(Outbox).where(Outbox.template == "staff-digest")) == 1
    other.db.dispose()


def test_a_second_run_on_one_sqlite_file_is_refused(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "MAILFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'mailflow.sqlite3'}",
        "MAILFLOW_PROGRAM_SECRET": SECRET,
        "MAILFLOW_PROGRAM_ADDRESS": PROGRAM,
        "MAILFLOW_INBOUND_LISTEN": "off",
        "MAILFLOW_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "mailflow", "run"]
    first = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        assert first.stdout is not None
        # Running (and holding the lock) once it says so.
        for line in first.stdout:
            if b"running" in line:
                break
        second = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        once = subprocess.run(
            [*command, "--once"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
    finally:
        first.terminate()
        first.wait(timeout=30)
    assert second.returncode == 1
    assert "another `mailflow run`" in second.stderr
    assert "SQLite is single-process" in second.stderr
    assert once.returncode == 1 and "another `mailflow run`" in once.stderr
    # Once the first has stopped, the next one runs.
    after = subprocess.run(
        [*command, "--once"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert after.returncode == 0, after.stderr
