"""10,000 odd and hostile mails through the SMTP endpoint of a running `mailflow run`.

    python bench/hostile.py [--messages 10000] [--db sqlite|postgres] [--clients 4]
                            [--timeout 3600] [--parse-sample 500] [--seed 9]
    python bench/hostile.py --messages 200 --write /tmp/hostile   # the mail as .eml files

One run:

1. **raw limit**: the same mails, by the same SMTP clients, to a bare aiosmtpd sink in this
   process (accept and count, nothing stored): the accept rate the protocol allows here.
2. **mailflow**: `python -m mailflow run` as a subprocess (the SMTP endpoint on a free port,
   SQLite in a temp dir or a scratch PostgreSQL database, answers sent to an SMTP sink), fed by
   `--clients` concurrent SMTP clients; then waits until every accepted mail is out of `new`
   (or `--timeout`: what is still `new` then is "stuck"), and reads the database.
3. **parse --json**: `python -m mailflow parse --json` over a sample of the mails (as files):
   how many lines are valid UTF-8 JSON objects.

It prints figures and never asserts; exit 0 unless something crashes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import contextlib

import common  # noqa: E402 - sets sys.path for tests.servers
from hostile_mail import PROGRAM, STAFF, Generator, Mail  # noqa: E402

from tests.servers.dovecot import free_port  # noqa: E402
from tests.servers.smtp_sink import SmtpSink  # noqa: E402

POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
STORED = re.compile(r"Stored as #(\d+)")
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ [\w.]+: inbox #(\d+) \((\w+)\)")


@dataclass
class Sent:
    mail_index: int
    kind: str
    size: int
    code: int  # the final answer: DATA's, or the refusing one (MAIL/RCPT), 0 = connection lost
    text: str
    inbox_id: int | None = None
    accepted_at: float = 0.0


@dataclass
class Feed:
    seconds: float = 0.0
    results: list[Sent] = field(default_factory=list)  # the last answer for each mail
    first: Counter = field(default_factory=Counter)  # answer codes at the first attempt
    retried: int = 0  # mails sent again after a temporary refusal (4xx or a lost connection)
    first_seconds: float = 0.0  # the first pass, before any retry


# -- SMTP clients -----------------------------------------------------------------------------
def feed(
    gen: Generator,
    host: str,
    port: int,
    clients: int,
    retries: int = 0,
    wait: float = 15,
    deadline: float = float("inf"),
) -> Feed:
    """Every mail of `gen` over SMTP, `clients` connections in parallel; each answer kept.

    Mail refused for now (4xx, a lost connection) is sent again after `wait` seconds, up to
    `retries` times, as a sending MTA would (sooner than one would). Nothing is sent after
    `deadline` (time.perf_counter()); what is left is answered -1 "not sent".
    """
    start = time.perf_counter()
    out = send_all(gen, range(len(gen)), host, port, clients, deadline)
    out.first = Counter(s.code for s in out.results)
    out.first_seconds = out.seconds
    for _ in range(retries):
        again = [s.mail_index for s in out.results if s.code == 0 or 400 <= s.code < 500]
        if not again:
            break
        time.sleep(wait)
        out.retried += len(again)
        resent = send_all(gen, again, host, port, clients, deadline).results
        answers = {s.mail_index: s for s in resent}
        out.results = [answers.get(s.mail_index, s) for s in out.results]
    out.seconds = time.perf_counter() - start
    return out


def send_all(
    gen: Generator,
    indexes: range | list[int],
    host: str,
    port: int,
    clients: int,
    deadline: float = float("inf"),
) -> Feed:
    gen.valid()  # build the shared valid pool once, before the threads race for it
    out = Feed()
    lock = threading.Lock()
    next_index = iter(indexes)

    def take() -> int | None:
        with lock:
            return next(next_index, None)

    def worker() -> None:
        smtp: smtplib.SMTP | None = None
        while (i := take()) is not None:
            if time.perf_counter() > deadline:
                with lock:
                    out.results.append(Sent(i, gen.kinds[i], 0, -1, "not sent: bench timeout"))
                continue
            mail = gen.mail(i)
            for attempt in range(2):
                try:
                    if smtp is None:
                        smtp = smtplib.SMTP(host, port, local_hostname="bench.example", timeout=300)
                        smtp.ehlo()
                    sent = send_one(smtp, mail)
                    break
                except (smtplib.SMTPServerDisconnected, OSError) as exc:
                    smtp = None
                    sent = Sent(i, mail.kind, len(mail.raw), 0, f"{type(exc).__name__}: {exc}")
                    if attempt:
                        break
            with lock:
                out.results.append(sent)
            if sent.code == 0 and smtp is not None:
                smtp = None
        if smtp is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                smtp.quit()

    start = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.seconds = time.perf_counter() - start
    return out


def send_one(smtp: smtplib.SMTP, mail: Mail) -> Sent:
    """MAIL, RCPT..., DATA on an open connection; RSET after a refusal."""
    options = [] if mail.envelope_from.isascii() else ["SMTPUTF8"]
    if any(byte > 127 for byte in mail.raw[:200_000]):
        options.append("BODY=8BITMIME")
    sent = Sent(mail.index, mail.kind, len(mail.raw), 0, "")
    code, text = smtp.mail(mail.envelope_from, options)
    if code != 250:
        smtp.rset()
        sent.code, sent.text = code, f"MAIL {text.decode(errors='replace')}"
        return sent
    accepted = 0
    for rcpt in mail.rcpt_tos:
        options_rcpt: list[str] = []
        code, text = smtp.rcpt(rcpt, options_rcpt)
        accepted += code in (250, 251)
    if not accepted:
        smtp.rset()
        sent.code, sent.text = code, f"RCPT {text.decode(errors='replace')}"
        return sent
    try:
        code, text = smtp.data(mail.raw)
    except smtplib.SMTPDataError as exc:
        smtp.rset()
        sent.code, sent.text = exc.smtp_code, f"DATA {exc.smtp_error.decode(errors='replace')}"
        return sent
    sent.code, sent.text = code, text.decode(errors="replace")
    sent.accepted_at = time.time()
    if code == 250:
        match = STORED.search(sent.text)
        sent.inbox_id = int(match.group(1)) if match else None
    else:
        smtp.rset()
    return sent


# -- mailflow as a subprocess --------------------------------------------------------------------
def postgres_scratch() -> tuple[str, str]:
    import sqlalchemy as sa

    name = f"mailflow_hostile_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    engine = sa.create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return name, POSTGRES_ADMIN.rsplit("/", 1)[0] + "/" + name


def postgres_drop(name: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def vm(pid: int, field_name: str) -> int | None:
    """VmHWM/VmRSS of a live process, in kB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def counts(url: str) -> dict:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            status = dict(
                conn.execute(sa.text("select status, count(*) from inbox group by status")).all()
            )  # noqa: E501
            rows = dict(conn.execute(sa.text("select id, status from inbox")).all())
            dead = conn.execute(
                sa.text("select inbox_id, stage, reason from dead_letters order by id")
            ).all()
            errors = dict(
                conn.execute(sa.text("select id, error from inbox where status <> 'done'")).all()
            )
            outcomes = dict(
                conn.execute(
                    sa.text(
                        "select outcome_code, count(*) from message_facts group by outcome_code"
                    )
                ).all()
            )
            suppressed = conn.execute(sa.text("select count(*) from suppressed")).scalar()
            not_composed = conn.execute(
                sa.text("select count(*) from attention_items where code = 'not-composed'")
            ).scalar()
            outbox = dict(
                conn.execute(sa.text("select status, count(*) from outbox group by status")).all()
            )  # noqa: E501
            facts = conn.execute(sa.text("select count(*) from message_facts")).scalar()
    finally:
        engine.dispose()
    return {
        "status": status, "rows": rows, "dead": dead, "errors": errors, "outcomes": outcomes,
        "suppressed": suppressed, "not_composed": not_composed, "outbox": outbox, "facts": facts,
    }  # fmt: skip


