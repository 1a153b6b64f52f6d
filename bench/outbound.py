"""Outgoing mail throughput against a local aiosmtpd sink.

    python bench/outbound.py [--messages 5000]

(a) the raw limit: smtplib sends the same mails, rendered beforehand, over one connection;
(b) mailflow: insert each mail as a pending Outbox row holding its spec (the packaged
    `library-acknowledgement` template, its sample context, the headers), as a decision does,
    in a fresh database (SQLite; PostgreSQL, a scratch database), then drain() through
    SmtpTransport: the drainer renders each mail and sends it, `outbox.senders` at a time, each
    row's `sent` committed right after the relay accepts it, as in production. One worker
    process on SQLite, 1 and 2 worker processes sharing the rows on PostgreSQL (leases, SKIP
    LOCKED), each with its own connections to the sink.
(b') the same with rows holding the bytes rendered beforehand (those the raw run sends): the
    send path alone, as for rows rendered at decision time (queued before issue 11, or whose
    context JSON cannot carry).
Prints the drain's rate and b/a (target >= 0.5): the mails are ready in the database as the raw
run's are in memory; the rate counting the insert of the rows too is printed beside it. All are measured in the same run: every figure is
the best of --repeat runs (the raw limit measured again between the mailflow runs), since on
a shared machine the neighbours' load moves any single run by a factor of two or three.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import smtplib
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from mailflow.clock import SystemClock  # noqa: E402
from mailflow.outbound.smtp import SmtpTransport  # noqa: E402
from mailflow.outbox.compose import make_message_id  # noqa: E402
from mailflow.outbox.drain import drain  # noqa: E402
from mailflow.outbox.render import DEFAULT_TEMPLATES, Renderer  # noqa: E402
from mailflow.outbox.samples import sample_context  # noqa: E402
from mailflow.outbox.spec import Composer, make_spec  # noqa: E402
from mailflow.settings import SETTINGS  # noqa: E402
from mailflow.store.db import Database  # noqa: E402
from mailflow.store.schema import Outbox  # noqa: E402
from tests.servers.dovecot import free_port  # noqa: E402
from tests.servers.smtp_sink import SmtpSink  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import postgres_databases  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
# What `mailflow run` uses unless configured otherwise.
DEFAULT_SENDERS = next(s.default for s in SETTINGS if s.name == "outbox.senders")

SENDER = "sisters@program.example"
TEMPLATE = "library-acknowledgement"
SECRET = b"bench-secret-long-enough-for-32-bytes-of-hmac-key"


def composer() -> Composer:
    """What the runtime gives the drainer: the packaged templates, the program's headers."""
    return Composer(Renderer([DEFAULT_TEMPLATES]), f"Sister Libraries <{SENDER}>",
                    "program.example", SECRET)  # fmt: skip


def spec(n: int, now: datetime) -> tuple[str, str, dict[str, Any]]:
    """Message-ID, recipient and spec of mail n, as letters.enqueue stores them."""
    rcpt = f"maria{n}@biblioteca.example.es"
    message_id = make_message_id(f"l{n}.{n:012x}", "program.example")
    context = sample_context(TEMPLATE, "en")
    context["library"] |= {"id": n, "contact_email": rcpt}
    context["recipient"] = {"name": "María López", "email": rcpt}
    made = make_spec(
        template=TEMPLATE, locales=["en"], context=context, to=[f"María López <{rcpt}>"], cc=[],
        tag=None, reply_to=f"sisters+l{n}.abcdefghij@program.example",
        in_reply_to=f"app{n}@client.example", references=[f"app{n}@client.example"], date=now,
    )  # fmt: skip
    return message_id, rcpt, made


def render(n: int, now: datetime, compose: Composer) -> tuple[str, str, bytes]:
    """Mail n's bytes, exactly as the drainer renders them (for the raw run)."""
    message_id, rcpt, made = spec(n, now)
    return message_id, rcpt, compose(made, message_id).raw


def _serve(port: int, conn: Connection) -> None:
    with SmtpSink(port=port, keep=False) as sink:
        conn.send("ready")
        conn.recv()  # until told to stop
        conn.send(sink.count)


class SinkProcess:
    """The sink in its own process, like a real relay: it does not share our GIL."""

    def __init__(self) -> None:
        self.host, self.port = "127.0.0.1", free_port()
        self._conn, child = multiprocessing.Pipe()
        self._process = multiprocessing.Process(target=_serve, args=(self.port, child))

    def __enter__(self) -> SinkProcess:
        self._process.start()
        if self._conn.recv() != "ready":
            raise SystemExit("the sink did not start")
        return self

    def stop(self) -> int:
        """Stop the sink; returns how many mails it accepted."""
        self._conn.send("stop")
        count = self._conn.recv()
        self._process.join()
        return count

    def __exit__(self, *exc: object) -> None:
        if self._process.is_alive():
            self._process.terminate()


