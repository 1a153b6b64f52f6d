"""Outgoing mail throughput against a local aiosmtpd sink.

    python bench/outbound.py [--messages 5000]

(a) the raw limit: smtplib sends pre-rendered bytes over one connection, nothing else;
(b) mailflow: compose() each mail, insert it as a pending Outbox row in a fresh SQLite
    database, then drain() through SmtpTransport (a transaction per row, as in production).
Prints both rates and b/a (target >= 0.5). Both are measured in the same run.
"""

from __future__ import annotations

import argparse
import multiprocessing
import smtplib
import sys
import tempfile
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from mailflow.clock import SystemClock  # noqa: E402
from mailflow.outbound.smtp import SmtpTransport  # noqa: E402
from mailflow.outbox.compose import compose, make_message_id  # noqa: E402
from mailflow.outbox.drain import drain  # noqa: E402
from mailflow.store.db import Database  # noqa: E402
from mailflow.store.schema import Outbox  # noqa: E402
from tests.servers.dovecot import free_port  # noqa: E402
from tests.servers.smtp_sink import SmtpSink  # noqa: E402

SENDER = "sisters@program.example"
TEXT = (
    "Dear {name},\n\nThank you for your application to the Sister Libraries program. "
    "We have recorded the following details and will write again when we find a partner.\n\n"
    "Library: Biblioteca Municipal {n}\nCountry: Spain\nLanguages: Spanish, English\n\n"
    "王丽 and the program team\n"
)
HTML = "<p>Dear {name},</p><p>Thank you for your application (#{n}).</p><p>王丽</p>"


def render(n: int, now: datetime) -> tuple[str, str, bytes]:
    rcpt = f"maria{n}@biblioteca.example.es"
    message_id = make_message_id(f"library/{n}:application-received", "program.example")
    raw = compose(
        sender=f"Sister Libraries <{SENDER}>",
        to=[f"María López <{rcpt}>"],
        subject=f"Your application #{n} — 申请已收到",
        text=TEXT.format(name="María", n=n),
        html=HTML.format(name="María", n=n),
        message_id=message_id,
        date=now,
        in_reply_to=f"<app{n}@client.example>",
        references=[f"<app{n}@client.example>"],
        reply_to=f"sisters+l{n}.abcdefghij@program.example",
        origin="program.example",
    )
    return message_id, rcpt, raw


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


def bench_raw(sink: SinkProcess, mails: list[tuple[str, str, bytes]]) -> float:
    start = time.perf_counter()
    with smtplib.SMTP(sink.host, sink.port, local_hostname="localhost") as smtp:
        for _, rcpt, raw in mails:
            smtp.sendmail(SENDER, [rcpt], raw)
    return time.perf_counter() - start


def bench_mailflow(sink: SinkProcess, count: int, workdir: Path) -> tuple[float, float]:
    db = Database(f"sqlite:///{workdir / 'bench.sqlite3'}")
    db.upgrade()  # schema set-up is not part of the measurement
    clock = SystemClock()
    transport = SmtpTransport(sink.host, sink.port)
    try:
        start = time.perf_counter()
        now = clock.now()
        with db.unit_of_work() as session:
            for n in range(count):
                message_id, rcpt, raw = render(n, now)
                session.add(
                    Outbox(
                        message_id=message_id,
                        template="application-received",
                        locale="en",
                        sender=SENDER,
                        recipients=[rcpt],
                        subject=f"Your application #{n}",
                        raw=raw,
                        status="pending",
                        attempts=0,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
        drain_start = time.perf_counter()
        report = drain(db, clock, transport)
        end = time.perf_counter()
    finally:
        transport.close()
        db.dispose()
    if report.sent != count:
        raise SystemExit(f"mailflow sent {report.sent} of {count}: {report}")
    return end - start, end - drain_start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    count = parser.parse_args().messages

    now = datetime.now(UTC)
    mails = [render(n, now) for n in range(count)]
    size = sum(len(raw) for _, _, raw in mails) / count
    with SinkProcess() as sink, tempfile.TemporaryDirectory() as tmp:
        raw_seconds = bench_raw(sink, mails)
        total_seconds, drain_seconds = bench_mailflow(sink, count, Path(tmp))
        received = sink.stop()
    if received != 2 * count:
        raise SystemExit(f"sink received {received}, expected {2 * count}")

    raw_rate, total_rate = count / raw_seconds, count / total_seconds
    print(f"{count} mails of ~{size:.0f} bytes to an aiosmtpd sink (own process) on loopback")
    print(f"(a) raw smtplib, pre-rendered, one connection: {raw_rate:8.0f} mails/s")
    print(f"(b) mailflow compose + insert + drain:         {total_rate:8.0f} mails/s")
    print(f"    of which drain only:                       {count / drain_seconds:8.0f} mails/s")
    verdict = "ok" if total_rate / raw_rate >= 0.5 else "BELOW TARGET"
    print(f"b/a = {total_rate / raw_rate:.2f} (target >= 0.5: {verdict})")


if __name__ == "__main__":
    main()
