"""`mailflow run`: inbound adapters + processing + the scheduler tick; graceful stop on SIGTERM."""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass

from apscheduler.schedulers.background import BackgroundScheduler

from mailflow.app import Services
from mailflow.dispatch import ProcessReport, process_pending
from mailflow.errors import TransientError
from mailflow.inbound.imap import ImapSource
from mailflow.inbound.lmtp import Endpoint
from mailflow.log import SCHEDULER


@dataclass
class OnceReport:
    stored_imap: int
    processed: ProcessReport


class Runtime:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._process_lock = threading.Lock()
        self._wake = threading.Event()
        self.stop_event = threading.Event()
        self.totals = ProcessReport()
        self.endpoint: Endpoint | None = None

    # Processing is serialised in-process; the database (BEGIN IMMEDIATE on SQLite, SKIP LOCKED
    # on PostgreSQL) keeps separate processes from taking the same row.
    def process(self) -> ProcessReport:
        s = self.services
        with self._process_lock:
            report = process_pending(
                s.db, s.clock, s.program, batch_size=s.settings["processing.batch_size"]
            )
        for name in ("done", "quarantined", "dead"):
            setattr(self.totals, name, getattr(self.totals, name) + getattr(report, name))
        return report

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
        return OnceReport(stored_imap=stored, processed=self.totals)

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
        self._threads = [threading.Thread(target=self._processor, name="processor", daemon=True)]
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

    def stop(self) -> None:
        self.stop_event.set()
        self._wake.set()
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
