"""Timers at scale: one scheduler tick with nothing due, and one with 1,000 due.

    python bench/timers.py [--partnerships 10000,100000] [--due 1000]

Each partnership is in `trial` with its two pending timers (a check-in and the trial's end), as
the rules leave them, in a fresh SQLite file. A tick is `fire_due_timers` (what the scheduler
calls): with nothing due it must cost the same whatever the number of partnerships (an index
on status and due time); with 1,000 due it runs the whole workflow for each (decision, history,
a rendered check-in to both libraries). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, update  # noqa: E402

from mailflow.app import build  # noqa: E402
from mailflow.clock import FrozenClock  # noqa: E402
from mailflow.dispatch.timers import fire_due_timers  # noqa: E402
from mailflow.settings import load  # noqa: E402
from mailflow.store.schema import Contact, Library, Partnership, Timer  # noqa: E402

NOW = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)
LIBRARIES = 2000


def fill(services, partnerships: int) -> None:  # noqa: ANN001
    fields = {"library_name": "x", "country": "", "languages": "en", "contact_name": "Ann"}
    with services.db.unit_of_work() as s:
        s.execute(insert(Library), [
            {"id": i, "name": f"Library {i}", "state": "partnered", "fields": fields | {"library_name": f"Library {i}"},
             "missing": [], "data": {}, "hidden": False, "language": "en" if i % 3 else "zh",
             "country": f"Country {i % 40}", "created_at": NOW, "updated_at": NOW}
            for i in range(1, LIBRARIES + 1)
        ])  # fmt: skip
        s.execute(insert(Contact), [
            {"library_id": i, "email": f"librarian{i}@lib{i}.example", "name": "Ann", "status": "ok", "bounce_count": 0}
            for i in range(1, LIBRARIES + 1)
        ])  # fmt: skip
        rows, timers, n = [], [], 0
        for a in range(1, LIBRARIES + 1):
            for b in range(a + 1, LIBRARIES + 1):
                if n == partnerships:
                    break
                n += 1
                rows.append({"id": n, "library_a_id": a, "library_b_id": b, "state": "trial", "reasons": [], "data": {},
                             "informal": False, "created_at": NOW, "updated_at": NOW, "trial_at": NOW - timedelta(days=10)})  # fmt: skip
                for name, days in (("trial-checkin", 20 + n % 10), ("trial-end", 85)):
                    timers.append({"record_type": "partnership", "record_id": n, "name": name, "state": "trial",
                                   "due_at": NOW + timedelta(days=days), "status": "pending", "sequence": 1, "created_at": NOW})  # fmt: skip
            if n == partnerships:
                break
        for i in range(0, len(rows), 20000):
            s.execute(insert(Partnership), rows[i : i + 20000])
        for i in range(0, len(timers), 20000):
            s.execute(insert(Timer), timers[i : i + 20000])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--partnerships", default="10000,100000")
    parser.add_argument("--due", type=int, default=1000)
    args = parser.parse_args()
    print("partnerships   pending timers   tick, nothing due   tick, N due (fired)   per timer")
    for count in (int(x) for x in args.partnerships.split(",")):
        folder = Path(tempfile.mkdtemp(prefix="mailflow-timers-"))
        env = {"MAILFLOW_DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}", "MAILFLOW_PROGRAM_SECRET": "bench-secret-long-enough-for-32-bytes-of-hmac-key",
               "MAILFLOW_PROGRAM_STAFF": "staff@program.example", "MAILFLOW_OUTBOUND_MAILDIR": str(folder / "out"),
               }  # fmt: skip
        clock = FrozenClock(NOW)
        services = build(load(None, env=env), clock)
        fill(services, count)
        started = time.perf_counter()
        idle = fire_due_timers(services.db, clock, services.workflow)
        idle_s = time.perf_counter() - started
        with services.db.unit_of_work() as s:
            s.execute(
                update(Timer)
                .where(Timer.name == "trial-checkin", Timer.record_id <= args.due)
                .values(due_at=NOW - timedelta(minutes=1))
            )
        started = time.perf_counter()
        busy = fire_due_timers(services.db, clock, services.workflow)
        busy_s = time.perf_counter() - started
        assert idle.fired == 0
        print(
            f"{count:>12}   {2 * count:>14}   {idle_s * 1000:>14.1f} ms   {busy_s:>12.2f} s ({busy.fired:>5})   {busy_s / max(busy.fired, 1) * 1000:.1f} ms"
        )
        services.db.dispose()
    print("a tick with nothing due must not grow with the number of partnerships")


if __name__ == "__main__":
    main()
