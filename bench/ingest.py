"""Ingest throughput: how fast does mailflow empty an IMAP INBOX, against two baselines?

    python bench/ingest.py [--messages 5000] [--profile] [--keep-logs]

Starts a private Dovecot (tests/servers/dovecot.py, state on /dev/shm), fills INBOX with a
deterministic mix of program mail (bench/corpus.py), then measures in one run:

  (a) raw limit: imapclient LOGIN, SELECT, SEARCH ALL, FETCH BODY.PEEK[] in batches of 200;
  (b) naive pipeline: the same FETCH, stdlib email parsing (policy.default, get_body,
      get_content) and one SQLAlchemy ORM row per message in a fresh SQLite (WAL) file,
      committed every 200;
  (c) mailflow: `Runtime(services).run_once()` in-process (the main figure, with a breakdown):
      ingest, i.e. FETCH, store, parse, decide, outbox rows written, move (the services are
      built and the parse worker started before the clock runs, as `mailflow run` does at
      start-up); the outbox drain that run_once does at the end (render + send) is timed
      and printed apart. Then
      `python -m mailflow run --once` as a subprocess (process start and drain included; the
      peak RSS of it and of its parse worker is the memory figure). Both start from a fresh
      database and a full INBOX and are verified afterwards: N inbox rows, all done or
      quarantined, INBOX empty.

Figures are printed, never asserted: the exit status is 0 whatever the targets say.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import cProfile
import email.parser
import email.policy
import io
import logging
import os
import pstats
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import common
import corpus
from sqlalchemy import LargeBinary, String, Text, create_engine, event, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

BATCH = 200
OUT = common.ROOT / "bench" / "out"


# -- (a) raw IMAP ---------------------------------------------------------------------------
def fetch_batches(server) -> Iterator[dict]:  # noqa: ANN001
    """LOGIN, SELECT INBOX, SEARCH ALL, then FETCH BODY.PEEK[] 200 at a time."""
    client = common.login(server)
    try:
        client.select_folder("INBOX")
        uids = sorted(client.search("ALL"))
        for i in range(0, len(uids), BATCH):
            yield client.fetch(uids[i : i + BATCH], [b"BODY.PEEK[]"])
    finally:
        client.logout()


def measure_raw(server) -> tuple[float, int, int]:  # noqa: ANN001
    start = time.perf_counter()
    count = size = 0
    for fetched in fetch_batches(server):
        for data in fetched.values():
            count += 1
            size += len(data[b"BODY[]"])
    return time.perf_counter() - start, count, size


# -- (b) naive pipeline -----------------------------------------------------------------------
class NaiveBase(DeclarativeBase):
    pass


class NaiveMessage(NaiveBase):
    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str | None] = mapped_column(String(998))
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[bytes] = mapped_column(LargeBinary)


def _wal(dbapi_conn, _record) -> None:  # noqa: ANN001
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def measure_naive(server, url: str) -> tuple[float, int, int, float]:  # noqa: ANN001
    """Wall seconds, messages, body errors, and this process's CPU seconds."""
    start, cpu = time.perf_counter(), time.process_time()
    engine = create_engine(url)
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _wal)
    NaiveBase.metadata.create_all(engine)
    parser = email.parser.BytesParser(policy=email.policy.default)
    count = errors = 0
    with Session(engine) as session:
        for fetched in fetch_batches(server):
            for data in fetched.values():
                raw = bytes(data[b"BODY[]"])
                msg = parser.parsebytes(raw)
                try:
                    part = msg.get_body(("plain", "html"))
                    body = part.get_content() if part is not None else None
                except Exception:  # noqa: BLE001 - a naive pipeline just skips the body
                    body, errors = None, errors + 1
                try:
                    subject = str(msg["subject"] or "")
                    message_id = str(msg["message-id"] or "")
                except Exception:  # noqa: BLE001
                    subject = message_id = ""
                    errors += 1
                session.add(
                    NaiveMessage(message_id=message_id, subject=subject, body=body, raw=raw)
                )
                count += 1
            session.commit()
    engine.dispose()
    return time.perf_counter() - start, count, errors, time.process_time() - cpu


