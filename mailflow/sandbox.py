"""parse_message in a worker process, with a time budget per message.

Parsing is pure Python and regexes: a hostile message can keep a CPU busy, and a regex holds
the GIL, which would freeze the SMTP endpoint and IMAP IDLE threads of the same process. So
messages are parsed in one small, long-lived child process (`python -m mailflow.sandbox`: a
fresh interpreter that inherits no threads or locks, and that never re-runs the parent's main
script the way multiprocessing's spawn does): the parent sends a chunk of messages in one go, the child answers message by
message, and a message that runs past its budget gets the child killed and replaced. The
parent waits on a pipe meanwhile, holding no lock and no transaction.

The child does nothing but `parse_message`; it never touches the database.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from mailflow.errors import TransientError
from mailflow.log import PARSE as LOG
from mailflow.parse.facts import Facts

# How long a fresh child may take to import and load the language model (not a message's time).
START_SECONDS = 120.0
# Loads everything the first real message would (the language model, and for a letter of an
# application Babel's country and language names: each up to a second), so that no message
# pays for it inside its budget.
_WARM_UP = (
    b"From: warm-up@example.invalid\r\nTo: warm-up@example.invalid\r\n"
    b"Subject: Sister library application\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n\r\n"
    b"<p>We are the Warm-up Public Library in Lyon, France. We speak French and English and "
    b"would like a partner library.</p>\r\n"
)


@dataclass(frozen=True)
class ParseFailed:
    """No facts: why (past the budget, the parser died or raised)."""

    reason: str


Result = Facts | ParseFailed


def _watch_parent() -> None:
    """End the child soon after its parent died (a SIGKILLed `mailflow run`): between
    messages EOF on stdin ends it; during a long parse this thread does."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def serve() -> None:
    """The child: parse what arrives on stdin, answer each message on stdout once read."""
    # Only the child parses: importing the pipeline here keeps it out of `mailflow run`.
    from mailflow.parse import parse_message

    _watch_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which stops us
    requests = Connection(os.dup(0), writable=False)
    answers = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)  # a stray print must not corrupt the answers
    parse_message(_WARM_UP, program_address="warm-up@example.invalid", secret=None)
    # The warm-up mail declares its charset; a mail that does not makes the parser guess it,
    # and that detector is imported on first use: load it now, outside any message's budget.
    import charset_normalizer  # noqa: F401

    answers.send("ready")
    while True:
        try:
            options, items = requests.recv()
        except (EOFError, OSError):
            return
        for item_id, raw in items:
            try:
                result: Result = parse_message(raw, **options)
            except Exception as exc:  # noqa: BLE001 - reported per message, the child lives on
                result = ParseFailed(f"the parser raised {type(exc).__name__}: {exc}"[:2000])
            answers.send((item_id, result))
        del items


class ParseWorker:
    """One child process at a time; `parse` is serialised (the child handles one chunk)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._requests: Connection | None = None
        self._answers: Connection | None = None
        self.restarts = 0  # children killed or lost, for reports and tests

    def start(self) -> None:
        """Have a child ready (started if none runs). Called before claiming, so a slow start
        never eats into the leases of claimed rows; TransientError if it cannot start."""
        with self._lock:
            self._ready()

    def start_soon(self) -> None:
        """Start the child in the background (import + warm-up take a second or two), so the
        first batch finds it ready; `start` and `parse` wait for it. A failure is left for
        `start` to report."""

        def start_quietly() -> None:
            try:
                self.start()
            except TransientError:
                LOG.warning("the parser process did not start; will try again when mail comes")

        threading.Thread(target=start_quietly, name="parser-start", daemon=True).start()

    def parse(
        self,
        chunks: Iterator[Sequence[tuple[int, bytes]]],
        options: Mapping[str, Any],
        budget_seconds: float,
        on_result: Callable[[int, Result], None],
    ) -> None:
        """Parse every chunk; `on_result(id, facts or ParseFailed)` once per message, in order.

        A chunk is sent whole, so the caller bounds it (bytes, count). Each message has
        `budget_seconds` from the moment the child could start on it.
        """
        with self._lock:
            for chunk in chunks:
                pending = list(chunk)
                while pending:
                    pending = self._run(pending, options, budget_seconds, on_result)

    def _run(
        self,
        items: list[tuple[int, bytes]],
        options: Mapping[str, Any],
        budget: float,
        on_result: Callable[[int, Result], None],
    ) -> list[tuple[int, bytes]]:
        """Send items; return those still to parse if the child had to be replaced."""
        requests, conn = self._ready()
        try:
            requests.send((dict(options), items))
        except (OSError, ValueError):  # the child died between chunks: a new one, same chunk
            self._kill("lost before a chunk")
            requests, conn = self._ready()
            requests.send((dict(options), items))
        for n, (item_id, _raw) in enumerate(items):
            started = time.monotonic()
            failure: str | None = None
            try:
                if conn.poll(max(0.0, started + budget - time.monotonic())):
                    got_id, result = conn.recv()
                    assert got_id == item_id, "the parser answered out of order"
                    on_result(item_id, result)
                    continue
                failure = f"parsing ran past its time budget of {budget:g} s"
            except (EOFError, OSError):
                code = self._proc.poll() if self._proc is not None else None
                failure = f"the parser process died (exit code {code})"
            LOG.warning(
                "message %s: %s (after %.1f s)", item_id, failure, time.monotonic() - started
            )
            self._kill(failure)
            on_result(item_id, ParseFailed(failure))
            return items[n + 1 :]
        return []

    def _ready(self) -> tuple[Connection, Connection]:
        if self._proc is not None and self._proc.poll() is None:
            assert self._requests is not None and self._answers is not None
            return self._requests, self._answers
        if self._proc is not None:
            self._kill("found dead")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "mailflow.sandbox"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True,
        )  # fmt: skip
        assert proc.stdin is not None and proc.stdout is not None
        self._proc = proc
        self._requests = Connection(os.dup(proc.stdin.fileno()), readable=False)
        self._answers = Connection(os.dup(proc.stdout.fileno()), writable=False)
        proc.stdin.close()
        proc.stdout.close()
        try:
            if not self._answers.poll(START_SECONDS) or self._answers.recv() != "ready":
                raise EOFError
        except (EOFError, OSError) as exc:
            self._kill("did not start")
            raise TransientError("the parser process did not start") from exc
        return self._requests, self._answers

    def _kill(self, why: str) -> None:
        if self._proc is not None:
            LOG.info("parser process %s replaced: %s", self._proc.pid, why)
            self._stop()
            self.restarts += 1

    def _stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(timeout=10)
        for conn in (self._requests, self._answers):
            if conn is not None:
                conn.close()
        self._proc = self._requests = self._answers = None

    def close(self) -> None:
        with self._lock:
            self._stop()


_shared: ParseWorker | None = None
_shared_lock = threading.Lock()


def shared_worker() -> ParseWorker:
    """The process's parse worker (started on first use, reused by every processing pass)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = ParseWorker()
            # Stop and reap the child at exit (not just leave it to end at EOF).
            atexit.register(_shared.close)
        return _shared


if __name__ == "__main__":
    serve()
