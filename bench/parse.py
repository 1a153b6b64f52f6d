"""`mailflow parse`'s pipeline against the standard library's parser, and hostile mail's cost.

    python bench/parse.py [--messages 5000] [--profile FILE] [--skip-pathological]

1. **rates**: one mixed corpus of generated mail (bench/corpus.py's program mail, 70%, and
   bench/hostile_mail.py's odd and hostile kinds, 30%, the heavy ones left to step 2), parsed
   in this process by (a) the raw limit, `BytesParser(policy=default)` plus `get_body()` and
   its `get_content()`, and (b) `mailflow.parse.parse_message` (decode, bounce and auto-reply
   detection, reply trimming, fields, intent, language). Prints both rates and b/a
   (target >= 0.5). --profile writes a cProfile of (b).
2. **pathological mail**: a 10 MB subject, 100,000 encoded words, 1,000 nested parts and a
   10 MB line, each parsed by `parse_message` in a fresh child process: wall time and peak
   memory above the child's baseline (the larger of the RSS high-water mark's growth and
   tracemalloc's peak in a second parse; targets: <= 1 s, <= 200 MB), and the defects
   recorded.

It prints figures and never asserts; exit 0 unless something crashes.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from email import policy
from email.parser import BytesParser
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from corpus import PROGRAM, corpus  # noqa: E402
from hostile_mail import Generator  # noqa: E402

from mailflow.parse import parse_message  # noqa: E402

# Heavy or pathological kinds: measured one by one in step 2, not in the rate.
HEAVY = {"long_line", "junk_headers", "long_word", "nested_docx", "huge"}


def mixed_corpus(n: int) -> list[bytes]:
    valid = corpus(n - n * 3 // 10)
    gen = Generator(n * 2, seed=11)
    odd = [
        gen.mail(i).raw
        for i in range(len(gen))
        if not gen.kinds[i].startswith("valid:") and gen.kinds[i] not in HEAVY
    ][: n - len(valid)]
    return valid + odd


def stdlib(raw: bytes) -> None:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    body = msg.get_body(("plain", "html"))
    if body is not None:
        body.get_content()


def rate(fn, mails: list[bytes]) -> tuple[float, int]:  # noqa: ANN001
    errors = 0
    start = time.perf_counter()
    for raw in mails:
        try:
            fn(raw)
        except Exception:  # noqa: BLE001 - the raw limit may raise on hostile mail; count it
            errors += 1
    return len(mails) / (time.perf_counter() - start), errors


def mailflow(raw: bytes) -> None:
    parse_message(raw, program_address=PROGRAM, secret=None)


# --- pathological mail ------------------------------------------------------------------------
HEAD = (
    b"From: Ana <ana@bib.example.pt>\r\nTo: sisters@program.example\r\n"
    b"Message-ID: <patho@bib.example.pt>\r\nDate: Tue, 01 Dec 2026 08:00:00 +0000\r\n"
)
TEXT = b"Library name: Biblioteca Pathologica\r\nCountry: Portugal\r\n"


def pathological() -> dict[str, bytes]:
    ten_mb = 10_000_000  # inside MAX_PARSED_BYTES (10 MiB): all of it reaches the parser
    word = b"=?utf-8?B?w6lsw6h2ZQ==?="  # "élève"
    subject = b"Subject: " + b"\r\n ".join([b"x" * 70] * (ten_mb // 73))
    nested = b"".join(
        b'Content-Type: multipart/mixed; boundary="n%d"\r\n\r\n--n%d\r\n' % (k, k)
        for k in range(1000)
    )
    closing = b"".join(b"\r\n--n%d--\r\n" % k for k in reversed(range(1000)))
    plain = b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    return {
        "10 MB subject": HEAD + subject + b"\r\n" + plain + TEXT,
        "100,000 encoded words": HEAD
        + b"Subject: "
        + b"\r\n ".join([word] * 100_000)
        + b"\r\n"
        + plain
        + TEXT,
        "1,000 nested parts": HEAD
        + b"Subject: nested\r\nMIME-Version: 1.0\r\n"
        + nested
        + plain
        + TEXT
        + closing,
        "10 MB line": HEAD + b"Subject: line\r\n" + plain + TEXT + b"y" * ten_mb + b"\r\n",
        # and neighbours of those four
        "10 MB unfolded subject": HEAD + b"Subject: " + b"z" * ten_mb + b"\r\n" + plain + TEXT,
        "100,000 encoded words, To": HEAD.replace(
            b"To: ", b"To: " + b" ".join([word] * 100_000) + b" "
        )
        + b"Subject: to\r\n"
        + plain
        + TEXT,
        "1,000 nested messages": HEAD
        + b"Subject: nested\r\nMIME-Version: 1.0\r\n"
        + b"Content-Type: message/rfc822\r\n\r\nSubject: in\r\n" * 1000
        + plain
        + TEXT,
        "10 MB base64 text line": HEAD
        + b"Subject: b64\r\nContent-Type: text/plain; charset=utf-8\r\n"
        + b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.b64encode(TEXT + b"w" * (ten_mb * 3 // 4 - 100))
        + b"\r\n",
    }


def child(path: Path) -> None:
    """In a fresh process: warm up, read one mail (one allocation: the baseline then includes
    the input and nothing else), parse it; print a JSON line."""
    mailflow(b"From: a@b.example\r\nSubject: warm up\r\n\r\nA text long enough for a language.\r\n")
    raw = path.read_bytes()
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    facts = parse_message(raw, program_address=PROGRAM, secret=None)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    # ru_maxrss cannot see below the warm-up's own peak (loading the language model); the
    # Python heap's peak during a second parse can.
    tracemalloc.start()
    parse_message(raw, program_address=PROGRAM, secret=None)
    traced = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_mb": max((peak - base) / 1024, traced),
                "size_mb": len(raw) / 2**20,
                "defects": [d for d in facts.defects if not d.startswith("reply-trim")],
                "subject_chars": len(facts.subject),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--profile", type=Path, help="write a cProfile of mailflow's run here")
    parser.add_argument("--skip-pathological", action="store_true")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return

    mails = mixed_corpus(args.messages)
    size = sum(map(len, mails)) / len(mails)
    print(f"corpus: {len(mails)} mails, {size / 1024:.1f} KiB on average")
    mailflow(mails[0])  # loads the language model: not a message's cost
    a, a_errors = rate(stdlib, mails)
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
    b, b_errors = rate(mailflow, mails)
    if args.profile:
        profiler.disable()
        profiler.dump_stats(args.profile)
    print(
        f"(a) stdlib BytesParser(policy=default) + get_body(): {a:8.0f} mails/s ({a_errors} raised)"
    )
    print(
        f"(b) mailflow parse_message:                          {b:8.0f} mails/s ({b_errors} raised)"
    )
    verdict = "PASS" if b / a >= 0.5 else "FAIL"
    print(f"b/a = {b / a:.2f} (target >= 0.5: {verdict})")

    if args.skip_pathological:
        return
    print("\npathological mail, each in a fresh process (targets: <= 1 s, <= 200 MB):")
    worst_s = worst_mb = 0.0
    for name, raw in pathological().items():
        with tempfile.NamedTemporaryFile(suffix=".eml") as tmp:
            tmp.write(raw)
            tmp.flush()
            out = subprocess.run(
                [sys.executable, __file__, "--child", tmp.name],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "PYTHONHASHSEED": "0"},
            )
        got = json.loads(out.stdout.strip().splitlines()[-1])
        worst_s, worst_mb = max(worst_s, got["seconds"]), max(worst_mb, got["peak_mb"])
        ok = "PASS" if got["seconds"] <= 1 and got["peak_mb"] <= 200 else "FAIL"
        print(
            f"  {name:24} {got['size_mb']:5.1f} MB in: {got['seconds']:6.3f} s, "
            f"+{got['peak_mb']:6.1f} MB peak  {ok}  defects: {', '.join(got['defects'][:6])}"
        )
    print(f"worst: {worst_s:.3f} s, {worst_mb:.1f} MB")


if __name__ == "__main__":
    main()