# -- (c) mailflow -----------------------------------------------------------------------------
class Timings:
    """Wall time spent inside selected functions while a run is patched."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)  # this process's CPU, all threads
        self.calls: dict[str, int] = defaultdict(int)

    @contextlib.contextmanager
    def patched(self, targets: list[tuple[object, str, str]]) -> Iterator[None]:
        saved = []
        for owner, attr, label in targets:
            original = getattr(owner, attr)
            saved.append((owner, attr, original))
            setattr(owner, attr, self._wrap(original, label))
        try:
            yield
        finally:
            for owner, attr, original in reversed(saved):
                setattr(owner, attr, original)

    def _wrap(self, fn: Callable, label: str) -> Callable:
        def timed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            start, cpu = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - start
                self.cpu[label] += time.process_time() - cpu
                self.calls[label] += 1

        return timed


def _log_to(path: Path) -> logging.Handler:
    """mailflow's INFO lines to a file, as `mailflow run` would write them (to stderr)."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("mailflow")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return handler


def _unlog(handler: logging.Handler) -> None:
    logger = logging.getLogger("mailflow")
    logger.removeHandler(handler)
    handler.close()


def measure_inprocess(
    server,  # noqa: ANN001
    workdir: Path,
    url: str,
    profile: Path | None = None,
    profiler_kind: str = "cprofile",
) -> dict:
    database = url
    handler = _log_to(workdir / "mailflow.log")
    # Relative settings (rules/, templates/, the outbound maildir) resolve against the current
    # folder, as for `mailflow run` started there: keep them in the private work dir.
    with contextlib.chdir(workdir):
        return _run_inprocess(server, database, handler, profile, profiler_kind)


class _Pyinstrument:
    """pyinstrument's sampling profiler (the main thread: the dispatch) behind cProfile's
    enable/disable; its call tree is written as text and HTML next to `path`."""

    def __init__(self) -> None:
        from pyinstrument import Profiler  # the bench's own extra: pip install -e '.[bench]'

        self.profiler = Profiler(interval=0.0005)

    def enable(self) -> None:
        self.profiler.start()

    def disable(self) -> None:
        self.profiler.stop()

    def dump_stats(self, path: str) -> None:
        text = self.profiler.output_text(unicode=True, color=False, show_all=False)
        Path(path).write_text(text, encoding="utf-8")
        Path(path).with_suffix(".html").write_text(self.profiler.output_html(), encoding="utf-8")


def _run_inprocess(server, database: str, handler, profile: Path | None, kind: str) -> dict:  # noqa: ANN001
    from imapclient import IMAPClient

    import mailflow.dispatch  # noqa: F401 - loads the modules patched below
    from mailflow.app import build
    from mailflow.inbound.imap import ImapSource
    from mailflow.runtime import Runtime
    from mailflow.sandbox import shared_worker
    from mailflow.settings import load

    try:
        settings = load(None, env=common.mailflow_env(server, database))
        start = time.perf_counter()
        services = build(settings)  # includes the Alembic upgrade of the empty file
        # A deployed `mailflow run` starts its parse worker once, at start-up (Runtime.start):
        # the rate is a warm worker's, as for the worker runs below; (c') pays the cold start.
        shared_worker().start()
        built = time.perf_counter()
        runtime = Runtime(services)
        timings = Timings()
        targets = [
            (ImapSource, "connect", "connect"),
            (IMAPClient, "fetch", "fetch"),
            (ImapSource, "_store_batch", "store_batch"),
            (Runtime, "process", "process"),
            (ImapSource, "_move_done", "move"),
            (Runtime, "fire_timers", "timers"),
            (Runtime, "drain", "drain"),
        ]
        # The per-message steps, wherever dispatch keeps them (module globals are patched so
        # the caller's own name lookup finds the timed wrapper).
        for name, module in sorted(sys.modules.items()):
            if name == "mailflow.dispatch" or name.startswith("mailflow.dispatch."):
                for attr, label in (("parse_message", "parse"), ("act", "act"), ("route", "act")):
                    if callable(getattr(module, attr, None)):
                        targets.append((module, attr, label))
        # Parsing runs in the parse worker process, fed from a thread while the batch before
        # is dispatched: the thread's time (overlapped), and the main thread's wait for it.
        sandbox = sys.modules.get("mailflow.sandbox")
        if sandbox is not None:
            targets.append((sandbox.ParseWorker, "parse", "parse"))
        inbox = sys.modules.get("mailflow.dispatch.inbox")
        if inbox is not None and hasattr(inbox, "ParseAhead"):
            targets.append((inbox.ParseAhead, "results", "parse_wait"))
        targets = [t for t in targets if callable(getattr(t[0], t[1], None))]
        profiler: cProfile.Profile | _Pyinstrument | None = None
        if profile:
            profiler = _Pyinstrument() if kind == "pyinstrument" else cProfile.Profile()
        with timings.patched(targets):
            run_start, cpu_start = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            report = runtime.run_once()
            if profiler:
                profiler.disable()
            run_end, cpu_end = time.perf_counter(), time.process_time()
        services.db.dispose()
    finally:
        _unlog(handler)
    if profiler and profile:
        profiler.dump_stats(str(profile))
    drained = timings.seconds["drain"]
    return {
        "build": built - start,
        # Ingest: taken in, decided, outbox rows written, moved; the drain (render + send)
        # that run_once does at the end is timed apart.
        "run": run_end - run_start - drained,
        "run_total": run_end - run_start,
        "drain": drained,
        "cpu": cpu_end - cpu_start - timings.cpu["drain"],
        "stored": report.stored_imap,
        "report": report.processed,
        "timings": timings,
        "database": database,
    }


