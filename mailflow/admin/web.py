"""The web listener of `mailflow run` (setting web.listen): GET /healthz and GET /metrics.

/healthz answers 200 when the database answers, the processing threads are alive and, if IMAP
is configured, some worker has had contact with the IMAP server recently; else 503 with the
reasons, as JSON. /metrics is the Prometheus text format (prometheus-client): the queue gauges
come from the same snapshot as `mailflow status`, read at scrape time; the counters are this
process's own since it started. The stdlib server in one thread is enough: a scrape every few
seconds, no pages, loopback or a private network only (it has no authentication).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, text

from mailflow.admin.status import INBOX_STATUSES, OUTBOX_STATUSES, snapshot
from mailflow.clock import Clock
from mailflow.log import SCHEDULER
from mailflow.store.db import Database
from mailflow.store.schema import Worker

if TYPE_CHECKING:
    from prometheus_client.core import GaugeMetricFamily, Metric


@dataclass
class Probe:
    """What the listener asks the running process; the runtime fills in the callables."""

    db: Database
    clock: Clock
    stale_after_seconds: float
    started_at: datetime  # wall clock
    threads_alive: Callable[[], dict[str, bool]]
    # None: this process polls no IMAP; else (connected now, last contact (wall clock)).
    imap: Callable[[], tuple[bool, datetime | None] | None]
    # How long a connected poller may go without the server saying anything (IDLE renews).
    imap_quiet_seconds: float = 1800.0
    # How long the poller may be disconnected (reconnecting) before it counts as down.
    imap_grace_seconds: float = 90.0
    counters: Callable[[], dict[str, dict[str, int]]] = field(default=lambda: {})


def health(probe: Probe, wall_now: datetime | None = None) -> list[str]:
    """Problems that make this worker unhealthy; empty when all is well."""
    wall_now = wall_now or datetime.now(UTC)
    problems = [
        f"thread {name} is not running" for name, ok in probe.threads_alive().items() if not ok
    ]
    try:
        with probe.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            others = conn.execute(
                select(func.max(Worker.imap_contact_at)).where(
                    Worker.last_seen >= wall_now - timedelta(seconds=probe.stale_after_seconds)
                )
            ).scalar()
    except Exception as exc:  # noqa: BLE001 - any failure to answer is the finding
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return [*problems, f"database does not answer: {first}"]
    imap = probe.imap()
    if imap is not None:
        problem = _imap_problem(probe, imap, others, wall_now)
        if problem:
            problems.append(problem)
    return problems


def _imap_problem(
    probe: Probe,
    imap: tuple[bool, datetime | None],
    others: datetime | None,
    wall_now: datetime,
) -> str | None:
    connected, contact = imap
    if others is not None:
        others = others.replace(tzinfo=UTC) if others.tzinfo is None else others
    # Another live worker's poller counts too: with one poller per mailbox, the others wait.
    latest = max((t for t in (contact, others) if t is not None), default=None)
    if connected and latest and wall_now - latest <= timedelta(seconds=probe.imap_quiet_seconds):
        return None
    if latest and wall_now - latest <= timedelta(seconds=probe.imap_grace_seconds):
        return None  # reconnecting, or another worker polls
    if latest is None and wall_now - probe.started_at <= timedelta(
        seconds=probe.imap_grace_seconds
    ):
        return None  # still starting
    since = latest.isoformat() if latest else "never"
    return f"no recent IMAP contact (last: {since}; connected: {'yes' if connected else 'no'})"


class MailflowCollector:
    """Prometheus collector: reads the database at each scrape (no state to drift)."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        p = self.probe
        wall_now = datetime.now(UTC)
        up = GaugeMetricFamily("mailflow_database_up", "1 when the database answered this scrape")
        try:
            with p.db.session() as session:
                s = snapshot(session, p.clock.now(), wall_now, p.stale_after_seconds,
                             with_leases=False)  # fmt: skip
        except Exception:  # noqa: BLE001 - a scrape reports the failure instead of erroring
            SCHEDULER.exception("metrics: database snapshot failed")
            up.add_metric([], 0)
            yield up
            yield from self._counters()
            return
        up.add_metric([], 1)
        yield up
        inbox = GaugeMetricFamily(
            "mailflow_inbox_messages", "Stored messages by status", labels=["status"]
        )
        for status in INBOX_STATUSES:
            inbox.add_metric([status], s["inbox"][status])
        yield inbox
        yield _gauge(
            "mailflow_inbox_oldest_unprocessed_age_seconds",
            "Age of the oldest message not yet processed (0: none waiting)",
            s["oldest_unprocessed_age_seconds"] or 0,
        )
        outbox = GaugeMetricFamily(
            "mailflow_outbox_messages", "Outbox rows by status", labels=["status"]
        )
        for status in OUTBOX_STATUSES:
            outbox.add_metric([status], s["outbox"][status])
        yield outbox
        yield _gauge("mailflow_outbox_due", "Pending outbox rows due now", s["outbox"]["due"])
        yield _gauge(
            "mailflow_outbox_retrying", "Pending outbox rows that failed at least once",
            s["outbox"]["retrying"],
        )  # fmt: skip
        yield _gauge("mailflow_dead_letters", "Dead letters not replayed", s["dead_letters"])
        yield _gauge("mailflow_quarantined_messages", "Quarantined messages", s["quarantined"])
        yield _gauge("mailflow_needs_a_person", "Open needs-a-person items", s["needs_a_person"])
        yield _gauge("mailflow_timers_due", "Pending timers already due", s["timers"]["due"])
        contact = s["imap"]["last_contact"]
        yield _gauge(
            "mailflow_imap_last_contact_timestamp_seconds",
            "Unix time of the last IMAP server answer any worker reported (0: never)",
            datetime.fromisoformat(contact).timestamp() if contact else 0,
        )
        workers = GaugeMetricFamily(
            "mailflow_workers", "mailflow run processes by heartbeat", labels=["state"]
        )
        workers.add_metric(["live"], s["workers_live"])
        workers.add_metric(["stale"], s["workers_stale"])
        yield workers
        yield from self._counters()

    def _counters(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily

        counts = self.probe.counters()
        processed = CounterMetricFamily(
            "mailflow_messages_processed",
            "Messages this process processed, by outcome",
            labels=["outcome"],
        )
        for outcome, n in sorted(counts.get("processed", {}).items()):
            processed.add_metric([outcome], n)
        yield processed
        sent = counts.get("outbox", {})
        yield CounterMetricFamily(
            "mailflow_outbox_sent", "Mails this process handed to the relay", sent.get("sent", 0)
        )
        yield CounterMetricFamily(
            "mailflow_outbox_failed", "Mails this process gave up on", sent.get("failed", 0)
        )
        yield CounterMetricFamily(
            "mailflow_outbox_retried", "Temporary send failures in this process",
            sent.get("retried", 0),
        )  # fmt: skip


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    from prometheus_client.core import GaugeMetricFamily

    return GaugeMetricFamily(name, documentation, value=value)


class WebListener:
    """ThreadingHTTPServer in a daemon thread; start() binds (or raises), stop() closes."""

    def __init__(self, probe: Probe, host: str, port: int) -> None:
        # prometheus_client is imported only when the listener runs (`web.listen` set): a
        # worker without it does not hold the library.
        from prometheus_client import CollectorRegistry

        self.probe = probe
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(MailflowCollector(probe))
        server_class = _IPv6Server if ":" in host else ThreadingHTTPServer
        self.server = server_class((host, port), _handler(self))
        self.server.daemon_threads = True
        self.host, self.port = self.server.server_address[:2]
        self.thread = threading.Thread(target=self.server.serve_forever, name="web", daemon=True)

    def start(self) -> None:
        self.thread.start()
        SCHEDULER.info("web listener on %s:%s (/healthz, /metrics)", self.host, self.port)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def healthz(self) -> tuple[int, bytes]:
        problems = health(self.probe)
        body: dict[str, Any] = {"status": "ok" if not problems else "unhealthy"}
        if problems:
            body["reasons"] = problems
        return (200 if not problems else 503), (json.dumps(body) + "\n").encode()


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def _handler(listener: WebListener) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                code, body = listener.healthz()
                self._reply(code, "application/json", body)
            elif path == "/metrics":
                from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

                self._reply(200, CONTENT_TYPE_LATEST, generate_latest(listener.registry))
            else:
                self._reply(404, "text/plain; charset=utf-8", b"not found: /healthz, /metrics\n")

        def _reply(self, code: int, content_type: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            # One line per scrape would drown the log; requests are visible at DEBUG.
            SCHEDULER.debug("web: " + format, *args)

    return Handler
