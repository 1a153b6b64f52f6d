"""Signed reply tokens: format, verification, forgery, case-insensitivity, finding them."""

from __future__ import annotations

import email
import email.policy
import json
import re
from pathlib import Path

import pytest

from mailflow.parse.tokens import (
    find_token,
    make_token,
    origin_mark,
    subject_tag,
    tag_subject,
    verify_origin,
    verify_token,
)

SECRET = b"test-secret"
PROGRAM = "sisters@program.example"
DATA = Path(__file__).parent / "data" / "replies"
EXPECTED = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))


def test_known_values_documented_for_the_golden_files() -> None:
    assert make_token(SECRET, "p7") == "p7.t3ipmb6abh"
    assert make_token(SECRET, "p12") == "p12.vfhyiqo6wl"
    assert make_token(SECRET, "l7") == "l7.6wvhvpovvq"


def test_format_is_safe_in_a_local_part() -> None:
    for ref in ("p1", "p42", "l7", "x0", "p123456"):
        token = make_token(SECRET, ref)
        assert re.fullmatch(rf"{ref}\.[a-z2-7]{{10}}", token)
        assert verify_token(SECRET, token) == ref


@pytest.mark.parametrize("ref", ["", "P7", "p-7", "p 7", "p.7", "p7+", "ü7", "a" * 33])
def test_bad_refs_are_refused(ref: str) -> None:
    with pytest.raises(ValueError):
        make_token(SECRET, ref)


def test_verification_is_case_insensitive() -> None:
    token = make_token(SECRET, "p7")
    assert verify_token(SECRET, token.upper()) == "p7"
    assert verify_token(SECRET, " P7.T3ipMB6abh ") == "p7"


def test_forged_and_altered_tokens_are_rejected() -> None:
    token = make_token(SECRET, "p7")
    ref, sig = token.split(".")
    assert verify_token(b"other-secret", token) is None
    # The same signature on another record
    assert verify_token(SECRET, f"p8.{sig}") is None
    # Each single-character change to the signature
    for i in range(len(sig)):
        altered = sig[:i] + ("a" if sig[i] != "a" else "b") + sig[i + 1 :]
        assert verify_token(SECRET, f"{ref}.{altered}") is None
    for bad in (
        "p7",
        "p7.",
        f"p7.{sig[:-1]}",
        f"p7.{sig}x",
        f"p7..{sig}",
        f".{sig}",
        "",
        f"p7.{sig}.x",
    ):
        assert verify_token(SECRET, bad) is None


@pytest.mark.parametrize(
    ("addresses", "found"),
    [
        (["sisters+p7.t3ipmb6abh@program.example"], ("p7.t3ipmb6abh", "sisters+p7.t3ipmb6abh@program.example")),
        (["Sister Libraries <SISTERS+P7.T3IPMB6ABH@Program.Example>"],
         ("p7.t3ipmb6abh", "sisters+p7.t3ipmb6abh@program.example")),
        (["anna@lib.example", "Staff <staff@program.example>, sisters+l7.abc@program.example"],
         ("l7.abc", "sisters+l7.abc@program.example")),
        (["sisters+first@program.example", "sisters+second@program.example"],
         ("first", "sisters+first@program.example")),
        (["sisters@program.example"], (None, None)),
        (["sisters+@program.example"], (None, None)),
        (["other+p7.t3ipmb6abh@program.example"], (None, None)),
        (["sisters+p7.t3ipmb6abh@elsewhere.example"], (None, None)),
        ([], (None, None)),
        (["not an address"], (None, None)),
    ],
)  # fmt: skip
def test_find_token(addresses: list[str], found: tuple[str | None, str | None]) -> None:
    assert find_token(addresses, PROGRAM) == found


def test_find_token_program_address_case() -> None:
    assert find_token(["sisters+x1.y@program.example"], "Sisters@PROGRAM.example") == (
        "x1.y",
        "sisters+x1.y@program.example",
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_golden_files_carry_valid_tokens(name: str) -> None:
    msg = email.message_from_bytes((DATA / name).read_bytes(), policy=email.policy.default)
    token, _address = find_token([str(msg["To"])], PROGRAM)
    assert token == EXPECTED[name]["token"]
    if token is not None:
        assert verify_token(SECRET, token) == token.split(".")[0]


def test_origin_mark_verifies_only_for_its_message_id_and_secret() -> None:
    mark = origin_mark("program.example", SECRET, "<mailflow.p1.abc@program.example>")
    assert mark.startswith("program.example; ")
    assert verify_origin(SECRET, mark, "mailflow.p1.abc@program.example")
    assert not verify_origin(SECRET, mark, "mailflow.p2.abc@program.example")  # moved
    assert not verify_origin(
        b"another-secret-of-at-least-32-bytes!!", mark, "mailflow.p1.abc@program.example"
    )
    assert not verify_origin(SECRET, "program.example", "mailflow.p1.abc@program.example")
    assert not verify_origin(SECRET, None, "mailflow.p1.abc@program.example")


def test_subject_tag_is_added_once_and_read_back() -> None:
    tagged = tag_subject("Your sister library", "p12")
    assert tagged == "Your sister library [SL-p12]"
    assert tag_subject(f"Re: {tagged}", "p12") == f"Re: {tagged}"
    assert subject_tag(f"AW: Re: {tagged}") == "p12"
    assert subject_tag("Re: [sl-P7] hello") == "p7"
    assert subject_tag("[SL-] no ref, [SL-x] none either, [SLP-p1] not ours") is None