def measure_subprocess(server, workdir: Path, url: str) -> dict:  # noqa: ANN001
    proc = start_mailflow(server, workdir, url)
    result = proc.wait()
    result["database"] = url
    return result


class RssWatch:
    """Peak RSS (VmHWM) of a process tree, polled from /proc: the `mailflow run` process and
    its parse worker (`python -m mailflow.sandbox`) apart, since GNU time's figure is only the
    larger of the two. VmHWM never falls, so the last poll before a process ends holds its
    peak (growth in its final 0.2 s aside)."""

    ROLES = (("mailflow.sandbox", "parse"), ("mailflow run", "main"))

    def __init__(self, root: int) -> None:
        self.root = root
        self.peak_kb: dict[str, int] = defaultdict(int)
        self.pids: dict[str, set[int]] = defaultdict(set)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.poll()

    def poll(self) -> None:
        parents: dict[int, list[int]] = defaultdict(list)
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
                parents[int(stat.rsplit(")", 1)[1].split()[1])].append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
        todo, tree = [self.root], []
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(parents.get(pid, []))
        for pid in tree:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            if cmdline.startswith(str(GNU_TIME)):
                continue  # the wrapper, whose command line names mailflow too
            role = next((r for key, r in self.ROLES if key in cmdline), None)
            hwm = next(
                (line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")), None
            )
            if role and hwm:
                self.peak_kb[role] = max(self.peak_kb[role], int(hwm))
                self.pids[role].add(pid)

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        return {role: kb / 1024 for role, kb in self.peak_kb.items()}


class MailflowProcess:
    """`python -m mailflow run --once` under GNU time (its peak RSS), output in workdir."""

    def __init__(self, server, workdir: Path, url: str, once: bool = True, **extra: str) -> None:  # noqa: ANN001
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILFLOW_")}
        env.update(common.mailflow_env(server, url, **extra))
        self.stdout, self.stderr = workdir / "stdout.txt", workdir / "stderr.txt"
        self.timefile = workdir / "time.txt"
        command = [sys.executable, "-m", "mailflow", "run", *(["--once"] if once else [])]
        # ru_maxrss of a child spawned straight from here is useless: Linux carries the
        # parent's high-water mark across vfork+exec. GNU time forks mailflow from a tiny
        # process instead.
        if GNU_TIME.exists():
            command = [str(GNU_TIME), "-f", "%M %U %S", "-o", str(self.timefile), *command]
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
            self.start = time.perf_counter()
            self.proc = subprocess.Popen(
                command, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err
            )
        self.watch = RssWatch(self.proc.pid)

    def wait(self) -> dict:
        _, status, usage = os.wait4(self.proc.pid, 0)
        elapsed = time.perf_counter() - self.start
        peaks = self.watch.stop()
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        if self.timefile.exists():
            maxrss_kb, user_s, sys_s = self.timefile.read_text().split()[-3:]
            maxrss_mb, rss_note = int(maxrss_kb) / 1024, "/usr/bin/time"
            user, system = float(user_s), float(sys_s)
        else:
            maxrss_mb, rss_note = usage.ru_maxrss / 1024, "wait4, upper bound (includes the bench)"
            user, system = usage.ru_utime, usage.ru_stime
        err = self.stderr.read_text(errors="replace")
        return {
            "run": elapsed,
            "end": time.perf_counter(),
            "returncode": self.proc.returncode,
            "maxrss_mb": maxrss_mb,
            "rss_note": rss_note,
            # Peaks of the two processes of one worker, and their sum (an upper bound of what
            # the worker held at once).
            "rss_main": peaks.get("main", 0.0),
            "rss_parse": peaks.get("parse", 0.0),
            "rss_worker": peaks.get("main", 0.0) + peaks.get("parse", 0.0),
            "user_s": user,
            "sys_s": system,
            "stdout": self.stdout.read_text(errors="replace").strip(),
            "stderr_tail": err.strip().splitlines()[-5:],
            "log_lines": len(err.splitlines()),
        }


GNU_TIME = Path("/usr/bin/time")


def start_mailflow(server, workdir: Path, url: str, **extra: str) -> MailflowProcess:  # noqa: ANN001
    return MailflowProcess(server, workdir, url, **extra)


def _cpu_ticks(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])


