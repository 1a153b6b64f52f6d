"""Score reply trimming over the golden set (tests/data/replies/golden): exact and partial.

    python bench/reply_score.py            # mailflow, and the libraries below if installed
    python bench/reply_score.py --misses   # also list the cases mailflow gets wrong

exact: the new text equals the expected one (both stripped). partial: every ``must`` substring
is in the new text and no ``must_not`` one is. Also prints the time per mail (speed is
measured here, never asserted in tests).

The libraries are not dependencies; to compare, install them into a throwaway venv with PyYAML
and run this script with that venv's python (mailflow's own trimmer is then scored only if
mailflow imports there):

- mail-parser-reply (``pip install mail-parser-reply``): given every language it knows; its
  first reply without signatures and disclaimers (``replies[0].body``) is scored.
- talon (``pip install --no-deps talon regex lxml html5lib cssselect chardet six``; its
  ``cchardet`` has no wheel for current Pythons, so chardet stands in): quotations removed by
  ``extract_from_plain``, then the signature by ``signature.bruteforce.extract_signature`` when
  numpy and scikit-learn are installed too (talon.signature imports them; the machine-learning
  extractor needs a classifier pickled in 2017).
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

from tests.reply_cases import Case, load_cases, score  # noqa: E402

TARGET_EXACT, TARGET_PARTIAL = 0.75, 0.97


def _mail_parser_reply() -> Callable[[str], str] | None:
    try:
        from mailparser_reply import EmailReplyParser  # type: ignore[import-not-found, import-untyped, unused-ignore]
        from mailparser_reply.constants import MAIL_LANGUAGES  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError:
        return None
    parser = EmailReplyParser(languages=[lang for lang in MAIL_LANGUAGES if lang != "david"])

    def trim(text: str) -> str:
        msg = parser.read(text)
        return msg.replies[0].body if msg.replies else ""

    return trim


def _talon() -> Callable[[str], str] | None:
    try:
        import chardet  # type: ignore[import-not-found, import-untyped, unused-ignore]

        sys.modules.setdefault("cchardet", chardet)
        from talon import quotations  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError:
        return None
    try:  # talon.signature imports numpy and scikit-learn even for the brute-force extractor
        from talon.signature.bruteforce import extract_signature  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError:
        return lambda text: str(quotations.extract_from_plain(text))

    def trim(text: str) -> str:
        body, _ = extract_signature(quotations.extract_from_plain(text))
        return str(body)

    return trim


def _mailflow() -> Callable[[str], str] | None:
    try:
        from mailflow.parse.reply import trim_reply
    except ImportError:
        return None
    return lambda text: trim_reply(text)[0]


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
    sets = sorted({case.set for case in cases})
    if len(sets) > 1:  # blind batches apart: their first-run figure estimates unseen mail
        for name_ in sets:
            subset = [case for case in cases if case.set == name_]
            e, p, _ = score(subset, trim)
            print(f"   {name_:17s} exact {e:.3f}  partial {p:.3f}  ({len(subset)} cases)")
    return misses


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--misses", action="store_true", help="list mailflow's misses")
    args = ap.parse_args()
    cases = load_cases()
    langs = sorted({c.lang for c in cases})
    print(f"{len(cases)} golden replies, {len(langs)} languages: {' '.join(langs)}")
    mailflow = _mailflow()
    misses: list[tuple[Case, str]] = []
    if mailflow is None:
        print("mailflow             not importable in this environment")
    else:
        misses = _report("mailflow", cases, mailflow)
        exact, partial, _ = score(cases, mailflow)
        verdict = "PASS" if exact >= TARGET_EXACT and partial >= TARGET_PARTIAL else "FAIL"
        print(f"   target exact >= {TARGET_EXACT}, partial >= {TARGET_PARTIAL}: {verdict}")
    for name, make in (("mail-parser-reply", _mail_parser_reply), ("talon", _talon)):
        other = make()
        if other is None:
            print(f"{name:20s} not installed (see this script's docstring to compare)")
        else:
            _report(name, cases, other)
    if args.misses:
        for case, got in misses:
            print(
                f"\n--- {case.id} ({case.set}, {case.group}, {case.lang})\nexpected: {case.expected!r}\ngot:      {got!r}"
            )
    if mailflow is not None:
        # Hostile replies: each must stay well under a second (the pipeline's per-mail limit).
        hostile = {
            "200,000-line quote": "Yes.\n\n" + "\n".join(f"> line {i}" for i in range(200_000)),
            "10 MB line": "x" * 10_000_000,
            "1 MB of spaces after '*'": "*" + " " * 1_000_000 + "b:\n> x\nyes",
            "20,000 attributions": "\n".join(
                ["On Sat, 21 Nov 2026, A <a@b.example> wrote:", "> q", "a"] * 20_000
            ),
            "50,000 closings": "Regards,\n" * 50_000,
            "50,000 date-first lines": "2011/4/7 A <a@b.example>\n" * 50_000,
        }
        for name, text in hostile.items():
            start = time.perf_counter()
            mailflow(text)
            took = time.perf_counter() - start
            print(f"{name:28s} {took:.2f} s  {'PASS' if took < 1 else 'FAIL'} (limit 1 s)")


if __name__ == "__main__":
    main()
