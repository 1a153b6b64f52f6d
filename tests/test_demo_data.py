"""The demo libraries (mailflow/demo/libraries.yaml) are believable and the real parser reads them.

`mailflow demo` replays this file through the pipeline, so every text in it must be understood
the way the demo intends: applications parse as applications with the required fields, offer
replies say yes or no, MOU replies carry every field and agree.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

import mailflow
from mailflow.countries import country_key
from mailflow.parse import parse_message
from mailflow.parse.forms import (
    APPLICATION_FIELDS,
    REQUIRED_APPLICATION_FIELDS,
    REQUIRED_MOU_FIELDS,
    extract_fields,
    missing,
)
from mailflow.parse.intents import detect_intent, is_withdrawal

from .helpers import PROGRAM, T0

DATA = Path(mailflow.__file__).parent / "demo" / "libraries.yaml"
KEYS = {
    "key", "from", "client", "subject", "application", "missing", "complete", "offer_reply",
    "intended", "checkin_reply", "mou", "out_of_office", "bounce",
}  # fmt: skip
CLIENTS = {"gmail", "outlook", "apple", "thunderbird", "qq", "163"}
_FIELD_LINE = re.compile(r"^\s*[^:：\n]{1,40}[:：]")  # as dispatch.route reads MOU agreement
_HAN = re.compile(r"[\u4e00-\u9fff]")


def _load() -> list[dict[str, Any]]:
    return yaml.safe_load(DATA.read_text(encoding="utf-8"))


LIBRARIES = _load()
IDS = [lib["key"] for lib in LIBRARIES]


def _application_mail(lib: dict[str, Any]) -> bytes:
    msg = EmailMessage()
    msg["From"] = lib["from"]
    msg["To"] = PROGRAM
    msg["Subject"] = lib["subject"]
    msg["Date"] = format_datetime(T0)
    msg["Message-ID"] = make_msgid(domain="client.example")
    msg.set_content(lib["application"])
    return msg.as_bytes(policy=SMTP)


def _address(lib: dict[str, Any]) -> str:
    return parseaddr(lib["from"])[1].lower()


def _is_chinese(text: str) -> bool:
    return len(_HAN.findall(text)) > len(text) / 10


def test_shape_of_every_entry() -> None:
    assert isinstance(LIBRARIES, list)
    for lib in LIBRARIES:
        assert set(lib) == KEYS, lib.get("key")
        assert lib["client"] in CLIENTS, lib["key"]
        assert isinstance(lib["bounce"], bool), lib["key"]
        assert lib["subject"].strip() and lib["application"].strip(), lib["key"]
        if lib["missing"] is None:
            assert lib["complete"] is None, lib["key"]
        if lib["offer_reply"] is None:  # silent to offers: nothing later to answer
            assert lib["intended"] is None, lib["key"]
            assert lib["checkin_reply"] is None and lib["mou"] is None, lib["key"]


def test_a_varied_pool() -> None:
    assert len(LIBRARIES) >= 20
    countries = {country_key(extract_fields(lib["application"])["country"]) for lib in LIBRARIES}
    assert len(countries) >= 12, countries
    wanted = {
        "China", "Spain", "Kenya", "France", "United States", "India", "Japan", "Brazil",
        "Germany", "Egypt", "Philippines",
    }  # fmt: skip
    assert wanted <= countries
    assert countries & {"Chile", "Mexico"}
    types = Counter(extract_fields(lib["application"]).get("library_type") for lib in LIBRARIES)
    assert {"public", "academic", "school", "special"} <= set(types), types
    assert sum(_is_chinese(lib["application"]) for lib in LIBRARIES) >= 3


def test_keys_and_addresses_unique_and_invented() -> None:
    assert len(set(IDS)) == len(IDS)
    addresses = [_address(lib) for lib in LIBRARIES]
    assert len(set(addresses)) == len(addresses)
    for address in addresses:
        assert re.fullmatch(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.example(?:\.[a-z]{2,3})*", address), (
            address
        )
    for lib in LIBRARIES:  # the form's own address and website stay under .example too
        fields = extract_fields(lib["application"])
        assert ".example" in fields.get("website", ".example"), lib["key"]
        if "contact_email" in fields:
            assert fields["contact_email"] == _address(lib), lib["key"]


def test_special_behaviours() -> None:
    assert sum(lib["bounce"] for lib in LIBRARIES) == 1
    with_missing = [lib for lib in LIBRARIES if lib["missing"]]
    assert len(with_missing) == 1
    lib = with_missing[0]
    assert lib["missing"] in REQUIRED_APPLICATION_FIELDS
    assert lib["complete"] and extract_fields(lib["complete"]).get(lib["missing"])
    intents = Counter(lib["intended"] for lib in LIBRARIES if not lib["bounce"])
    assert 1 <= intents["decline"] <= 2
    assert 2 <= intents[None] <= 3
    answering = [lib for lib in LIBRARIES if lib["intended"] == "accept"]
    assert sum(lib["checkin_reply"] is None for lib in answering) >= 2
    out_of_office = [lib for lib in LIBRARIES if lib["out_of_office"]]
    assert len(out_of_office) == 1
    back = out_of_office[0]["out_of_office"]
    assert isinstance(back, str) and date.fromisoformat(back), (
        "a quoted ISO date, as the demo reads it"
    )


def test_languages_allow_matches() -> None:
    langs = {
        lib["key"]: set(extract_fields(lib["application"])["languages"].split(","))
        for lib in LIBRARIES
    }
    country = {
        lib["key"]: country_key(extract_fields(lib["application"])["country"]) for lib in LIBRARIES
    }
    for key, own in langs.items():
        partners = [k for k in langs if country[k] != country[key] and langs[k] & own]
        assert partners, f"{key} shares a working language with no library abroad"
    assert any(own == {"zh"} for own in langs.values())  # a Chinese-only library
    assert sum(own == {"es"} for own in langs.values()) >= 2  # a few Spanish-only ones


@pytest.mark.parametrize("lib", LIBRARIES, ids=IDS)
def test_application_parses(lib: dict[str, Any]) -> None:
    facts = parse_message(_application_mail(lib), secret=None, program_address=PROGRAM)
    assert facts.kind == "application"
    expected_missing = [lib["missing"]] if lib["missing"] else []
    assert missing(facts.fields, REQUIRED_APPLICATION_FIELDS) == expected_missing
    assert set(APPLICATION_FIELDS) - set(facts.fields) == set(expected_missing), (
        "size, interests, communication, commitment, website and timezone filled in too"
    )
    ZoneInfo(facts.fields["timezone"])
    assert facts.fields["library_type"] in {"public", "academic", "school", "special", "national"}


@pytest.mark.parametrize("lib", LIBRARIES, ids=IDS)
def test_replies_say_what_they_mean(lib: dict[str, Any]) -> None:
    if lib["offer_reply"] is not None:
        assert lib["intended"] in ("accept", "decline")
        assert detect_intent(lib["offer_reply"]) == lib["intended"]
    for text in (lib["offer_reply"], lib["checkin_reply"], lib["mou"], lib["complete"]):
        if text:
            assert not is_withdrawal(text)
    if lib["checkin_reply"]:  # an activity report, not mistaken for a form
        assert not extract_fields(lib["checkin_reply"], form="mou")
    if _is_chinese(lib["application"]):  # Chinese libraries answer in Chinese
        for text in (lib["offer_reply"], lib["checkin_reply"], lib["mou"]):
            assert text is None or _is_chinese(text)


@pytest.mark.parametrize(
    "lib", [lib for lib in LIBRARIES if lib["mou"]], ids=lambda lib: lib["key"]
)
def test_mou_reply_complete_and_agreeing(lib: dict[str, Any]) -> None:
    fields = extract_fields(lib["mou"], form="mou")
    assert missing(fields, REQUIRED_MOU_FIELDS) == []
    words = [ln for ln in lib["mou"].splitlines() if ln.strip() and not _FIELD_LINE.match(ln)]
    assert detect_intent("\n".join(words)) == "accept"


def test_mou_reply_survives_a_real_parse() -> None:
    """Threaded like a real answer, an MOU reply still yields every field and no auto-reply."""
    for lib in LIBRARIES:
        if not lib["mou"]:
            continue
        msg = EmailMessage()
        msg["From"] = lib["from"]
        msg["To"] = PROGRAM
        msg["Subject"] = "Re: Memorandum of understanding"
        msg["Date"] = format_datetime(T0)
        msg["Message-ID"] = make_msgid(domain="client.example")
        msg["In-Reply-To"] = "<mou-1@program.example>"
        msg.set_content(lib["mou"])
        facts = parse_message(msg.as_bytes(policy=SMTP), secret=None, program_address=PROGRAM)
        assert facts.kind == "reply", lib["key"]
        assert missing(facts.fields, REQUIRED_MOU_FIELDS) == [], lib["key"]
        assert not facts.auto_reply, lib["key"]