def pending(url: str, ids: set[int]) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            new = {r for (r,) in conn.execute(sa.text("select id from inbox where status = 'new'"))}
    finally:
        engine.dispose()
    return len(new & ids)


def run_mailflow(gen: Generator, args: argparse.Namespace, work: Path) -> dict:
    port = free_port()
    pg_name = None
    if args.db == "postgres":
        pg_name, url = postgres_scratch()
    else:
        url = f"sqlite:///{work / 'mailflow.sqlite3'}"
    sink = SmtpSink(keep=False).start()
    env = {
        **os.environ,
        "MAILFLOW_DATABASE_URL": url,
        "MAILFLOW_PROGRAM_ADDRESS": PROGRAM,
        "MAILFLOW_PROGRAM_STAFF": STAFF,
        "MAILFLOW_PROGRAM_SECRET": common.SECRET,
        "MAILFLOW_INBOUND_LISTEN": "smtp",
        "MAILFLOW_INBOUND_PORT": str(port),
        "MAILFLOW_OUTBOUND_TRANSPORT": "smtp",
        "MAILFLOW_SMTP_HOST": sink.host,
        "MAILFLOW_SMTP_PORT": str(sink.port),
        "MAILFLOW_SMTP_SECURITY": "none",
        "MAILFLOW_LOG_LEVEL": "INFO",
    }
    log_path = work / "mailflow.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailflow", "run"], cwd=work, env=env, stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    result: dict = {"url": url, "log": log_path}
    try:
        if not wait_listening(port, proc, 120):
            raise RuntimeError(f"mailflow did not start; see {log_path}")
        started = time.perf_counter()
        deadline = started + args.timeout
        fed = feed(gen, "127.0.0.1", port, args.clients, args.retries, deadline=deadline)
        result["feed"] = fed
        accepted = {s.inbox_id for s in fed.results if s.inbox_id is not None}
        left = pending(url, accepted)
        while left and time.perf_counter() < deadline and proc.poll() is None:
            time.sleep(2)
            left = pending(url, accepted)
        result["drain_seconds"] = time.perf_counter() - started
        result["stuck"] = left
        time.sleep(3)  # let the drainer send what was just queued
        result["vmhwm_kb"] = vm(proc.pid, "VmHWM")
        result["crashed"] = proc.poll()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        result["sent_out"] = sink.count
        sink.stop()
    try:
        result["db"] = counts(url)
    finally:
        if pg_name:
            postgres_drop(pg_name)
    return result


