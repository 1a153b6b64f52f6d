"""Latency: from delivery to a processed inbox row, over IMAP IDLE and over mailflow's LMTP.

    python bench/latency.py [--messages 50]

Starts a private Dovecot and mailflow in-process (`Runtime(services).start()`: IMAP with IDLE,
the default, plus the LMTP endpoint on a free port; SQLite in a temp dir), waits until it idles,
then delivers messages one at a time:

  IMAP: APPEND to the user's INBOX from a separate, already logged-in connection;
  LMTP: smtplib.LMTP to mailflow's own endpoint (a new connection per message, as an MTA
        delivering one message would).

Each latency runs from just before the delivery starts until a separate SQLAlchemy connection,
polling every 5 ms, sees the message's inbox row (by Message-ID) committed with a status other
than `new`. The next message is delivered only after that. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import logging
import math
import shutil
import smtplib
import statistics
import time

import common
import corpus
from sqlalchemy import create_engine, text

from tests.servers.dovecot import free_port

POLL = 0.005


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(pct / 100 * len(ordered)) - 1))  # nearest rank
    return ordered[k]


class Watcher:
    """Polls the inbox table for one Message-ID with its own engine (its own connection)."""

    def __init__(self, database: str, timeout: float) -> None:
        self.timeout = timeout
        self.engine = create_engine(f"sqlite:///{database}")
        self.query = text("SELECT status FROM inbox WHERE message_id = :mid")

    def wait(self, mid: str, start: float) -> tuple[float | None, float | None, str]:
        """(seconds until the row was first seen, until it was processed, final status)."""
        seen = None
        status = "missing"
        with self.engine.connect() as conn:
            while time.perf_counter() - start < self.timeout:
                status = conn.execute(self.query, {"mid": mid}).scalar() or "missing"
                conn.rollback()  # end the read transaction so the next poll sees new commits
                now = time.perf_counter()
                if status != "missing" and seen is None:
                    seen = now - start
                if status not in ("missing", "new"):
                    return seen, now - start, status
                time.sleep(POLL)
        return seen, None, status

    def dispose(self) -> None:
        self.engine.dispose()


def summary(name: str, values: list[float]) -> str:
    if not values:
        return f"{name}: no samples"
    ms = [v * 1000 for v in values]

    def fmt(value: float) -> str:
        return f"{value:7.1f} ms" if math.isfinite(value) else "  never   "

    return (
        f"{name}: n={len(ms)}  p50 {fmt(statistics.median(ms))}   "
        f"p95 {fmt(percentile(ms, 95))}   max {fmt(max(ms))}   min {fmt(min(ms))}"
    )


def settle_imap(client, quiet: float, timeout: float) -> None:  # noqa: ANN001
    """Wait until mailflow has moved everything out of INBOX, then `quiet` seconds more."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if client.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"] == 0:
            break
        time.sleep(POLL)
    time.sleep(quiet)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--messages", type=int, default=50, help="messages per route (50)")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds to let mailflow idle (1)")
    ap.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="give up waiting for one message after this many seconds (10); it counts as missed",
    )
    ap.add_argument("--log", help="write mailflow's INFO log to this file")
    args = ap.parse_args()
    n = args.messages
    timeout = args.timeout

    from mailflow.app import build
    from mailflow.runtime import Runtime
    from mailflow.settings import load

    if args.log:
        handler = logging.FileHandler(args.log, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(threadName)s %(name)s: %(message)s"))
        logging.getLogger("mailflow").addHandler(handler)
        logging.getLogger("mailflow").setLevel(logging.INFO)

    # Distinct messages for each pass: the same bytes twice would be a duplicate.
    messages = corpus.corpus(3 * n, seed=7)
    passes = {
        "imap": messages[:n],
        "imap_settled": messages[n : 2 * n],
        "lmtp": messages[2 * n :],
    }
    work = common.shm_dir("mflat")
    atexit.register(shutil.rmtree, work, True)  # also when a step fails
    database = work / "mailflow.sqlite3"
    processed: dict[str, list[float]] = {name: [] for name in passes}
    first_seen: dict[str, list[float]] = {name: [] for name in passes}
    acked: list[float] = []
    missed: dict[str, list[str]] = {name: [] for name in passes}
    with common.dovecot() as server:
        port = free_port()
        env = common.mailflow_env(
            server,
            database,
            MAILFLOW_INBOUND_LISTEN="lmtp",
            MAILFLOW_INBOUND_HOST="127.0.0.1",
            MAILFLOW_INBOUND_PORT=str(port),
        )
        # Relative settings (rules/, templates/, outbound maildir) resolve against the current
        # folder, as for `mailflow run` started there: keep them in the private work dir.
        with contextlib.chdir(work):
            services = build(load(None, env=env))
        runtime = Runtime(services)
        runtime.start()
        watcher = Watcher(str(database), timeout)
        sender = common.login(server)
        try:
            time.sleep(args.settle)  # first (empty) sync done, IDLE issued
            print(
                f"mailflow running against a private Dovecot {common.dovecot_version()} "
                f"(IMAP IDLE) and its LMTP endpoint on 127.0.0.1:{port}; {n} messages per pass"
            )
            for name, batch in passes.items():
                for raw in batch:
                    mid = corpus.message_id(raw)
                    if name == "imap_settled":
                        settle_imap(sender, 0.1, timeout)
                    start = time.perf_counter()
                    if name == "lmtp":
                        with smtplib.LMTP(
                            "127.0.0.1", port, local_hostname="localhost", timeout=10
                        ) as lmtp:
                            refused = lmtp.sendmail("sender@example.org", [common.USER], raw)
                        acked.append(time.perf_counter() - start)
                        if refused:
                            missed[name].append(f"{mid}: refused {refused}")
                            continue
                    else:
                        sender.append("INBOX", raw)
                    seen, done, status = watcher.wait(mid, start)
                    if done is None:
                        missed[name].append(f"{mid}: {status} after {timeout:.0f} s")
                        done = math.inf
                    processed[name].append(done)
                    first_seen[name].append(math.inf if seen is None else seen)
        finally:
            with contextlib.suppress(Exception):  # best effort
                sender.logout()
            watcher.dispose()
            runtime.stop()
            services.db.dispose()

    print()
    print("delivery -> inbox row processed (status != new), polled every 5 ms:")
    print("  " + summary("IMAP  APPEND -> IDLE -> processed", processed["imap"]))
    print("  " + summary("LMTP  endpoint -> processed      ", processed["lmtp"]))
    print("intermediate points and variants:")
    print("  " + summary("IMAP  row first seen (stored)    ", first_seen["imap"]))
    print("  " + summary("IMAP  settled -> processed (*)   ", processed["imap_settled"]))
    print("  " + summary("LMTP  250 reply (row committed)  ", acked))
    print(
        "  (*) settled: the next APPEND only once mailflow has moved the previous message out"
        " of INBOX, plus 100 ms to re-enter IDLE"
    )
    for name, items in missed.items():
        if items:
            print(
                f"  {name}: {len(items)} of {len(passes[name])} not processed within "
                f"{timeout:.0f} s (counted as infinite above), e.g. {items[0]}"
            )
    p50_imap = statistics.median(processed["imap"]) * 1000
    p50_lmtp = statistics.median(processed["lmtp"]) * 1000
    print()
    print(
        f"target IMAP p50 < 800 ms (Dovecot holds IDLE notices ~500 ms): "
        f"{'PASS' if p50_imap < 800 else 'FAIL'} ({p50_imap:.0f} ms)"
    )
    print(f"target LMTP p50 < 100 ms: {'PASS' if p50_lmtp < 100 else 'FAIL'} ({p50_lmtp:.0f} ms)")
    lost = sum(len(v) for v in missed.values())
    print(f"every message processed within {timeout:.0f} s: {'PASS' if not lost else 'FAIL'}")


if __name__ == "__main__":
    main()
