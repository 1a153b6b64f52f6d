"""The golden reply set: tests/data/replies/golden/*.yaml as a list of cases.

``languages.yaml`` holds each language's client formats; the mails are composed here, so their
expected new text is known by construction. ``special.yaml`` holds hand-written mails for the
formats that do not fit the pattern (Zoho, Hotmail, Yandex, ``|`` quotes, list footers, forms).
``held_out_*.yaml`` are blind batches: written before the rules were changed for them, their
first-run score (docs/parse-replies.md) estimates unseen mail; a case marked ``html: true`` is a
text/html body, turned into text as the pipeline does before trimming. Each case carries its
set (``golden`` or the batch's file name) so bench/reply_score.py prints per-set figures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mailflow.parse.htmltext import html_to_text

GOLDEN = Path(__file__).parent / "data" / "replies" / "golden"


@dataclass(frozen=True)
class Case:
    id: str
    lang: str
    group: str
    text: str
    expected: str
    trimmed: bool = True
    must: tuple[str, ...] = ()
    must_not: tuple[str, ...] = ()
    set: str = "golden"


def _quoted(text: str, prefix: str = "> ") -> str:
    return "\n".join(f"{prefix}{line}".rstrip() for line in text.split("\n"))


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.split("\n") if line.strip()]


def _compose(lang: str, f: dict[str, Any]) -> list[Case]:
    answer, quote, name = f["answer"], f["quote"], f["name"]
    closing, tagline = f["closing"], f["tagline"]
    history = _lines(quote)[-1]
    cases: list[Case] = []

    def add(group: str, text: str, expected: str = answer, extra_not: tuple[str, ...] = ()) -> None:
        n = sum(1 for c in cases if c.group == group)
        cases.append(
            Case(
                id=f"{lang}-{group}-{n}",
                lang=lang,
                group=group,
                text=text,
                expected=expected,
                must=tuple(_lines(expected)[:1] + _lines(expected)[-1:]),
                must_not=(history, *extra_not),
            )
        )

    attrs = f["attributions"]
    headers = f["headers"]
    for attr in attrs:
        add("attribution", f"{answer}\n\n{attr}\n\n{_quoted(quote)}\n")
    for block in headers:
        add("header-block", f"{answer}\n\n{block}\n\n{quote}\n")
    add(
        "separator",
        f"{answer}\n\n{f['separator']}\n{headers[0].split(chr(10), 1)[-1] if headers[0].startswith('_') else headers[0]}\n\n{quote}\n",
    )
    add("separator", f"{answer}\n{f['separator']}\n{quote}\n")
    add("tagline", f"{answer}\n\n{tagline}\n\n{attrs[0]}\n{_quoted(quote)}\n", extra_not=(tagline,))
    add(
        "closing",
        f"{answer}\n\n{closing}\n{name}\n\n{headers[-1]}\n\n{quote}\n",
        extra_not=(_lines(name)[0], _lines(closing)[0]),
    )
    add(
        "closing",
        f"{answer}\n\n{closing}\n\n{name}\n\n{attrs[-1]}\n{_quoted(quote)}\n",
        extra_not=(_lines(name)[0],),
    )
    add(
        "dash-signature",
        f"{answer}\n\n-- \n{name}\n\n{attrs[0]}\n{_quoted(quote)}\n",
        extra_not=(_lines(name)[-1],),
    )
    add(
        "bottom-posted",
        f"{attrs[0]}\n{_quoted(quote)}\n\n{answer}\n\n{closing}\n{name}\n",
        extra_not=(_lines(name)[0],),
    )
    add("leading-quote", f"{_quoted(quote)}\n\n{answer}\n")
    add(
        "leading-quote",
        f"{_quoted(attrs[-1].replace(chr(10), ' '))}\n{_quoted(quote, '> > ')}\n\n{answer}\n\n{tagline}\n",
        extra_not=(tagline,),
    )
    note = f["note"]
    add("forward", f"{note}\n\n{f['forward']}\n{headers[0]}\n\n{quote}\n", expected=note)
    add("marker", f"{answer}\n\n{f['marker']}\n\n{quote}\n")
    # The wrapped attribution a client writes when the sender's name is long.
    wrapped = next((a for a in attrs if "\n" in a), None)
    if wrapped is not None:
        add("attribution", f"{answer}\n{wrapped}\n{_quoted(quote)}\n")
    return cases


def _special(items: list[dict[str, Any]], set_name: str = "golden") -> list[Case]:
    cases = []
    for item in items:
        text = html_to_text(item["text"]) if item.get("html") else item["text"]
        expected = item.get("expected", "")
        trimmed = item.get("trimmed", True)
        if not trimmed and "expected" not in item:
            expected = text.strip()
        cases.append(
            Case(
                id=item["id"],
                lang=item.get("lang", "en"),
                group=item["group"],
                text=text,
                expected=expected,
                trimmed=trimmed,
                must=tuple(item.get("must", _lines(expected)[:1])),
                must_not=tuple(item.get("must_not", ())),
                set=set_name,
            )
        )
    return cases


def load_cases() -> list[Case]:
    """Every golden reply case: composed per language, then the hand-written ones."""
    languages = yaml.safe_load((GOLDEN / "languages.yaml").read_text(encoding="utf-8"))
    cases: list[Case] = []
    for lang, formats in languages.items():
        cases += _compose(str(lang), formats)
    special = yaml.safe_load((GOLDEN / "special.yaml").read_text(encoding="utf-8"))
    cases += _special(special)
    for path in sorted(GOLDEN.glob("held_out_*.yaml")):
        batch = yaml.safe_load(path.read_text(encoding="utf-8"))
        cases += _special(batch, path.stem)
    return cases


def score(
    cases: list[Case], trim: Callable[[str], str]
) -> tuple[float, float, list[tuple[Case, str]]]:
    """(exact ratio, partial ratio, misses) of ``trim(text) -> new text`` over the cases."""
    exact = partial = 0
    misses: list[tuple[Case, str]] = []
    for case in cases:
        got = (trim(case.text) or "").strip()
        ok_exact = got == case.expected.strip()
        ok_partial = all(m in got for m in case.must) and not any(n in got for n in case.must_not)
        exact += ok_exact
        partial += ok_partial
        if not (ok_exact and ok_partial):
            misses.append((case, got))
    return exact / len(cases), partial / len(cases), misses
