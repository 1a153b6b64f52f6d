"""Score reply trimming over the golden set (tests/data/replies/golden): exact and partial.

    python bench/reply_score.py            # mailflow, and mail-parser-reply if it is installed
    python bench/reply_score.py --misses   # also list the cases mailflow gets wrong

exact: the new text equals the expected one (both stripped). partial: every ``must`` substring
is in the new text and no ``must_not`` one is. mail-parser-reply is not a dependency; install
it into a private venv to compare (``pip install mail-parser-reply``). It is given every
language it knows, and its ``latest_reply`` minus signatures (``replies[0].body``) is scored.
Also prints the time per mail (speed is measured here, never asserted in tests).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mailflow.parse.reply import trim_reply  # noqa: E402
from tests.reply_cases import Case, load_cases, score  # noqa: E402

TARGET_EXACT, TARGET_PARTIAL = 0.75, 0.97


def _mail_parser_reply() -> Callable[[str], str] | None:
    try:
        from mailparser_reply import EmailReplyParser  # type: ignore[import-not-found]
        from mailparser_reply.constants import MAIL_LANGUAGES  # type: ignore[import-not-found]
    except ImportError:
        return None
    parser = EmailReplyParser(languages=[lang for lang in MAIL_LANGUAGES if lang != "david"])

    def trim(text: str) -> str:
        msg = parser.read(text)
        return msg.replies[0].body if msg.replies else ""

    return trim


def _report(name: str, cases: list[Case], trim: Callable[[str], str]) -> list[tuple[Case, str]]:
    start = time.perf_counter()
    exact, partial, misses = score(cases, trim)
    per_mail = (time.perf_counter() - start) / len(cases) * 1e6
    print(f"{name:20s} exact {exact:.3f}  partial {partial:.3f}  ({per_mail:.0f} µs/mail)")
    by_group: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for case, _ in misses:
        by_group[case.group][0] += 1
    for case in cases:
        by_group[case.group][1] += 1
    worst = sorted(((m / n, g, m, n) for g, (m, n) in by_group.items() if m), reverse=True)
    if worst:
        print("   misses by group: " + ", ".join(f"{g} {m}/{n}" for _, g, m, n in worst[:8]))
    return misses


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--misses", action="store_true", help="list mailflow's misses")
    args = ap.parse_args()
    cases = load_cases()
    langs = sorted({c.lang for c in cases})
    print(f"{len(cases)} golden replies, {len(langs)} languages: {' '.join(langs)}")
    misses = _report("mailflow", cases, lambda text: trim_reply(text)[0])
    exact, partial, _ = score(cases, lambda text: trim_reply(text)[0])
    verdict = "PASS" if exact >= TARGET_EXACT and partial >= TARGET_PARTIAL else "FAIL"
    print(f"   target exact >= {TARGET_EXACT}, partial >= {TARGET_PARTIAL}: {verdict}")
    other = _mail_parser_reply()
    if other is None:
        print("mail-parser-reply    not installed (pip install mail-parser-reply to compare)")
    else:
        _report("mail-parser-reply", cases, other)
    if args.misses:
        for case, got in misses:
            print(
                f"\n--- {case.id} ({case.group}, {case.lang})\nexpected: {case.expected!r}\ngot:      {got!r}"
            )
    # A large reply: the scan must stay linear in its length.
    big = "Yes.\n\n" + "\n".join(f"> line {i} of a long quote" for i in range(200_000))
    start = time.perf_counter()
    trim_reply(big)
    print(f"200,000-line quote: {time.perf_counter() - start:.2f} s (limit 1 s)")


if __name__ == "__main__":
    main()