def wait_listening(port: int, proc: subprocess.Popen, seconds: float) -> bool:
    import socket

    end = time.monotonic() + seconds
    while time.monotonic() < end and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.3)
    return False


# -- slowest message, from the processor's log lines ---------------------------------------------
def processing_times(log_path: Path, accepted_at: dict[int, float]) -> list[tuple[float, int, str]]:
    """(seconds, inbox id, parsed kind) per message: from the later of its acceptance and the
    previous message's completion to its own completion (the processor handles one at a time)."""
    done: list[tuple[float, int, str]] = []
    for line in log_path.read_text("utf-8", "replace").splitlines():
        match = LOG_LINE.match(line)
        if match:
            at = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            done.append((at, int(match.group(2)), match.group(3)))
    times, previous = [], None
    for at, inbox_id, kind in done:
        start = max(x for x in (previous, accepted_at.get(inbox_id)) if x is not None) if (
            previous is not None or inbox_id in accepted_at
        ) else at  # fmt: skip
        times.append((max(0.0, at - start), inbox_id, kind))
        previous = at
    return times


# -- parse --json --------------------------------------------------------------------------------
def check_parse_json(gen: Generator, sample: int, work: Path, per_file: float) -> dict:
    """`mailflow parse --json` over every len/sample-th mail, as files, 50 per process.

    Lines are flushed one per file, so when a process runs past 60 s + `per_file` s per file, the
    file it was on counts as hung and the next process starts after it.
    """
    folder = work / "parse-sample"
    folder.mkdir()
    step = max(1, len(gen) // sample)
    names = []
    for i in range(0, len(gen), step)[:sample]:
        name = f"{i:05d}.eml"
        (folder / name).write_bytes(gen.mail(i).raw)
        names.append(name)
    result = {"files": len(names), "valid": 0, "hung": [], "problems": []}
    todo = list(names)
    while todo:
        batch, todo = todo[:50], todo[50:]
        try:
            out = subprocess.run(
                [sys.executable, "-m", "mailflow", "parse", "--json", *batch], cwd=folder,
                capture_output=True, timeout=60 + per_file * len(batch),
                env={**os.environ, "LC_ALL": "C", "PYTHONIOENCODING": ""},
            )  # fmt: skip
            stdout, finished = out.stdout, True
        except subprocess.TimeoutExpired as exc:
            stdout, finished = exc.stdout or b"", False
        lines = stdout.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        for line in lines:
            try:
                obj = json.loads(line.decode("utf-8", "strict"))
            except (UnicodeDecodeError, ValueError) as exc:
                result["problems"].append(f"invalid line: {exc}: {line[:80]!r}")
                continue
            if isinstance(obj, dict) and "error" not in obj:
                result["valid"] += 1
            else:
                result["problems"].append(f"{obj.get('file')}: {obj.get('error')}")
        if not finished:
            hung = batch[len(lines)] if len(lines) < len(batch) else None
            if hung:
                result["hung"].append(f"{hung} ({gen.kinds[int(hung[:5])]})")
                todo = batch[len(lines) + 1 :] + todo
        elif len(lines) != len(batch):
            result["problems"].append(f"{len(lines)} lines for {len(batch)} files")
    shutil.rmtree(folder, ignore_errors=True)
    return result


def print_parse_check(check: dict) -> None:
    print(f"\nparse --json: {check['valid']}/{check['files']} sampled files gave a valid UTF-8 "
          f"JSON object line; {len(check['hung'])} did not finish in time; "
          f"{len(check['problems'])} problems")  # fmt: skip
    for hung in check["hung"]:
        print(f"  hung: {hung}")
    for problem in check["problems"][:10]:
        print(f"  {problem}")


# -- report --------------------------------------------------------------------------------------
def codes_of(results: list[Sent]) -> Counter:
    return Counter(s.code for s in results)


def refusals(results: list[Sent]) -> dict[str, Counter]:
    by_answer: dict[str, Counter] = defaultdict(Counter)
    for s in results:
        if s.code not in (250, -1):
            text = re.sub(r"#\d+", "#N", s.text)[:70]
            answer = f"{s.code} {text}"
            by_answer[answer][s.kind.split("/")[0]] += 1
    return by_answer


def report(gen: Generator, raw: Feed, mf: dict, args) -> None:  # noqa: ANN001, C901
    n = len(gen)
    results = mf["feed"].results
    db = mf["db"]
    accepted = [s for s in results if s.code == 250]
    ids = {s.inbox_id: s for s in accepted if s.inbox_id is not None}
    already = [s for s in accepted if s.inbox_id is None]
    rows = db["rows"]
    lost = [s for s in ids.values() if s.inbox_id not in rows]
    stuck = [s for s in ids.values() if rows.get(s.inbox_id) == "new"]
    dead = [s for s in ids.values() if rows.get(s.inbox_id) == "dead"]
    quarantined = [s for s in ids.values() if rows.get(s.inbox_id) == "quarantined"]
    done = [s for s in ids.values() if rows.get(s.inbox_id) == "done"]

    print(
        f"\n== hostile mail, {n} messages, db={args.db}, {args.clients} SMTP clients, seed {args.seed}"
    )
    kinds = Counter(gen.kinds)
    print("mix: " + ", ".join(f"{k} {c}" for k, c in sorted(kinds.items(), key=lambda x: -x[1])))
    raw_rate = len(raw.results) / raw.seconds if raw.seconds else 0
    raw_ok = sum(1 for s in raw.results if s.code == 250)
    fed = mf["feed"]
    mf_rate = len(results) / fed.first_seconds if fed.first_seconds else 0
    print(
        f"\nraw limit (bare aiosmtpd sink): {raw_ok}/{len(raw.results)} accepted in "
        f"{raw.seconds:.1f} s = {raw_rate:.0f} msg/s; answers {dict(codes_of(raw.results))}"
    )
    print(
        f"mailflow endpoint, first pass:  {fed.first[250]}/{len(results)} accepted in "
        f"{fed.first_seconds:.1f} s = {mf_rate:.0f} msg/s "
        f"({mf_rate / raw_rate if raw_rate else 0:.2f} of raw); answers {dict(fed.first)}"
    )
    print(f"  then {fed.retried} resends of temporarily refused mail ({args.retries} rounds at "
          "most, 15 s apart)")  # fmt: skip

    unsent = sum(1 for s in results if s.code == -1)
    print(f"\nsent               {len(results) - unsent}")
    if unsent:
        print(f"not sent           {unsent}   (the bench's --timeout passed first)")
    print(f"accepted (250)     {len(accepted)}  ({len(already)} 'already stored')")
    print(f"refused            {len(results) - len(accepted) - unsent}")
    for answer, by_kind in sorted(refusals(results).items()):
        print(
            f"  {sum(by_kind.values()):5d}  {answer}   [{', '.join(f'{k} {c}' for k, c in by_kind.items())}]"
        )  # noqa: E501
    # Refused by mailflow but accepted by the bare sink: the endpoint's own refusals.
    raw_codes = {s.mail_index: s.code for s in raw.results}
    own = [s for s in results if s.code != 250 and raw_codes.get(s.mail_index) == 250]
    print(f"  of which the bare sink accepted: {len(own)}")
    print(f"processed (done)   {len(done)}")
    print(f"quarantined        {len(quarantined)}")
    print(f"dead-lettered      {len(dead)}   (target 0)")
    print(f"lost               {len(lost)}   (accepted, no row; target 0)")
    print(
        f"stuck              {len(stuck)}   (accepted, still 'new' after {mf['drain_seconds']:.0f} s)"
    )  # noqa: E501
    print(f"drained in         {mf['drain_seconds']:.1f} s from the first mail "
          f"= {len(ids) / mf['drain_seconds']:.1f} msg/s end to end")  # fmt: skip
    hwm = mf.get("vmhwm_kb")
    print(
        f"peak memory        {hwm / 1024:.0f} MiB (VmHWM of mailflow run)"
        if hwm
        else "peak memory        ?"
    )  # noqa: E501
    if mf.get("crashed") is not None:
        print(f"!! mailflow exited early with {mf['crashed']}")
    print(f"answers sent       {mf['sent_out']} (outbox {db['outbox']}); suppressed {db['suppressed']}; "
          f"not-composed items {db['not_composed']}")  # fmt: skip
    print(
        "outcomes           "
        + ", ".join(f"{k} {v}" for k, v in sorted(db["outcomes"].items(), key=lambda x: -x[1]))
    )  # noqa: E501

    times = processing_times(mf["log"], {s.inbox_id: s.accepted_at for s in ids.values()})
    times.sort(reverse=True)
    if times:
        print("slowest messages (seconds of processing, from the log):")
        for seconds, inbox_id, parsed_kind in times[:5]:
            s = ids.get(inbox_id)
            what = f"{s.kind} ({s.size:,} B, mail {s.mail_index})" if s else "?"
            print(f"  {seconds:7.2f} s  inbox #{inbox_id} {what}, parsed as {parsed_kind}")
    for title, group in (("dead-lettered", dead), ("stuck", stuck), ("lost", lost),
                         ("quarantined", quarantined)):  # fmt: skip
        if group:
            print(
                f"{title} by kind: "
                + ", ".join(f"{k} {c}" for k, c in Counter(s.kind for s in group).most_common(12))
            )
    if dead:
        reasons = Counter(re.sub(r"\d+", "N", r[2])[:140] for r in db["dead"])
        print("dead-letter reasons:")
        for reason, count in reasons.most_common(15):
            print(f"  {count:5d}  {reason}")
        print("  mail indexes: " + " ".join(str(s.mail_index) for s in dead[:30]))
    if quarantined:
        reasons = Counter((db["errors"].get(s.inbox_id) or "")[:100] for s in quarantined)
        print("quarantine reasons: " + "; ".join(f"{c}× {r}" for r, c in reasons.most_common(5)))
    if stuck:
        print("  stuck mail indexes: " + " ".join(str(s.mail_index) for s in stuck[:30]))
    log_text = Path(mf["log"]).read_text("utf-8", "replace")
    for needle in ("processing pass failed", "Traceback", "MemoryError", "could not store mail"):
        if (count := log_text.count(needle)) and needle:
            print(f"log: {count} × {needle!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--retries", type=int, default=3, help="resend rounds after a 4xx")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--timeout", type=float, default=3600, help="for the whole drain")
    parser.add_argument("--parse-sample", type=int, default=500, help="0: skip the check")
    parser.add_argument("--parse-timeout", type=float, default=120, help="seconds per file")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (log, SQLite)")
    parser.add_argument("--write", type=Path, help="only write the mail as .eml files here")
    args = parser.parse_args()

    gen = Generator(args.messages, args.seed)
    if args.write:
        args.write.mkdir(parents=True, exist_ok=True)
        for i in range(len(gen)):
            mail = gen.mail(i)
            (args.write / f"{i:05d}-{mail.kind.replace('/', '_')}.eml").write_bytes(mail.raw)
        print(f"wrote {len(gen)} mails to {args.write}")
        return

    work = Path(tempfile.mkdtemp(prefix="mf-hostile-"))
    try:
        with SmtpSink(keep=False) as raw_sink:
            raw = feed(gen, raw_sink.host, raw_sink.port, args.clients)
        mf = run_mailflow(gen, args, work)
        report(gen, raw, mf, args)
        sys.stdout.flush()
        if args.parse_sample:
            print_parse_check(check_parse_json(gen, args.parse_sample, work, args.parse_timeout))
    finally:
        if args.keep:
            print(f"\nwork dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
