"""`mailflow run`: inbound adapters + processing + the scheduler tick; graceful stop on SIGTERM."""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from mailflow.admin.web import Probe, WebListener
from mailflow.app import Services
from mailflow.dispatch import ProcessReport, process_pending
from mailflow.dispatch.digest import send_digest
from mailflow.dispatch.failures import on_not_rendered, on_permanent_failure
from mailflow.dispatch.inbox import Processing
from mailflow.dispatch.timers import TimerReport, fire_due_timers
from mailflow.errors import TransientError
from mailflow.inbound.imap import ImapSource
from mailflow.log import SCHEDULER
from mailflow.outbox.drain import DrainReport, drain
from mailflow.sandbox import shared_worker
from mailflow.store import workers
from mailflow.store.locks import SessionLock, worker_id

if TYPE_CHECKING:
    from mailflow.inbound.lmtp import Endpoint


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
        # Seeing it run (mailflow status, /healthz, /metrics): who we are, what we sent.
        self.worker = worker_id()
        self.started_at = datetime.now(UTC)
        self.sent_totals = {"sent": 0, "retried": 0, "failed": 0}
        self.imap_source: ImapSource | None = None
        self.web: WebListener | None = None

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
        report = drain(
            s.db,
            s.clock,
            s.transport,
            max_attempts=s.settings["outbox.max_attempts"],
            base_delay_seconds=s.settings["outbox.retry_base_seconds"],
            on_permanent_failure=on_permanent_failure(s.workflow, s.clock),
            lease_seconds=s.settings["workers.lease_seconds"],
            senders=s.settings["outbox.senders"],
            render=s.workflow.composer,
            on_not_rendered=on_not_rendered(s.workflow, s.clock),
        )
        for name in self.sent_totals:
            self.sent_totals[name] += getattr(report, name)
        return report

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

    def retention(self) -> None:
        """Blank raw mail of records final for longer than privacy.raw_mail_days (daily)."""
        from mailflow.admin.privacy import blank_old_mail

        s = self.services
        with self._process_lock, s.db.unit_of_work() as session:
            days = int(s.settings["privacy.raw_mail_days"])
            blank_old_mail(session, s.clock.now(), days, s.workflow.machines)

    def run_once(self) -> OnceReport:
        """Take everything waiting (IMAP, and mail already stored by LMTP), process, and return."""
        shared_worker().start_soon()  # boots while IMAP is read and the first batch stored
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
        # Here, not at the top: `run --once` needs neither (aiosmtpd, APScheduler: ~3 MB).
        from apscheduler.schedulers.background import BackgroundScheduler

        from mailflow.inbound.lmtp import Endpoint

        shared_worker().start_soon()  # the first mail must not wait for the parser to boot
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
                max_connections=s["inbound.max_connections"],
                max_per_client=s["inbound.max_per_client"],
                idle_timeout_seconds=s["inbound.idle_timeout_seconds"],
                max_line_bytes=s["inbound.max_line_bytes"],
            )
            self.endpoint.start()
        self._threads = [
            threading.Thread(target=self._processor, name="processor", daemon=True),
            threading.Thread(target=self._drainer, name="drainer", daemon=True),
        ]
        config = self.services.imap_config()
        if config is not None:
            source = ImapSource(config, self.services.db, self.services.clock, self.process)
            self.imap_source = source
            self._threads.append(
                threading.Thread(target=self._poll, args=(source,), name="imap", daemon=True)
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
        if s["privacy.raw_mail_days"] > 0:
            hour, _, minute = str(s["privacy.retention_time"]).partition(":")
            self.scheduler.add_job(
                self._guard(self.retention), "cron", hour=int(hour), minute=int(minute or 0),
                id="retention", coalesce=True, max_instances=1, misfire_grace_time=6 * 3600,
            )  # fmt: skip
        if s["report.dir"]:
            self.scheduler.add_job(
                self._guard(self.write_report), "interval", minutes=15, id="report",
                coalesce=True, max_instances=1, misfire_grace_time=900,
            )  # fmt: skip
        self._start_monitoring()
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

    def _poll(self, source: ImapSource) -> None:
        """Poll the mailbox while this worker holds its lock; otherwise try for it every few
        seconds, so a dead poller's mailbox is taken over at once (PostgreSQL releases a
        session lock when its connection dies). SQLite: single-process, always granted."""
        lock = SessionLock(self.services.db, "mailflow-imap:" + source.config.mailbox)
        retry = float(self.services.settings["workers.poller_retry_seconds"])
        try:
            while not self.stop_event.is_set():
                try:
                    mine = lock.acquire()
                except Exception:  # noqa: BLE001 - the database may be down for a moment
                    SCHEDULER.exception("could not ask for the IMAP poller lock")
                    mine = False
                if not mine:
                    self.stop_event.wait(retry)
                    continue
                SCHEDULER.info("%s polls %s", worker_id(), source.config.mailbox)
                source.run(self.stop_event, still_ours=lock.held)
        finally:
            lock.release()

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
        self._stop_monitoring()

    # -- seeing it run: the heartbeat row and the web listener ---------------------------------
    def _start_monitoring(self) -> None:
        s = self.services.settings
        every = s["workers.heartbeat_seconds"]
        listen = s.web_listen()
        if listen is not None:
            self.web = WebListener(self.probe(), *listen)  # binds now: a taken port fails here
        self.heartbeat()  # visible in `mailflow status` from the first second
        self.scheduler.add_job(
            self._guard(self.heartbeat), "interval", seconds=every, id="heartbeat",
            coalesce=True, max_instances=1, misfire_grace_time=every,
        )  # fmt: skip
        if self.web is not None:
            self.web.start()

    def _stop_monitoring(self) -> None:
        if getattr(self, "scheduler", None) is None:
            return  # never started: no row, no listener
        if self.web is not None:
            self.web.stop()
        try:
            with self.services.db.unit_of_work() as session:
                workers.remove(session, self.worker)
        except Exception:  # noqa: BLE001 - a stale row is harmless; status shows it as stale
            SCHEDULER.exception("could not remove worker row %s", self.worker)

    def roles(self) -> list[str]:
        s = self.services.settings
        roles = ["processor", "drainer", "scheduler"]
        if self.imap_source is not None:
            roles.append("imap")
        if s["inbound.listen"] != "off":
            roles.append(s["inbound.listen"])
        if s.web_listen() is not None:
            roles.append("web")
        return roles

    def heartbeat(self) -> None:
        source = self.imap_source
        now = datetime.now(UTC)
        with self.services.db.unit_of_work() as session:
            # A killed worker's row shows as stale for a day, then goes.
            workers.forget_stale(session, now - timedelta(days=1))
            workers.heartbeat(
                session, self.worker, roles=",".join(self.roles()), started_at=self.started_at,
                now=now,
                imap_mailbox=source.config.mailbox if source is not None else None,
                imap_contact_at=source.last_contact if source is not None else None,
            )  # fmt: skip

    def probe(self) -> Probe:
        """What /healthz and /metrics ask this process."""
        s = self.services.settings
        source = self.imap_source

        def threads_alive() -> dict[str, bool]:
            # ident None: not started yet (the listener starts a moment before the threads).
            return {t.name: t.is_alive() or t.ident is None for t in getattr(self, "_threads", [])
                    if t.name in ("processor", "drainer")}  # fmt: skip

        def counters() -> dict[str, dict[str, int]]:
            t = self.totals
            processed = {"done": t.done, "quarantined": t.quarantined, "dead": t.dead}
            return {"processed": processed, "outbox": dict(self.sent_totals)}

        quiet = s["imap.idle_renew_seconds"] if s["imap.idle"] else s["imap.poll_seconds"]
        return Probe(
            db=self.services.db,
            clock=self.services.clock,
            stale_after_seconds=workers.stale_after_seconds(s["workers.heartbeat_seconds"]),
            started_at=self.started_at,
            threads_alive=threads_alive,
            imap=(lambda: (source.connected, source.last_contact)) if source else (lambda: None),
            imap_quiet_seconds=quiet + 2 * s["imap.timeout_seconds"] + 60,
            imap_grace_seconds=2 * s["imap.timeout_seconds"] + 30,
            counters=counters,
        )

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
