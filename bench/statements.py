"""Statements per message: what `Runtime.run_once` sends to the database for an INBOX of the
corpus's mix, by statement, and what the messages became.

    python bench/statements.py [--messages 1000] [--db sqlite|postgresql] [--top 40]
        [--profile [--cprofile]]

Counted with an engine event (`before_cursor_execute`, every statement or executemany once)
from run_once's start, less the outbox drain's own (sending is bench/outbound.py's subject).
The count includes the IMAP store (one insert per message) and the claims. --profile: a
pyinstrument call tree of the same run (--cprofile: cProfile, by own and cumulative time).
"""

from __future__ import annotations

import argparse
import atexit
import collections
import contextlib
import re
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import corpus  # noqa: E402
import ingest  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

counts: collections.Counter[str] = collections.Counter()
total = [0]


def _norm(sql: str) -> str:
    sql = " ".join(sql.split())
    sql = re.sub(r"\(__\[POSTCOMPILE_\w+\]\)", "(..)", sql)
    return re.sub(r"IN \(([^)]*)\)", "IN (..)", sql)[:150]


@event.listens_for(Engine, "before_cursor_execute")
def _count(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001, ARG001
    total[0] += 1
    counts[_norm(statement)] += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--db", default="sqlite", choices=("sqlite", "postgresql"))
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--cprofile", action="store_true")
    args = ap.parse_args()

    import mailflow.runtime as rt

    run_once, drain = rt.Runtime.run_once, rt.Runtime.drain
    in_drain = [0]

    def counted_run_once(self):  # noqa: ANN001, ANN202
        counts.clear()
        total[0] = 0  # the build's migration is not counted
        return run_once(self)

    def counted_drain(self, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        before = total[0]
        try:
            return drain(self, *a, **k)
        finally:
            in_drain[0] += total[0] - before

    rt.Runtime.run_once, rt.Runtime.drain = counted_run_once, counted_drain
    work = common.shm_dir("mfstatements")
    atexit.register(shutil.rmtree, work, True)
    n = args.messages
    with common.dovecot() as server, contextlib.ExitStack() as stack:
        common.fill(server, corpus.corpus(n))
        if args.db == "sqlite":
            url = common.database_url(work / "s.sqlite3")
        else:
            url = stack.enter_context(common.postgres_databases(ingest.PG_ADMIN))("statements")
        (work / "w").mkdir()
        prof = work / "profile.txt" if args.profile else None
        kind = "cprofile" if args.cprofile else "pyinstrument"
        start = time.perf_counter()
        res = ingest.measure_inprocess(server, work / "w", url, profile=prof, profiler_kind=kind)
        print(
            f"{n} messages, {args.db}: ingest {res['run']:.2f} s (CPU {res['cpu']:.2f} s), drain "
            f"{res['drain']:.2f} s; {time.perf_counter() - start:.0f} s in all"
        )
        ingest_statements = total[0] - in_drain[0]
        print(
            f"statements: {total[0]}, of which the drain {in_drain[0]}; ingest "
            f"{ingest_statements} = {ingest_statements / n:.2f} a message"
        )
        for sql, c in counts.most_common(args.top):
            print(f"{c:6d} {sql}")
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            print("outcomes (kind, code, messages):")
            q = "SELECT kind, outcome_code, count(*) FROM message_facts GROUP BY 1, 2 ORDER BY 1, 2"
            for row in conn.execute(sa.text(q)):
                print("  ", tuple(row))
            print("outbox (template, rows):")
            q = "SELECT template, count(*) FROM outbox GROUP BY 1 ORDER BY 2 DESC"
            for row in conn.execute(sa.text(q)):
                print("  ", tuple(row))
        engine.dispose()
        if prof is not None and args.cprofile:
            import pstats

            stats = pstats.Stats(str(prof))
            stats.sort_stats("tottime").print_stats(30)
            stats.sort_stats("cumulative").print_stats(r"mailflow/", 60)
        elif prof is not None:
            print(prof.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