RAW_CPU: list[float] = []  # CPU seconds of each raw run (this process)


def bench_raw(sink: SinkProcess, mails: list[tuple[str, str, bytes]]) -> float:
    cpu = time.process_time()
    start = time.perf_counter()
    with smtplib.SMTP(sink.host, sink.port, local_hostname="localhost") as smtp:
        for _, rcpt, raw in mails:
            smtp.sendmail(SENDER, [rcpt], raw)
    wall = time.perf_counter() - start
    RAW_CPU.append(time.process_time() - cpu)
    return wall


def _insert(url: str, count: int, rendered: list[tuple[str, str, bytes]] | None) -> None:
    """Insert each mail as a pending Outbox row holding its spec (one transaction); with
    `rendered`, the bytes rendered beforehand for the raw run instead (a row rendered at
    decision time, as before issue 11: the send path alone)."""
    db = Database(url)
    clock = SystemClock()
    now = clock.now()
    try:
        with db.unit_of_work() as session:
            for n in range(count):
                message_id, rcpt, made = spec(n, now)
                raw = rendered[n][2] if rendered else b""
                session.add(
                    Outbox(
                        message_id=message_id,
                        template=TEMPLATE,
                        locale="en",
                        sender=SENDER,
                        recipients=[rcpt],
                        subject="",
                        raw=raw,
                        spec=None if rendered else made,
                        status="pending",
                        attempts=0,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
    finally:
        db.dispose()


def _drain_worker(url: str, host: str, port: int, senders: int, conn: Connection) -> None:
    """One worker process: drain() through its own SmtpTransport until nothing is due."""
    db = Database(url)
    transport = SmtpTransport(host, port, connections=senders)
    try:
        with db.engine.connect():
            pass  # the first connection (and the driver's imports) are start-up, not the drain
        conn.send("ready")
        conn.recv()  # start together
        cpu = time.process_time()  # all threads of the worker: its senders too
        report = drain(db, SystemClock(), transport, senders=senders, render=composer())
        conn.send((report.sent, time.process_time() - cpu))
    finally:
        transport.close()
        db.dispose()


def bench_mailflow(
    sink: SinkProcess,
    count: int,
    url: str,
    workers: int,
    senders: int,
    rendered: list[tuple[str, str, bytes]] | None,
) -> tuple[float, float, float]:
    """Seconds for insert + drain and for the drain alone, and the CPU seconds the workers
    spent draining (summed over the `workers` processes)."""
    db = Database(url)
    db.upgrade()  # schema set-up is not part of the measurement
    db.dispose()
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter, like `mailflow run`
    pipes, procs = [], []
    for _ in range(workers):
        mine, theirs = ctx.Pipe()
        proc = ctx.Process(target=_drain_worker, args=(url, sink.host, sink.port, senders, theirs))
        proc.start()
        pipes.append(mine)
        procs.append(proc)
    for pipe in pipes:  # their imports and start-up are not the drain's speed
        if pipe.recv() != "ready":
            raise SystemExit("a drain worker did not start")
    start = time.perf_counter()
    _insert(url, count, rendered)
    drain_start = time.perf_counter()
    for pipe in pipes:
        pipe.send("go")
    reports = [pipe.recv() for pipe in pipes]
    sent = sum(r[0] for r in reports)
    cpu = sum(r[1] for r in reports)
    end = time.perf_counter()
    for proc in procs:
        proc.join()
    if sent != count:
        raise SystemExit(f"mailflow sent {sent} of {count}")
    return end - start, end - drain_start, cpu


def profile_drain(sink: SinkProcess, count: int, url: str, rendered: Any, top: int) -> None:
    """One drain in this process with one sender (cProfile sees one thread), printed by
    internal time: where the drainer's own Python goes per mail."""
    import cProfile
    import pstats

    db = Database(url)
    db.upgrade()
    _insert(url, count, rendered)
    transport = SmtpTransport(sink.host, sink.port)
    try:
        with db.engine.connect():
            pass
        profiler = cProfile.Profile()
        cpu = time.process_time()
        profiler.enable()
        report = drain(db, SystemClock(), transport, senders=1, render=composer())
        profiler.disable()
        cpu = time.process_time() - cpu
    finally:
        transport.close()
        db.dispose()
    print(f"profiled drain: {report.sent} mails, {cpu / count * 1000:.2f} ms CPU a mail (profiled)")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument(
        "--databases", default="sqlite,postgresql", help="sqlite, postgresql or both (default)"
    )
    parser.add_argument(
        "--workers", default="1,2", help="drain worker processes on PostgreSQL (1,2)"
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES_ADMIN_URL", PG_ADMIN),
        help=f"admin URL; a scratch database is made and dropped through it ({PG_ADMIN})",
    )
    parser.add_argument(
        "--senders",
        type=int,
        default=DEFAULT_SENDERS,
        help=f"outbox.senders per worker (default {DEFAULT_SENDERS}, as `mailflow run`)",
    )
    parser.add_argument(
        "--rows",
        default="spec,bytes",
        help="spec: rows as decisions queue them (the drainer renders); bytes: rendered "
        "beforehand (rows queued before issue 11, or whose context JSON cannot carry)",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each, the best counts (default 3)"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="only profile one in-process drain (first database and rows kind, 1 sender)",
    )
    parser.add_argument("--top", type=int, default=30, help="profile entries shown (30)")
    args = parser.parse_args()
    count = args.messages
    kinds = [k.strip() for k in args.databases.split(",") if k.strip()]
    worker_counts = [int(k) for k in args.workers.split(",") if k.strip()]

    now = datetime.now(UTC)
    compose = composer()
    mails = [render(n, now, compose) for n in range(count)]
    size = sum(len(raw) for _, _, raw in mails) / count
    modes = {"spec": None, "bytes": mails}
    chosen = [m.strip() for m in args.rows.split(",") if m.strip()]
    for mode in chosen:
        if mode not in modes:
            raise SystemExit(f"unknown rows {mode!r}: spec or bytes")
    for kind in kinds:
        if kind not in ("sqlite", "postgresql"):
            raise SystemExit(f"unknown database {kind!r}: sqlite or postgresql")
    configs = [
        (mode, kind, k)
        for kind in kinds
        for mode in chosen
        for k in (worker_counts if kind == "postgresql" else [1])
    ]
    raws: list[float] = []  # mails/s of every raw run
    runs: dict[tuple[str, str, int], list[tuple[float, float, float]]] = {c: [] for c in configs}
    with (
        SinkProcess() as sink,
        tempfile.TemporaryDirectory() as tmp,
        contextlib.ExitStack() as stack,
    ):
        fresh = (
            stack.enter_context(postgres_databases(args.postgres))
            if "postgresql" in kinds
            else None
        )
        expected = 0
        if args.profile:
            mode, kind = chosen[0], kinds[0]
            url = f"sqlite:///{tmp}/profile.sqlite3" if kind == "sqlite" else fresh("prof")  # type: ignore[misc]
            profile_drain(sink, count, url, modes[mode], args.top)
            sink.stop()
            return
        # On a shared machine the load moves under a run: every figure is the best of
        # --repeat runs, and the raw limit is measured again between the mailflow runs.
        for n in range(args.repeat):
            raws.append(count / bench_raw(sink, mails))
            expected += count
            for mode, kind, k in configs:
                if kind == "sqlite":
                    url = f"sqlite:///{tmp}/bench-{mode}-{n}.sqlite3"
                else:
                    assert fresh is not None
                    url = fresh(f"out{k}{mode}{n}")
                runs[(mode, kind, k)].append(
                    bench_mailflow(sink, count, url, k, args.senders, modes[mode])
                )
                raws.append(count / bench_raw(sink, mails))
                expected += 2 * count
        received = sink.stop()
    if received != expected:
        raise SystemExit(f"sink received {received}, expected {expected}")

    best_raw = max(raws)
    print(
        f"{count} mails of ~{size:.0f} bytes to an aiosmtpd sink (own process) on loopback; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
        f"{args.senders} sender(s) per worker; best of {args.repeat} run(s) each"
    )
    print(
        f"(a) raw smtplib, pre-rendered, one connection: best {best_raw:.0f} mails/s, median "
        f"{statistics.median(raws):.0f} (all {len(raws)}: {', '.join(f'{r:.0f}' for r in raws)})"
    )
    print(
        f"    raw client CPU: {min(RAW_CPU) / count * 1000:.2f} ms a mail (least of the runs); "
        "the sink's and PostgreSQL's CPU are in neither figure"
    )
    what = {
        "spec": "(b) spec rows, drain renders + sends",
        "bytes": "(b') byte rows, drain sends",
    }
    for (mode, kind, k), results in runs.items():
        # The drain is what is compared: the raw run has its mails ready in memory, the drain
        # has them ready in the database. Queueing them (the decision's insert) is ingest's
        # cost (bench/ingest.py); the rate with it is printed beside, not judged.
        drain_rate = max(count / drained for _, drained, _ in results)
        rate = max(count / total for total, _, _ in results)
        cpu = min(c for _, _, c in results) / count * 1000
        verdict = "ok" if drain_rate / best_raw >= 0.5 else "BELOW TARGET"
        label = f"{kind}, {k} worker{'s' if k > 1 else ''}"
        print(
            f"{what[mode]}, {label}: drain {drain_rate:6.0f} mails/s, b/a = "
            f"{drain_rate / best_raw:.2f} (target >= 0.5: {verdict}); with the insert "
            f"{rate:.0f}/s ({rate / best_raw:.2f}); worker CPU {cpu:.2f} ms a mail"
        )


if __name__ == "__main__":
    main()
