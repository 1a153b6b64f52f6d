"""Seeing it run: `mailflow status`, the workers table, /healthz and /metrics, JSON log lines.

Real parts only: mail through the real Dovecot and SMTP endpoint, a real aiosmtpd relay that
refuses one recipient, SQLite files and PostgreSQL, and `mailflow run` as a subprocess scraped
over real HTTP.
"""

from __future__ import annotations

import json
import os
import signal
import smtplib
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, text

import mailflow.dispatch.route
from mailflow.admin.status import format_status, snapshot
from mailflow.admin.web import health
from mailflow.app import build
from mailflow.cli import main
from mailflow.demo.world import free_port
from mailflow.runtime import Runtime
from mailflow.settings import load
from mailflow.store import workers
from mailflow.store.db import Database
from mailflow.store.schema import Timer, Worker
from tests.helpers import PROGRAM, SECRET, application, mail
from tests.program import ProgramUnderTest
from tests.servers.dovecot import Dovecot, MailUser


def _status(db_url: str, *args: str) -> str:
    env = {"MAILFLOW_DATABASE_URL": db_url, "MAILFLOW_PROGRAM_SECRET": SECRET}
    result = CliRunner(env=env).invoke(main, ["status", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_status_after_a_run_with_mail_a_dead_letter_and_mail_waiting_to_go_out(
    program: ProgramUnderTest, monkeypatch: pytest.MonkeyPatch, db_url: str
) -> None:
    # Three applications (one applicant's server refuses for now), and a mail whose parsing
    # crashes (the fault a dead letter stands for).
    program.auto_confirm = False  # the figures below count these four messages only
    for n in (1, 2, 3):
        program.deliver(application(n))
    program.deliver(mail(sender="x@lib.example", subject="boom"))
    program.sink.fail_rcpt("maria3@biblioteca.example.es", 451, times=5)
    real = mailflow.dispatch.route.act

    def failing(turn, facts):  # noqa: ANN001, ANN202 - fault injection for one message
        if facts.subject == "boom":
            raise RuntimeError("simulated handling crash")
        return real(turn, facts)

    monkeypatch.setattr(mailflow.dispatch.route, "act", failing)
    report = program.step()
    assert (report.processed.done, report.processed.dead) == (3, 1)
    assert report.sent is not None and report.sent.retried == 1
    # This process says it is alive; a worker that died an hour ago left its row behind.
    program.runtime.heartbeat()
    with program.services.db.unit_of_work() as s:
        hour_ago = datetime.now(UTC) - timedelta(hours=1)
        workers.heartbeat(
            s, "gone.example:4242", roles="processor,imap", started_at=hour_ago, now=hour_ago
        )

    figures = json.loads(_status(db_url, "--json"))
    assert figures["inbox"] == {"new": 0, "done": 3, "quarantined": 0, "dead": 1}
    assert figures["dead_letters"] == 1
    assert figures["oldest_unprocessed"] is None
    out = figures["outbox"]
    assert (out["pending"], out["retrying"], out["failed"]) == (1, 1, 0)
    assert out["sent"] == len(program.sink.received) == 2  # the other two acknowledgements
    assert out["oldest_pending"] is not None
    by_name = {w["name"]: w for w in figures["workers"]}
    assert by_name[program.runtime.worker]["live"] is True
    assert by_name["gone.example:4242"]["live"] is False
    assert (figures["workers_live"], figures["workers_stale"]) == (1, 1)
    assert figures["leases"] == []  # no lease columns on the queue tables yet

    text = _status(db_url)
    assert "inbox: 0 new, 3 done, 0 quarantined, 1 dead" in text
    assert "dead letters: 1 waiting for replay" in text
    assert "outbox: 1 pending" in text and "1 retrying), 2 sent, 0 failed" in text
    assert "workers: 1 live, 1 stale" in text
    assert f"{program.runtime.worker} live (processor,drainer,scheduler)" in text
    assert "gone.example:4242 STALE (processor,imap)" in text


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _metrics(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    code, body = _get(f"http://127.0.0.1:{port}/metrics")
    assert code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def _wait(what: str, check, proc: subprocess.Popen, timeout: float = 60) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"mailflow run exited: {proc.stderr.read().decode()}")
        try:
            if check():
                return
        except OSError:
            pass  # not listening yet
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_healthz_and_metrics_of_a_running_worker_over_http_and_its_log_lines_are_json(
    db_url: str, dovecot: Dovecot, dovecot_user: MailUser, tmp_path: Path
) -> None:
    web, smtp = free_port(), free_port()
    env = {
        **os.environ,
        "MAILFLOW_DATABASE_URL": db_url,
        "MAILFLOW_PROGRAM_SECRET": SECRET,
        "MAILFLOW_PROGRAM_ADDRESS": PROGRAM,
        "MAILFLOW_INBOUND_LISTEN": "smtp",
        "MAILFLOW_INBOUND_PORT": str(smtp),
        "MAILFLOW_IMAP_HOST": dovecot.host,
        "MAILFLOW_IMAP_PORT": str(dovecot.imap_port),
        "MAILFLOW_IMAP_USER": dovecot_user.address,
        "MAILFLOW_IMAP_PASSWORD": dovecot_user.password,
        "MAILFLOW_IMAP_SECURITY": "none",
        "MAILFLOW_WEB_LISTEN": f"127.0.0.1:{web}",
        "MAILFLOW_WORKERS_HEARTBEAT_SECONDS": "1",
        "MAILFLOW_LOG_FORMAT": "json",
        "MAILFLOW_LOG_LEVEL": "INFO",
    }
    dovecot.append(dovecot_user.address, "INBOX", application(1))
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailflow", "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _wait("the web listener", lambda: _get(f"http://127.0.0.1:{web}/healthz")[0], proc)
        with smtplib.SMTP("127.0.0.1", smtp) as client:
            client.sendmail("maria2@biblioteca.example.es", [PROGRAM], application(2))
        done = ("mailflow_messages_processed_total", (("outcome", "done"),))
        _wait("two messages processed", lambda: _metrics(web).get(done) == 2, proc)
        # The drainer sends right after processing; a scrape reads the tables before the
        # process counters, so wait for the table to say so too.
        sent = ("mailflow_outbox_messages", (("status", "sent"),))
        _wait("two acknowledgements sent", lambda: _metrics(web).get(sent) == 2, proc)

        code, body = _get(f"http://127.0.0.1:{web}/healthz")
        assert (code, json.loads(body)) == (200, {"status": "ok"})
        m = _metrics(web)
        assert m[("mailflow_database_up", ())] == 1
        assert m[("mailflow_inbox_messages", (("status", "done"),))] == 2
        assert m[("mailflow_inbox_messages", (("status", "new"),))] == 0
        assert m[("mailflow_inbox_oldest_unprocessed_age_seconds", ())] == 0
        assert m[("mailflow_dead_letters", ())] == 0
        assert m[("mailflow_workers", (("state", "live"),))] == 1
        # The two acknowledgements went to outgoing/ (maildir transport).
        assert m[("mailflow_outbox_sent_total", ())] == 2
        assert m[("mailflow_outbox_messages", (("status", "sent"),))] == 2
        assert m[("mailflow_timers_due", ())] == 0
        _wait(  # the heartbeat carries the poller's contact into the table
            "IMAP contact in the metrics",
            lambda: _metrics(web)[("mailflow_imap_last_contact_timestamp_seconds", ())] > 0,
            proc,
        )
        contact = _metrics(web)[("mailflow_imap_last_contact_timestamp_seconds", ())]
        assert abs(contact - time.time()) < 120

        (worker,) = json.loads(_status(db_url, "--json"))["workers"]
        assert worker["name"].endswith(f":{proc.pid}") and worker["live"]
        assert set(worker["roles"]) >= {"processor", "drainer", "imap", "smtp", "web"}
        assert worker["imap_mailbox"].endswith(f"@{dovecot.host}:{dovecot.imap_port}/INBOX")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    # A clean stop takes the worker's row away.
    assert json.loads(_status(db_url, "--json"))["workers"] == []
    lines = err.decode().splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert {"time", "level", "logger", "message"} <= set(records[0])
    assert any(r["message"].startswith("web listener on 127.0.0.1:") for r in records)


def test_healthz_answers_503_with_the_reason_when_the_imap_server_is_out_of_reach(
    db_url: str, tmp_path: Path
) -> None:
    web = free_port()
    settings = load(
        None,
        env={
            "MAILFLOW_DATABASE_URL": db_url,
            "MAILFLOW_PROGRAM_SECRET": SECRET,
            "MAILFLOW_INBOUND_LISTEN": "off",
            "MAILFLOW_IMAP_HOST": "127.0.0.1",
            "MAILFLOW_IMAP_PORT": str(free_port()),  # nothing listens there
            "MAILFLOW_IMAP_USER": "sisters",
            "MAILFLOW_IMAP_PASSWORD": "x",
            "MAILFLOW_IMAP_SECURITY": "none",
            "MAILFLOW_WEB_LISTEN": f"127.0.0.1:{web}",
            "MAILFLOW_OUTBOUND_MAILDIR": str(tmp_path / "outgoing"),
        },
    )
    runtime = Runtime(build(settings))
    runtime.start()
    try:
        assert runtime.web is not None
        code, body = _get(f"http://127.0.0.1:{web}/healthz")
        assert code == 200, body  # still starting: the poller gets its grace period
        # As if the process had started ten minutes ago and never reached the server.
        runtime.web.probe.started_at -= timedelta(minutes=10)
        code, body = _get(f"http://127.0.0.1:{web}/healthz")
        answer = json.loads(body)
        assert code == 503 and answer["status"] == "unhealthy"
        assert answer["reasons"] == ["no recent IMAP contact (last: never; connected: no)"]
        # The same finding from the function behind it, for the moment the poller would count
        # as started just now: healthy.
        assert health(runtime.web.probe, runtime.web.probe.started_at) == []
    finally:
        runtime.stop()
        runtime.services.db.dispose()
    with Database(db_url).session() as s:
        assert s.scalars(select(Worker)).all() == []


def test_status_lists_each_workers_leases_once_the_queue_tables_carry_lease_columns(
    db: Database,
) -> None:
    # The multi-worker claims add a lease owner and a lease end to the queue tables; status
    # finds them by name, so it needs no change when they arrive. Here they are added by hand.
    now = datetime.now(UTC)
    with db.engine.begin() as conn:
        kind = "TIMESTAMP" if db.is_sqlite else "TIMESTAMP WITH TIME ZONE"
        conn.execute(text("ALTER TABLE timers ADD COLUMN claimed_by VARCHAR(255)"))
        conn.execute(text(f"ALTER TABLE timers ADD COLUMN claimed_until {kind}"))
    with db.unit_of_work() as s:
        for n in range(3):
            s.add(Timer(record_type="library", record_id=n, name="remind", state="seeking",
                        due_at=now, created_at=now))  # fmt: skip
    until = now + timedelta(minutes=1)
    bound = until.strftime("%Y-%m-%d %H:%M:%S.%f") if db.is_sqlite else until
    with db.engine.begin() as conn:
        conn.execute(
            text("UPDATE timers SET claimed_by = 'mail1:4182', claimed_until = :u WHERE id < 3"),
            {"u": bound},
        )
    with db.unit_of_work() as s:
        figures = snapshot(s, now, now, 30)
    (lease,) = figures["leases"]
    assert (lease["table"], lease["owner"], lease["rows"], lease["expired"]) == (
        "timers", "mail1:4182", 2, False,
    )  # fmt: skip
    assert datetime.fromisoformat(lease["until"]) == until
    assert "lease: mail1:4182 holds 2 timers row(s) until" in format_status(figures)
