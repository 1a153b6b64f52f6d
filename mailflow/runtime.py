"""`mailflow run`: inbound adapters + processing + the scheduler tick; graceful stop on SIGTERM."""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass

from apscheduler.schedulers.background import BackgroundScheduler

from mailflow.app import Services
from mailflow.dispatch import ProcessReport, process_pending
from mailflow.dispatch.digest import send_digest
from mailflow.dispatch.failures import on_permanent_failure
from mailflow.dispatch.inbox import Processing
from mailflow.dispatch.timers import TimerReport, fire_due_timers
from mailflow.errors import TransientError
from mailflow.inbound.imap import ImapSource
from mailflow.inbound.lmtp import Endpoint
from mailflow.log import SCHEDULER
from mailflow.outbox.drain import DrainReport, drain


@dataclass
class OnceReport:
    stored_imap: int
    processed: ProcessReport
    timers: TimerReport | None = None
    sent: DrainReport | None = None


class Runtime:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._process_lock = threading.Lock()
        self._wake = threading.Event()
        self._drain_wake = threading.Event()
        self.stop_event = threading.Event()
        self.totals = ProcessReport()
        self.endpoint: Endpoint | None = None

    # Processing is serialised in-process; the database (BEGIN IMMEDIATE on SQLite, SKIP LOCKED
    # on PostgreSQL) keeps separate processes from taking the same row.
    def process(self) -> ProcessReport:
        s = self.services
        with self._process_lock:
            report = process_pending(
                s.db, s.clock, s.workflow, processing=Processing.from_settings(s.settings)
            )
        for name in ("done", "quarantined", "dead"):
            setattr(self.totals, name, getattr(self.totals, name) + getattr(report, name))
        for kind, n in report.kinds.items():
            self.totals.kinds[kind] = self.totals.kinds.get(kind, 0) + n
        if report.total:
            self._drain_wake.set()
        return report

    def fire_timers(self) -> TimerReport:
        s = self.services
        with self._process_lock:  # timers and mail change the same records: one at a time
            report = fire_due_timers(s.db, s.clock, s.workflow)
        if report.fired:
            self._drain_wake.set()
        return report

    def drain(self) -> DrainReport:
        s = self.services
        assert s.transport is not None
        return drain(
            s.db,
            s.clock,
            s.transport,
            max_attempts=s.settings["outbox.max_attempts"],
            base_delay_seconds=s.settings["outbox.retry_base_seconds"],
            on_permanent_failure=on_permanent_failure(s.workflow, s.clock),
        )

    def match(self, dry_run: bool = False) -> list:
        """The whole pool at once; each chosen pair becomes a proposal for staff."""
        from mailflow.dispatch.proposals import run_matching

        s = self.services
        with self._process_lock, s.db.unit_of_work() as session:
            chosen = run_matching(
                session,
                s.workflow,
                s.clock.now(),
                weights=s.settings.matching_weights(),
                candidates=s.settings["matching.candidates"],
                min_score=float(s.settings["matching.min_score"]),
                dry_run=dry_run,
            )
        self._drain_wake.set()
        return chosen

    def why_no_pair(self) -> str:
        """Why `match` found nothing to propose, in words an operator can act on."""
        from mailflow.dispatch.proposals import matching_pool

        s = self.services
        with s.db.unit_of_work() as session:
            pool, _ = matching_pool(session, s.workflow, s.clock.now())
        if len(pool) < 2:
            return (
                f"{len(pool)} library(ies) can be matched now (seeking, listed, no open "
                "proposal, a working contact); a pair needs two"
            )
        return (
            f"no allowed pair among {len(pool)} libraries (different countries, a shared "
            f"language, never proposed before) scores above matching.min_score "
            f"{s.settings['matching.min_score']}"
        )

    def write_report(self) -> list:
        from pathlib import Path

        from mailflow.report import write_report

        s = self.services
        return write_report(
            s.db,
            s.workflow.machines,
            Path(s.settings.path("report.dir")),
            s.clock.now(),
            s.settings["program.name"],
        )

    def digest(self) -> bool:
        s = self.services
        with self._process_lock:
            sent = send_digest(s.db, s.clock, s.workflow)
        self._drain_wake.set()
        return sent

    def run_once(self) -> OnceReport:
        """Take everything waiting (IMAP, and mail already stored by LMTP), process, and return."""
        stored = 0
        config = self.services.imap_config()
        if config is not None:
            source = ImapSource(config, self.services.db, self.services.clock, self.process)
            source.connect()
            try:
                stored = source.sync()
            finally:
                source.close()
        self.process()
        timers = self.fire_timers()
        sent = self.drain() if self.services.transport is not None else None
        return OnceReport(stored_imap=stored, processed=self.totals, timers=timers, sent=sent)

    def start(self) -> None:
        """Start every part in background threads; returns at once."""
        s = self.services.settings
        if s["inbound.listen"] != "off":
            self.endpoint = Endpoint(
                self.services.db,
                self.services.clock,
                self.services.program.program_address,
                protocol=s["inbound.listen"],
                host=s["inbound.host"],
                port=s["inbound.port"],
                max_message_bytes=s["inbound.max_message_bytes"],
                on_stored=self._wake.set,
            )
            self.endpoint.start()
        self._threads = [
            threading.Thread(target=self._processor, name="processor", daemon=True),
            threading.Thread(target=self._drainer, name="drainer", daemon=True),
        ]
        config = self.services.imap_config()
        if config is not None:
            source = ImapSource(config, self.services.db, self.services.clock, self.process)
            self._threads.append(
                threading.Thread(
                    target=source.run, args=(self.stop_event,), name="imap", daemon=True
                )
            )
        self.scheduler = BackgroundScheduler(timezone="UTC")
        # The tick is a safety net (mail stored by another process, a missed wake-up); it keeps
        # no state, so a restart loses nothing. coalesce: a late tick runs once, not many times.
        self.scheduler.add_job(
            self._wake.set,
            "interval",
            seconds=s["processing.tick_seconds"],
            id="process-tick",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=s["processing.tick_seconds"],
        )
        self.scheduler.add_job(
            self._guard(self.fire_timers), "interval", seconds=30, id="timers",
            coalesce=True, max_instances=1, misfire_grace_time=30,
        )  # fmt: skip
        self.scheduler.add_job(
            self._drain_wake.set, "interval", seconds=10, id="drain-tick",
            coalesce=True, max_instances=1, misfire_grace_time=10,
        )  # fmt: skip
        hour, _, minute = str(s["schedule.digest_time"]).partition(":")
        self.scheduler.add_job(
            self._guard(self.digest), "cron", hour=int(hour), minute=int(minute or 0), id="digest",
            coalesce=True, max_instances=1, misfire_grace_time=3600,
        )  # fmt: skip
        weekly = str(s["matching.weekly"]).split()
        if len(weekly) == 2:
            hour, _, minute = weekly[1].partition(":")
            self.scheduler.add_job(
                self._guard(self.match), "cron", day_of_week=weekly[0], hour=int(hour), minute=int(minute or 0),
                id="matching", coalesce=True, max_instances=1, misfire_grace_time=6 * 3600,
            )  # fmt: skip
        if s["report.dir"]:
            self.scheduler.add_job(
                self._guard(self.write_report), "interval", minutes=15, id="report",
                coalesce=True, max_instances=1, misfire_grace_time=900,
            )  # fmt: skip
        self.scheduler.start()
        for thread in self._threads:
            thread.start()

    def _processor(self) -> None:
        while not self.stop_event.is_set():
            self._wake.wait()
            self._wake.clear()
            if self.stop_event.is_set():
                break
            try:
                self.process()
            except TransientError as exc:
                SCHEDULER.warning("processing paused: %s", exc)
            except Exception:  # noqa: BLE001 - the loop never dies on one failure
                SCHEDULER.exception("processing pass failed; will retry on the next tick")

    def _guard(self, job):  # noqa: ANN001, ANN202 - wraps a scheduler job
        def run() -> None:
            try:
                job()
            except Exception:  # noqa: BLE001 - a failed tick is logged; the next one retries
                SCHEDULER.exception("%s failed", job.__name__)

        return run

    def _drainer(self) -> None:
        while not self.stop_event.is_set():
            self._drain_wake.wait()
            self._drain_wake.clear()
            if self.stop_event.is_set() or self.services.transport is None:
                continue
            try:
                self.drain()
            except Exception:  # noqa: BLE001 - the loop never dies on one failure
                SCHEDULER.exception("outbox drain failed; will retry on the next tick")

    def stop(self) -> None:
        self.stop_event.set()
        self._wake.set()
        self._drain_wake.set()
        if self.endpoint is not None:
            self.endpoint.stop()
        if getattr(self, "scheduler", None) is not None:
            self.scheduler.shutdown(wait=False)
        for thread in getattr(self, "_threads", []):
            thread.join(timeout=10)

    def serve_forever(self) -> None:
        """Run until SIGTERM or SIGINT; then stop cleanly (finish the transaction in hand)."""

        def _stop(signum: int, _frame: object) -> None:
            SCHEDULER.info("signal %s: stopping", signum)
            self.stop_event.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        self.start()
        self._wake.set()  # process whatever was stored before we started
        while not self.stop_event.wait(0.5):
            pass
        self.stop()
