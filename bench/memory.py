"""Memory under a backlog of large mail: 40 mails of 30 MB and a small one behind them.

    python bench/memory.py [--mails 40] [--mb 30] [--database sqlite|postgres URL]

Stores the mails in a fresh SQLite file (half with a 22 MB attachment, half with a 30 MB text
body), then runs `python -m mailflow run --once` and prints:

  - its peak RSS as `os.wait4` reports it (the process, and the parse worker it reaps: the
    larger of the two, not their sum; Linux carries this bench's own high-water mark into it,
    so it is an upper bound);
  - the peak of the summed RSS of the process and its children, sampled every 20 ms;
  - each process's own peak (VmHWM from /proc, as bench/ingest.py reads it): `mailflow run`
    and its parse worker, and their sum, the figure the 150 MB per worker target is about
    (an upper bound: the two peaks need not fall at the same moment);
  - how long the run took, and whether every mail (the small one too) was processed.

The target is 500 MB. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from mailflow.inbound.intake import Incoming, store  # noqa: E402
from mailflow.store.db import Database  # noqa: E402
from mailflow.store.schema import InboxMessage  # noqa: E402
from tests.helpers import PROGRAM, SECRET, T0, mail  # noqa: E402
from tests.test_poison import big_mail  # noqa: E402

TARGET_MB = 500
WORKER_TARGET_MB = 150  # issue 11: mailflow run + its parse worker


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def role(pid: int) -> str | None:
    """main (`mailflow run`), parse (its worker, `python -m mailflow.sandbox`) or None."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    if "mailflow.sandbox" in cmdline:
        return "parse"
    return "main" if "mailflow run" in cmdline else None


def tree(root: int) -> list[int]:
    """root and its descendants (from /proc/*/stat parent ids)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, ppid in parents.items() if ppid in frontier]
        found += frontier
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mails", type=int, default=40)
    parser.add_argument("--mb", type=int, default=30)
    parser.add_argument("--database", default="", help="a URL; default: a fresh SQLite file")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="mailflow-memory-"))
    url = args.database or f"sqlite:///{work / 'mailflow.sqlite3'}"
    db = Database(url)
    db.upgrade()
    started = time.perf_counter()
    for n in range(args.mails):
        with db.unit_of_work() as s:
            store(s, Incoming(raw=big_mail(n, args.mb * 1024 * 1024), source="file",
                              mailbox="bench"), T0)  # fmt: skip
    with db.unit_of_work() as s:
        small, _ = store(s, Incoming(raw=mail(sender="small@lib.example", subject="A question"),
                                     source="file", mailbox="bench"), T0)  # fmt: skip
        s.flush()
        small_id = small.id
    print(
        f"stored {args.mails} x {args.mb} MB + 1 small mail in {time.perf_counter() - started:.1f} s"
    )

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MAILFLOW_")},
        "MAILFLOW_DATABASE_URL": url, "MAILFLOW_PROGRAM_SECRET": SECRET,
        "MAILFLOW_PROGRAM_ADDRESS": PROGRAM, "MAILFLOW_INBOUND_LISTEN": "off",
        "MAILFLOW_OUTBOUND_MAILDIR": str(work / "outgoing"), "MAILFLOW_LOG_LEVEL": "WARNING",
    }  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "mailflow", "run", "--once"], cwd=work, env=env)
    summed = 0
    each: dict[int, int] = {}
    hwm = {"main": 0, "parse": 0}  # VmHWM never falls: the last poll holds the peak
    done = threading.Event()

    def sample() -> None:
        nonlocal summed
        while not done.is_set():
            now = {pid: rss_kb(pid) for pid in tree(proc.pid)}
            summed = max(summed, sum(now.values()))
            for pid, kb in now.items():
                each[pid] = max(each.get(pid, 0), kb)
                if (which := role(pid)) is not None:
                    hwm[which] = max(hwm[which], rss_kb(pid, "VmHWM"))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    done.set()
    sampler.join()
    took = time.perf_counter() - started
    with db.unit_of_work() as s:
        statuses = dict(s.execute(select(InboxMessage.id, InboxMessage.status)).all())
    db.dispose()
    print(f"mailflow run --once: exit {os.waitstatus_to_exitcode(status)}, {took:.1f} s")
    print(f"peak RSS (wait4 ru_maxrss):          {usage.ru_maxrss / 1024:7.0f} MB")
    print(f"peak RSS, process + children summed: {summed / 1024:7.0f} MB   (target {TARGET_MB})")
    print("  per process:", ", ".join(
        f"{'mailflow' if pid == proc.pid else f'child {pid}'} {kb / 1024:.0f} MB"
        for pid, kb in each.items()))  # fmt: skip
    print(
        f"peak per process (VmHWM): mailflow {hwm['main'] / 1024:.0f} MB + parse worker "
        f"{hwm['parse'] / 1024:.0f} MB = {(hwm['main'] + hwm['parse']) / 1024:.0f} MB per worker "
        f"(target {WORKER_TARGET_MB})"
    )
    counts: dict[str, int] = {}
    for value in statuses.values():
        counts[value] = counts.get(value, 0) + 1
    print(f"inbox rows: {counts}; the small mail behind them: {statuses[small_id]}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