def wait_ready(procs: list[MailflowProcess], timeout: float = 120.0) -> float:
    """Until every worker has its parse worker started and idle (warmed up, nothing to do):
    its CPU time unchanged for a second. Returns the seconds waited."""
    start = time.perf_counter()
    last: dict[int, tuple[int | None, float]] = {}
    while time.perf_counter() - start < timeout:
        ready = 0
        for proc in procs:
            proc.watch.poll()
            parse = sorted(proc.watch.pids.get("parse", ()))
            if not parse:
                continue
            pid = parse[-1]
            ticks, now = _cpu_ticks(pid), time.perf_counter()
            seen = last.get(pid)
            if seen is None or seen[0] != ticks:
                last[pid] = (ticks, now)
            elif now - seen[1] >= 1.0:
                ready += 1
        if ready == len(procs):
            break
        time.sleep(0.2)
    return time.perf_counter() - start


def cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, all cores, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def settled(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(text("SELECT count(*) FROM inbox WHERE status <> 'new'")) or 0)
    finally:
        engine.dispose()


def measure_workers(server, workdir: Path, url: str, workers: int) -> dict:  # noqa: ANN001
    """`workers` long-running `mailflow run` processes (IMAP off), started and warmed up
    first; then the bench's poller stores the whole INBOX and the clock runs until every
    stored row is handled (done, quarantined or dead), whichever worker took it.

    Process start (imports, the parse worker's start and language model) is not in the rate:
    a deployed worker pays it once, not per backlog; it is printed apart. The workers find the
    rows by their tick (`processing.tick_seconds` = 1) and drain the outbox meanwhile, as
    deployed. Afterwards they get SIGTERM, and the poller moves the handled mail (not timed).
    """
    from mailflow.app import build
    from mailflow.inbound.imap import ImapSource
    from mailflow.settings import load

    settings = load(None, env=common.mailflow_env(server, url))
    services = build(settings)  # the migration, not timed
    config = services.imap_config()
    assert config is not None
    start = time.perf_counter()
    procs = []
    for i in range(workers):
        folder = workdir / f"worker{i + 1}"
        folder.mkdir()
        # As deployed with several workers: the schema is upgraded once (`mailflow db
        # upgrade`, here the build above), so the workers do not migrate.
        procs.append(
            MailflowProcess(
                server, folder, url, once=False, MAILFLOW_IMAP_HOST="",
                MAILFLOW_DATABASE_AUTO_MIGRATE="false", MAILFLOW_PROCESSING_TICK_SECONDS="1",
            )
        )  # fmt: skip
    waited = wait_ready(procs)
    startup = time.perf_counter() - start
    start, jiffies = time.perf_counter(), cpu_jiffies()
    source = ImapSource(config, services.db, services.clock)  # stores, processes nothing
    source.connect()
    try:
        stored = source.sync()
    finally:
        source.close()
    store_seconds = time.perf_counter() - start
    while settled(url) < stored and time.perf_counter() - start < 1800:
        time.sleep(0.1)
    work_seconds = time.perf_counter() - start
    # How busy the machine's cores were meanwhile (workers, parse workers, PostgreSQL, Dovecot,
    # this bench): more workers can only go faster while the cores have time to spare.
    busy = [b - a for a, b in zip(jiffies, cpu_jiffies(), strict=True)]
    busy_share = busy[0] / busy[1] if busy[1] else 0.0
    for proc in procs:
        for pid in proc.watch.pids.get("main", ()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
    results = [p.wait() for p in procs]
    source = ImapSource(config, services.db, services.clock)
    source.connect()
    try:
        source.sync()  # moves what the workers handled
    finally:
        source.close()
    services.db.dispose()
    return {
        "stored": stored, "store": store_seconds, "work": work_seconds, "startup": startup,
        "ready_wait": waited, "workers": results, "busy": busy_share,
    }  # fmt: skip


def verify(server, url: str, expected: int) -> tuple[bool, str]:  # noqa: ANN001
    engine = create_engine(url)
    with engine.connect() as conn:
        statuses = dict(
            conn.execute(text("SELECT status, count(*) FROM inbox GROUP BY status")).all()
        )
        kinds = dict(
            conn.execute(text("SELECT kind, count(*) FROM message_facts GROUP BY kind")).all()
        )
    engine.dispose()
    folders = common.folder_counts(server)
    total = sum(statuses.values())
    settled = statuses.get("done", 0) + statuses.get("quarantined", 0)
    ok = total == expected and settled == expected and folders.get("INBOX", -1) == 0
    detail = (
        f"inbox rows {total} ({', '.join(f'{k} {v}' for k, v in sorted(statuses.items()))}); "
        f"kinds: {', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}; "
        f"folders: {', '.join(f'{k} {v}' for k, v in sorted(folders.items()))}"
    )
    return ok, detail


def restore_inbox(server) -> None:  # noqa: ANN001
    """Move everything mailflow moved away back into INBOX (server-side, fast)."""
    client = common.login(server)
    try:
        for folder in ("Processed", "Quarantine"):
            if not client.folder_exists(folder):
                continue
            client.select_folder(folder)
            uids = client.search("ALL")
            for i in range(0, len(uids), 1000):
                client.move(uids[i : i + 1000], "INBOX")
            client.close_folder()
    finally:
        client.logout()


def print_profile(path: Path, top: int) -> None:
    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.sort_stats("cumulative").print_stats(r"mailflow/|site-packages|/email/", top)
    lines = out.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    print("\n".join(lines[start:]))


# -- main -------------------------------------------------------------------------------------
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def run_database(server, kind: str, fresh: Callable[[str], str], work: Path, n: int, args) -> dict:  # noqa: ANN001, C901, PLR0915
    """(b), (c), (c') and the worker runs on one kind of database; prints as it goes."""
    out: dict = {"kind": kind}
    print(f"\n== {kind} ==")
    restore_inbox(server)
    seconds, count, errors, cpu = measure_naive(server, fresh("naive"))
    out["b"], out["b_cpu"] = seconds, cpu
    print(
        f"(b) naive pipeline: {count} messages in {seconds:.2f} s, CPU {cpu:.2f} s "
        f"({errors} body errors)"
    )

    restore_inbox(server)
    folder = work / f"{kind}-inproc"
    folder.mkdir()
    inproc = measure_inprocess(server, folder, fresh("inproc"))
    out["c"], out["c_cpu"], out["inproc"] = inproc["run"], inproc["cpu"], inproc
    ok_in, detail_in = verify(server, inproc["database"], n)
    p = inproc["report"]
    print(
        f"(c) mailflow in-process: build {inproc['build']:.2f} s, run_once "
        f"{inproc['run_total']:.2f} s = ingest {inproc['run']:.2f} s (CPU {inproc['cpu']:.2f} s) "
        f"+ outbox drain {inproc['drain']:.2f} s; stored {inproc['stored']}, done {p.done}, "
        f"quarantined {p.quarantined}, dead {p.dead}"
    )
    print(f"    verify: {'OK' if ok_in else 'FAILED'}: {detail_in}")

    restore_inbox(server)
    folder = work / f"{kind}-subproc"
    folder.mkdir()
    sub = measure_subprocess(server, folder, fresh("subproc"))
    out["c_sub"], out["rss"] = sub["run"], sub["rss_worker"]
    out["rss_parts"] = (sub["rss_main"], sub["rss_parse"])
    ok_sub, detail_sub = verify(server, sub["database"], n)
    print(
        f"(c') mailflow run --once subprocess: {sub['run']:.2f} s wall "
        f"(user {sub['user_s']:.2f} s, sys {sub['sys_s']:.2f} s), exit {sub['returncode']}, "
        f"peak RSS: mailflow {sub['rss_main']:.0f} MB + parse worker {sub['rss_parse']:.0f} MB "
        f"= {sub['rss_worker']:.0f} MB (from /proc; {sub['rss_note']}: {sub['maxrss_mb']:.0f} MB, "
        f"the larger of the two), {sub['log_lines']} log lines"
    )
    print("    stdout: " + "\n            ".join(sub["stdout"].splitlines()))
    if sub["returncode"] != 0:
        print("    stderr tail:\n      " + "\n      ".join(sub["stderr_tail"]))
    print(f"    verify: {'OK' if ok_sub else 'FAILED'}: {detail_sub}")
    out["verified"] = ok_in and ok_sub

    out["workers"] = {}
    if kind == "postgresql":
        for k in args.workers:
            restore_inbox(server)
            folder = work / f"{kind}-workers{k}"
            folder.mkdir()
            url = fresh(f"w{k}")
            run = measure_workers(server, folder, url, k)
            ok, detail = verify(server, url, n)
            out["verified"] = out["verified"] and ok
            out["workers"][k] = run
            rss = ", ".join(
                f"{r['rss_main']:.0f}+{r['rss_parse']:.0f}={r['rss_worker']:.0f}"
                for r in run["workers"]
            )
            exits = {r["returncode"] for r in run["workers"]}
            print(
                f"(c{k}) {k} `mailflow run` worker(s) (no IMAP) started and warmed up in "
                f"{run['startup']:.2f} s (not timed); the poller stored {run['stored']} in "
                f"{run['store']:.2f} s and all were handled {run['work']:.2f} s after the store "
                f"began; peak RSS per worker (mailflow+parse worker) {rss} MB; exits {sorted(exits)}; "
                f"the machine's {os.cpu_count()} cores were {run['busy']:.0%} busy meanwhile"
            )
            for r in run["workers"]:
                if r["returncode"] != 0:
                    print("    stderr tail:\n      " + "\n      ".join(r["stderr_tail"]))
            print(f"    verify: {'OK' if ok else 'FAILED'}: {detail}")

    if args.profile:
        restore_inbox(server)
        folder = work / f"{kind}-profile"
        folder.mkdir()
        OUT.mkdir(parents=True, exist_ok=True)
        pyinstrument = args.profiler == "pyinstrument"
        out["profile"] = OUT / f"ingest-{kind}.{'pyinstrument.txt' if pyinstrument else 'prof'}"
        prof = measure_inprocess(
            server, folder, fresh("profile"), profile=out["profile"], profiler_kind=args.profiler
        )
        ok_prof, _ = verify(server, prof["database"], n)
        print(
            f"(profiled) run_once under {args.profiler}: {prof['run']:.2f} s "
            f"(verify {'OK' if ok_prof else 'FAILED'}); {out['profile']}"
        )
    return out


def print_breakdown(kind: str, inproc: dict, n: int) -> None:
    t = inproc["timings"].seconds
    total = inproc["run_total"]
    store = t["store_batch"] - t["fetch"]
    process = t["process"]
    known = t["connect"] + t["store_batch"] + process + t["move"] + t["timers"] + t["drain"]
    print()
    print(
        f"{kind}: breakdown of the in-process run_once ({total:.2f} s, of which ingest "
        f"{inproc['run']:.2f} s; build + migrate + parse worker start {inproc['build']:.2f} s not included):"
    )
    parts = [
        ("connect + login + select", t["connect"]),
        ("IMAP FETCH (imapclient)", t["fetch"]),
        ("store: hash + dedupe lookups + insert + commit", store),
        ("process_pending (after each stored batch)", process),
        ("  waiting for the parse (what dispatch did not hide)", t["parse_wait"]),
        ("  act/route (records, workflow, outbox rows)", t["act"]),
        ("  rest: claim, locks, lookups, facts rows, commit", process - t["parse_wait"] - t["act"]),
        ("move to Processed/Quarantine (SEARCH + MOVE)", t["move"]),
        ("timers", t["timers"]),
        ("outbox drain (render + send; not ingest)", t["drain"]),
        ("other (STATUS, SEARCH, cursor, logout)", total - known),
    ]
    for label, seconds in parts:
        print(f"  {label:52}{seconds:8.2f} s {seconds / total:6.1%}")
    print(
        f"  beside them: the parse thread fed the parse worker for {t['parse']:.2f} s "
        f"({t['parse'] / n * 1e3:.2f} ms a message), overlapped with the dispatch above"
    )
    print(
        f"  per message: act/route {t['act'] / n * 1e3:.2f} ms, "
        f"process total {process / n * 1e3:.2f} ms, store {store / n * 1e3:.2f} ms, "
        f"fetch {t['fetch'] / n * 1e3:.2f} ms, drain {t['drain'] / n * 1e3:.2f} ms"
    )


def main() -> None:  # noqa: C901, PLR0915
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--messages", type=int, default=5000, help="messages in INBOX (5000)")
    ap.add_argument(
        "--databases",
        default="sqlite,postgresql",
        help="which databases, comma-separated: sqlite, postgresql (both)",
    )
    ap.add_argument(
        "--workers",
        default="1,2,4",
        help="worker counts for the PostgreSQL worker runs, comma-separated (1,2,4); '' for none",
    )
    ap.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES_ADMIN_URL", PG_ADMIN),
        help=f"admin URL; scratch databases are created and dropped through it ({PG_ADMIN})",
    )
    ap.add_argument(
        "--profile",
        action="store_true",
        help="also profile an in-process run_once with cProfile (bench/out/ingest-DB.prof)",
    )
    ap.add_argument(
        "--profiler",
        choices=("cprofile", "pyinstrument"),
        default="cprofile",
        help="with --profile: cProfile (exact counts, every thread's calls) or pyinstrument "
        "(sampling, low overhead, a call tree: bench/out/ingest-DB.pyinstrument.txt and .html)",
    )
    ap.add_argument("--top", type=int, default=30, help="profile lines to print (30)")
    args = ap.parse_args()
    args.workers = [int(k) for k in args.workers.split(",") if k.strip()]
    kinds = [k.strip() for k in args.databases.split(",") if k.strip()]
    n = args.messages

    start = time.perf_counter()
    messages = corpus.corpus(n)
    size = sum(len(m) for m in messages)
    print(
        f"corpus: {n} messages, {size / 1e6:.1f} MB (mean {size / n / 1024:.1f} KiB), "
        f"generated in {time.perf_counter() - start:.1f} s; mix "
        + ", ".join(f"{k} {share:.0%}" for k, share in corpus.MIX)
        + f"; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    work = common.shm_dir("mfbench")
    atexit.register(shutil.rmtree, work, True)  # also when a step fails
    runs: list[dict] = []
    with common.dovecot() as server, contextlib.ExitStack() as stack:
        start = time.perf_counter()
        common.fill(server, messages)
        print(
            f"filled INBOX of a private Dovecot {common.dovecot_version()} in "
            f"{time.perf_counter() - start:.1f} s (MULTIAPPEND over one connection)"
        )

        raw_seconds, count, fetched = measure_raw(server)
        assert count == n, f"raw fetch saw {count} messages, expected {n}"
        print(f"(a) raw FETCH: {count} messages, {fetched / 1e6:.1f} MB in {raw_seconds:.2f} s")

        for kind in kinds:
            if kind == "sqlite":

                def fresh(label: str) -> str:
                    return common.database_url(work / f"{label}.sqlite3")

            elif kind == "postgresql":
                fresh = stack.enter_context(common.postgres_databases(args.postgres))
            else:
                sys.exit(f"unknown database {kind!r}: sqlite or postgresql")
            runs.append(run_database(server, kind, fresh, work, n, args))

    print()
    print(f"{n} messages; {os.cpu_count()} CPUs; load average now {os.getloadavg()[0]:.1f}")
    print(f"{'':56}{'seconds':>9}{'msg/s':>9}")
    print(f"{'(a) raw IMAP FETCH (imapclient)':56}{raw_seconds:9.2f}{n / raw_seconds:9.0f}")
    for run in runs:
        kind = run["kind"]
        rows = [
            (f"{kind}: (b) naive: FETCH + stdlib parse + ORM", run["b"]),
            (f"{kind}: (c) mailflow Runtime.run_once (in-process)", run["c"]),
            (f"{kind}: (c') mailflow run --once (subprocess)", run["c_sub"]),
        ]
        for k, w in run["workers"].items():
            rows.append((f"{kind}: (c{k}) {k} running worker(s), store to handled", w["work"]))
        for label, seconds in rows:
            print(f"{label:56}{seconds:9.2f}{n / seconds:9.0f}")
    print()
    for run in runs:
        kind, c_b = run["kind"], run["b"] / run["c"]
        print(
            f"{kind}: c/a = {raw_seconds / run['c']:.2f}   c/b = {c_b:.2f}   "
            f"c'/b = {run['b'] / run['c_sub']:.2f}   peak RSS of `mailflow run --once`: "
            f"{run['rss']:.0f} MB (mailflow {run['rss_parts'][0]:.0f} + parse worker "
            f"{run['rss_parts'][1]:.0f})"
        )
        c_total = run["inproc"]["run_total"]
        print(
            f"  (c) is ingest: taken in, parsed, decided, outbox rows written, moved; with the "
            f"outbox drain run_once took {c_total:.2f} s: (c+drain)/b = {run['b'] / c_total:.2f}"
        )
        print(f"  target c/b >= 0.5: {'PASS' if c_b >= 0.5 else 'FAIL'} ({c_b:.2f})")
        # Under load, wall time mostly measures the neighbours: CPU seconds of the bench
        # process (the database server's own CPU excluded) compare the work itself.
        print(
            f"  by CPU of this process: b {run['b_cpu']:.2f} s, c {run['c_cpu']:.2f} s, "
            f"c/b = {run['b_cpu'] / run['c_cpu']:.2f}"
        )
        # A worker is two processes: mailflow and its parse worker; both count.
        rss = [run["rss"]] + [
            r["rss_worker"] for w in run["workers"].values() for r in w["workers"]
        ]
        print(
            f"  target memory < 150 MB per worker (mailflow + parse worker): "
            f"{'PASS' if max(rss) < 150 else 'FAIL'} (max {max(rss):.0f} MB)"
        )
        if run["workers"]:
            rates = {k: n / w["work"] for k, w in run["workers"].items()}
            growing = all(
                rates[a] < rates[b] for a, b in zip(sorted(rates), sorted(rates)[1:], strict=False)
            )
            print(
                "  workers: "
                + ", ".join(
                    f"{k}: {r:.0f} msg/s (cores {run['workers'][k]['busy']:.0%} busy)"
                    for k, r in rates.items()
                )
                + f"; target c grows with workers: {'PASS' if growing else 'FAIL'}"
            )
        print(
            f"  verified (N rows done/quarantined, INBOX empty): {'PASS' if run['verified'] else 'FAIL'}"
        )
    for run in runs:
        print_breakdown(run["kind"], run["inproc"], n)
    print(
        f"bench process peak RSS (corpus + all of the above): "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )
    for run in runs:
        if run.get("profile") and args.profiler == "pyinstrument":
            print()
            print(f"{run['kind']}: pyinstrument call tree of run_once ({n} messages):")
            print(run["profile"].read_text(encoding="utf-8"))
        elif run.get("profile"):
            print()
            print(
                f"{run['kind']}: cProfile of run_once ({n} messages), top {args.top} by cumulative"
            )
            print(f"time, mailflow/, site-packages and email/ only (full data: {run['profile']}):")
            print_profile(run["profile"], args.top)


if __name__ == "__main__":
    main()
