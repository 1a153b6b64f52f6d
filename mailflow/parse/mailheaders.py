"""Address, Message-ID and Date headers, decoded leniently. Pure; never raises."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import errors
from email.utils import getaddresses, parsedate_to_datetime

from mailflow.parse.charsets import decode_header_value, unescape_surrogates
from mailflow.parse.clean import (
    MAX_ADDRESS_HEADER,
    MAX_COMMENT_DEPTH,
    MAX_PATH,
    comment_depth,
    flatten_comments,
)
from mailflow.parse.facts import Address

ANGLE_ID = re.compile(r"<([^<>\s]+)>")


def msg_id(value: str | None) -> str | None:
    """The id inside angle brackets (or the bare token), or None."""
    if not value or not value.strip():
        return None
    found = ANGLE_ID.search(value)
    return found.group(1) if found else value.strip().split()[0].strip("<>") or None


def safe_getaddresses(
    values: list[str], defects: list[str] | None = None, name: str = "address"
) -> list[tuple[str, str]]:
    """`email.utils.getaddresses`, but comments nested deeper than MAX_COMMENT_DEPTH are
    flattened first: the stdlib parser recurses once per level (RecursionError at ~500)."""
    flat = []
    for value in values:
        if len(value) > MAX_ADDRESS_HEADER:
            value = value[:MAX_ADDRESS_HEADER].rpartition(",")[0] or value[:MAX_ADDRESS_HEADER]
            if defects is not None:
                defects.append(f"truncated:{name}")
        if "(" in value and comment_depth(value) > MAX_COMMENT_DEPTH:
            value = flatten_comments(value)
            if defects is not None:
                defects.append(f"deep-nesting:{name}")
        flat.append(value)
    try:
        return getaddresses(flat)
    except Exception:  # noqa: BLE001 - a header we cannot read is no address, not a crash
        if defects is not None:
            defects.append(f"malformed-header:{name}")
        return []


def addresses(
    raw: str | None, hint: str | None, defects: list[str] | None = None, name: str = "address"
) -> list[tuple[str, str]]:
    """[(lower-case address, decoded name)]; parse before decoding so encoded commas stay."""
    if not raw:
        return []
    pairs = safe_getaddresses([re.sub(r"\r?\n(?=[ \t])", "", raw)], defects, name)
    return [
        (unescape_surrogates(addr, hint).strip().lower(), decode_header_value(name, hint=hint))
        for name, addr in pairs
    ]


def address_list(
    raw: str | None, hint: str | None, name: str, defects: list[str]
) -> tuple[str, ...]:
    """Distinct lower-case addresses of an address header; junk entries become a defect."""
    found = [a for a, _ in addresses(raw, hint, defects, name)]
    good = [a for a in found if "@" in a and " " not in a]
    if raw and raw.strip() and len(good) < len([a for a in found if a]):
        defects.append(f"malformed-header:{name}")
    return tuple(dict.fromkeys(good))


def deliverable_length(addr: str) -> bool:
    """Whether an address fits SMTP's path limit (RFC 5321 4.5.3.1.3: 256 octets with its
    brackets): a longer one can be neither answered nor kept as a contact. (The 64-octet local
    part limit is not enforced: real mail servers accept longer ones.)"""
    return len(addr.encode()) <= MAX_PATH - 2


def sender(raw: str | None, hint: str | None, defects: list[str]) -> Address:
    """The first usable From address, or Address("", whatever name text there was)."""
    if raw is None:
        defects.append("no-from")
        return Address("")
    if len(raw) > MAX_ADDRESS_HEADER:
        raw = raw[:MAX_ADDRESS_HEADER]
        defects.append("truncated:from")
    for addr, name in addresses(raw, hint, defects, "from"):
        if "@" in addr and " " not in addr:
            if not deliverable_length(addr):
                defects.append("too-long:from-address")
                continue
            return Address(addr, " ".join(name.split()))
    defects.append("malformed-header:from")
    if "(" in raw and comment_depth(raw) > MAX_COMMENT_DEPTH:
        raw = flatten_comments(raw)
    whole = decode_header_value(raw, hint=hint).replace('"', "")
    return Address("", " ".join(whole.split()))


def parse_date(raw: str | None, defects: list[str]) -> datetime | None:
    """An aware datetime from a Date header, or None (with a defect)."""
    if raw is None:
        defects.append("no-date")
        return None
    try:
        parsed = parsedate_to_datetime(" ".join(unescape_surrogates(raw).split()))
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.append("malformed-header:date")
        return None
    # "-0000" means "zone unknown"; UTC is the honest reading.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class MalformedHeaderLineDefect(errors.MessageDefect):
    """A line in the header block that is neither a header nor a continuation; dropped."""


_HEADER_LINE = re.compile(rb"[\x21-\x39\x3b-\x7e]+:")
_SPACED_NAME = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]+:")
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")


def repair_header_block(raw: bytes) -> tuple[bytes, list[errors.MessageDefect]]:
    """Drop stray non-header lines so the headers after them are not lost to the body.

    The feedparser ends the header block at the first line without a colon; a mailer bug
    there would otherwise swallow Subject/From into the body.
    """
    found = _BLANK_LINE.search(raw)
    end = found.start() if found else len(raw)
    lines = raw[:end].split(b"\n")
    bad = [
        i
        for i, line in enumerate(lines)
        if line.strip(b"\r")
        and line[:1] not in b" \t"
        and not _HEADER_LINE.match(line)
        and not (i == 0 and line.startswith(b"From "))
    ]
    if not bad:
        return raw, []
    kept: list[bytes] = []
    defects: list[errors.MessageDefect] = []
    for i, line in enumerate(lines):
        if i in bad:
            if spaced := _SPACED_NAME.match(line):  # "Subject : x" -> "Subject: x"
                kept.append(spaced.group(1) + b":" + line[spaced.end() :])
                continue
            if not any(_HEADER_LINE.match(rest) for rest in lines[i + 1 :]):
                # Nothing header-like follows: the body starts here without a blank line.
                defects.append(errors.MissingHeaderBodySeparatorDefect())
                return b"\n".join([*kept, b"", *lines[i:]]) + raw[end:], defects
            defects.append(MalformedHeaderLineDefect())
            continue
        kept.append(line)
    return b"\n".join(kept) + raw[end:], defects
