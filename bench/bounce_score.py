"""Bounce and auto-reply detection scored on the golden mails, beside plain library baselines.

    python bench/bounce_score.py            # figures
    python bench/bounce_score.py --misses   # and every mail each detector gets wrong
    python bench/bounce_score.py --set held-out-4 --misses   # one dated subset only

Golden mails written in a batch before the rules were changed carry `"set": "held-out-N"` in
expected.json; the figures are printed per set too (the rest, and tests/data/mime, are "base").

Golden mails: tests/data/bounces/*.eml and tests/data/autoreplies/*.eml, each with its
expectation in that folder's expected.json (bounce?, addresses, permanent?; auto?). The
ordinary mail of tests/data/mime counts as "no bounce, no auto-reply" too.

Ratios (the held-out scoring of issue 10 uses the same four):
- bounce detected: right bounce / not-bounce decisions over all mails;
- addresses: bounces whose failed addresses are exactly the expected ones;
- permanence: bounces whose permanent/temporary verdict is the expected one;
- auto-reply: right auto / not-auto decisions over the auto-reply goldens and ordinary mail.

Baselines on the same mails: flufl.bounce alone (`all_failures`: a bounce when it names any
failure, permanent when it names a permanent one) and the plain header checks most mail handlers
use for auto-replies (Auto-Submitted other than "no", X-Autoreply, X-Autorespond,
Precedence bulk/junk/auto_reply). Prints figures only; exits 0.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from email import message_from_bytes
from email.message import Message
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from flufl.bounce import all_failures  # noqa: E402

from mailflow.parse.autoreply import detect_auto_reply  # noqa: E402
from mailflow.parse.bounce import detect_bounce  # noqa: E402
from mailflow.parse.message import decode  # noqa: E402

DATA = ROOT / "tests" / "data"
# (bounced, addresses, permanent)
Verdict = tuple[bool, tuple[str, ...], bool | None]


def _load(folder: str) -> dict[Path, dict[str, object]]:
    expected = json.loads((DATA / folder / "expected.json").read_text(encoding="utf-8"))
    return {DATA / folder / name: e for name, e in expected.items()}


def mailflow_bounce(raw: bytes) -> Verdict:
    found = detect_bounce(raw)
    if found is None:
        return False, (), None
    return True, found.recipients, found.permanent


def flufl_bounce(raw: bytes) -> Verdict:
    msg = message_from_bytes(raw)
    try:
        temporary, permanent = all_failures(msg)
    except Exception:
        return False, (), None
    if not temporary and not permanent:
        return False, (), None
    chosen = permanent or temporary
    addresses = {a.decode("utf-8", "replace").strip().lower() for a in chosen}
    return True, tuple(sorted(addresses)), bool(permanent)


def _flag(msg: Message, name: str) -> bool:
    value = msg.get(name)
    return value is not None and str(value).strip().lower() not in ("", "no", "false", "0")


def header_checks_auto(raw: bytes) -> bool:
    msg = message_from_bytes(raw)
    submitted = str(msg.get("auto-submitted", "no")).strip().lower()
    precedence = str(msg.get("precedence", "")).strip().lower()
    return (
        not submitted.startswith("no")
        or _flag(msg, "x-autoreply")
        or _flag(msg, "x-autorespond")
        or precedence in ("bulk", "junk", "auto_reply")
    )


def mailflow_auto(raw: bytes) -> bool:
    # As the pipeline does: a bounce is never an auto-reply.
    return detect_bounce(raw) is None and detect_auto_reply(decode(raw))[0]


def _set_of(case: dict[str, object]) -> str:
    return str(case.get("set", "base"))


def score_bounces(
    detector: Callable[[bytes], Verdict], cases: dict[Path, dict[str, object]], misses: bool
) -> dict[str, tuple[int, int]]:
    right = {"detected": 0, "addresses": 0, "permanence": 0}
    total = {"detected": 0, "addresses": 0, "permanence": 0}
    for path, e in cases.items():
        bounced, addresses, permanent = detector(path.read_bytes())
        total["detected"] += 1
        ok = bounced == e["bounce"]
        right["detected"] += ok
        wrong = [] if ok else ["detected"]
        if e["bounce"]:
            total["addresses"] += 1
            total["permanence"] += 1
            if bounced and sorted(addresses) == sorted(e["recipients"]):  # type: ignore[call-overload]
                right["addresses"] += 1
            else:
                wrong.append(f"addresses {list(addresses)}")
            if bounced and permanent is e["permanent"]:
                right["permanence"] += 1
            else:
                wrong.append(f"permanent {permanent}")
        if misses and wrong:
            print(f"    miss {path.name}: {', '.join(wrong)}")
    return {k: (right[k], total[k]) for k in right}


def score_auto(
    detector: Callable[[bytes], bool], cases: dict[Path, bool], misses: bool
) -> tuple[int, int]:
    right = 0
    for path, expected in cases.items():
        got = detector(path.read_bytes())
        right += got == expected
        if misses and got != expected:
            print(f"    miss {path.name}: auto {got}")
    return right, len(cases)


def _ratio(pair: tuple[int, int]) -> str:
    right, total = pair
    return f"{right / total:.3f} ({right}/{total})" if total else "n/a"


def main() -> None:
    logging.getLogger("flufl.bounce").disabled = True  # it logs each detector that raises
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="list every wrong verdict")
    parser.add_argument("--set", help="score only the golden mails of this set (e.g. held-out-4)")
    args = parser.parse_args()

    ordinary = sorted((DATA / "mime").glob("*.eml"))
    bounce_cases = _load("bounces")
    auto_golden = _load("autoreplies")
    for path in [*ordinary, *auto_golden]:
        # an auto-reply golden counts as "no bounce" in the set it was written for
        bounce_cases.setdefault(path, {"bounce": False, "set": _set_of(auto_golden.get(path, {}))})
    sets = {path: _set_of(e) for path, e in bounce_cases.items()}
    if args.set:
        bounce_cases = {p: e for p, e in bounce_cases.items() if sets[p] == args.set}
        auto_golden = {p: e for p, e in auto_golden.items() if sets[p] == args.set}
        ordinary = []
    auto_cases = {p: bool(e["auto"]) for p, e in auto_golden.items()}
    auto_cases.update({p: False for p in ordinary})
    n_bounces = sum(bool(e["bounce"]) for e in bounce_cases.values())
    print(
        f"golden set: {len(bounce_cases)} mails for bounces ({n_bounces} bounces), "
        f"{len(auto_cases)} for auto-replies ({sum(auto_cases.values())} auto-replies)"
    )
    targets = {"detected": 0.99, "addresses": 0.98, "permanence": 0.90, "auto-reply": 0.97}
    for label, detector in (("mailflow", mailflow_bounce), ("flufl.bounce alone", flufl_bounce)):
        if args.misses:
            print(f"  {label}:")
        start = time.perf_counter()
        scores = score_bounces(detector, bounce_cases, args.misses)
        ms = (time.perf_counter() - start) * 1000 / len(bounce_cases)
        print(f"{label:>22}: " + ", ".join(f"{k} {_ratio(v)}" for k, v in scores.items()))
        print(f"{'':>22}  {ms:.2f} ms per mail")
    for label, auto in (("mailflow", mailflow_auto), ("plain header checks", header_checks_auto)):
        if args.misses:
            print(f"  {label}:")
        print(f"{label:>22}: auto-reply {_ratio(score_auto(auto, auto_cases, args.misses))}")
    if not args.set and len(set(sets.values())) > 1:
        print("per set (mailflow):")
        for name in sorted(set(sets.values())):
            subset = {p: e for p, e in bounce_cases.items() if sets[p] == name}
            scores = score_bounces(mailflow_bounce, subset, False)
            auto_subset = {p: v for p, v in auto_cases.items() if sets[p] == name}
            print(
                f"{name:>22}: "
                + ", ".join(f"{k} {_ratio(v)}" for k, v in scores.items())
                + f", auto-reply {_ratio(score_auto(mailflow_auto, auto_subset, False))}"
            )
    print("targets (held-out corpus): " + ", ".join(f"{k} >= {v}" for k, v in targets.items()))


if __name__ == "__main__":
    main()
