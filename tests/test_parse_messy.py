"""Messy MIME as it really arrives: the golden mails of tests/data/mime/messy (written by
make.py there, expectations in expected.json) give the facts their writers meant.

`python tests/test_parse_messy.py` prints the share of expected facts met (the golden score).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from mailflow.parse import parse_message
from mailflow.parse.charsets import guess_cyrillic

MESSY = Path(__file__).parent / "data" / "mime" / "messy"
EXPECTED: dict[str, dict[str, Any]] = json.loads((MESSY / "expected.json").read_text("utf-8"))
PROGRAM = "sisters@program.example"


def facts_of(name: str) -> dict[str, Any]:
    raw = (MESSY / name).read_bytes()
    return parse_message(raw, program_address=PROGRAM, secret=None).to_json()


def misses(name: str) -> tuple[int, list[str]]:
    """(number of facts checked, the ones that do not hold) for one golden mail."""
    out = facts_of(name)
    checked: list[tuple[str, bool]] = []
    for key, want in EXPECTED[name].items():
        if key == "from":
            checked.append((f"from={want}, got {out['from']}", out["from"] == want))
        elif key in ("to", "cc", "reply_to"):
            got = [[a["address"], a["name"]] for a in out[key]]
            checked.append((f"{key}={want}, got {got}", got == want))
        elif key in ("subject", "body_charset", "date"):
            checked.append((f"{key}={want!r}, got {out[key]!r}", out[key] == want))
        elif key == "text_has":
            checked += [(f"text has {s!r}", s in out["text"]) for s in want]
        elif key == "text_lacks":
            checked += [(f"text lacks {s!r}", s not in out["text"]) for s in want]
        elif key == "attachments":
            got = [[a["filename"], a["content_type"]] for a in out["attachments"]]
            checked.append((f"attachments={want}, got {got}", got == want))
        elif key == "defects_has":
            checked += [(f"defect {d}", d in out["defects"]) for d in want]
        else:
            raise AssertionError(f"{name}: unknown expectation {key}")
    if "text_has" in EXPECTED[name]:
        checked.append(("text has no U+FFFD", "\ufffd" not in out["text"]))
    return len(checked), [what for what, ok in checked if not ok]


def test_there_are_enough_golden_mails() -> None:
    assert len(EXPECTED) >= 60
    assert sorted(EXPECTED) == sorted(p.name for p in MESSY.glob("*.eml"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_golden_messy_mail(name: str) -> None:
    _, missed = misses(name)
    assert missed == [], f"{name}: {missed}"


def test_json_values_have_the_contract_types_on_every_golden_mail() -> None:
    for name in EXPECTED:
        out = facts_of(name)
        for key in ("to", "cc", "reply_to"):
            assert all(set(a) == {"address", "name"} for a in out[key]), (name, key)
        assert isinstance(out["body_charset"], str)
        assert all(a["filename"] for a in out["attachments"]), name  # unnamed parts named too


@pytest.mark.parametrize(
    ("text", "codec"),
    [("Grüße aus München", "latin-1"), ("Ça va très bien", "latin-1"), ("Çà é", "latin-1")],
)
def test_latin_text_is_never_read_as_cyrillic(text: str, codec: str) -> None:
    assert guess_cyrillic(text.encode(codec)) is None


@pytest.mark.parametrize("codec", ["windows-1251", "koi8-r"])
def test_short_cyrillic_is_read_in_either_charset(codec: str) -> None:
    assert guess_cyrillic("Заявка библиотеки".encode(codec)) == "Заявка библиотеки"


def test_a_cte_outside_the_typo_forms_is_left_alone() -> None:
    raw = b"From: a@b.example\r\nContent-Transfer-Encoding: x-gzip64\r\n\r\nSGVsbG8=\r\n"
    out = parse_message(raw, program_address=PROGRAM, secret=None).to_json()
    assert "SGVsbG8=" in out["text"]


def test_a_nested_multipart_without_boundary_is_read_by_its_delimiters() -> None:
    raw = (
        b"From: a@lib.example\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="out"\r\n\r\n--out\r\n'
        b"Content-Type: multipart/alternative\r\n\r\n--inner\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nInner text, caf\xc3\xa9.\r\n--inner\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>Inner text.</p>\r\n--inner--\r\n"
        b'--out\r\nContent-Type: application/pdf; name="a.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--out--\r\n"
    )
    out = parse_message(raw, program_address=PROGRAM, secret=None).to_json()
    assert out["text"] == "Inner text, café."
    assert [a["filename"] for a in out["attachments"]] == ["a.pdf"]
    assert "guessed-boundary" in out["defects"]


def test_an_empty_boundary_parameter_is_guessed_too() -> None:
    raw = (
        b"From: a@lib.example\r\nSubject: y\r\nContent-Type: multipart/mixed; boundary=\r\n\r\n"
        b"--zz\r\nContent-Type: text/plain\r\n\r\nHello there.\r\n--zz--\r\n"
    )
    out = parse_message(raw, program_address=PROGRAM, secret=None).to_json()
    assert out["text"] == "Hello there."


if __name__ == "__main__":
    total = failed = 0
    for mail in sorted(EXPECTED):
        n, missed = misses(mail)
        total, failed = total + n, failed + len(missed)
        for what in missed:
            print(f"MISS {mail}: {what}")
    print(f"golden score: {total - failed}/{total} facts = {(total - failed) / total:.3f}")
    sys.exit(0)
