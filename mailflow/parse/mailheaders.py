"""Address, Message-ID and Date headers, decoded leniently. Pure; never raises."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from email import errors
from email.utils import getaddresses, parsedate_to_datetime

from mailflow.parse.charsets import decode_header_value, unescape_surrogates
from mailflow.parse.clean import (
    MAX_ADDRESS_HEADER,
    MAX_COMMENT_DEPTH,
    MAX_HEADER_FIELD,
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
    if (fast := _simple_pairs(flat)) is not None:
        return fast
    try:
        return getaddresses(flat)
    except Exception:  # noqa: BLE001 - a header we cannot read is no address, not a crash
        if defects is not None:
            defects.append(f"malformed-header:{name}")
        return []


# One list item in the shapes nearly all mail uses: `Name <a@b>`, `"Name" <a@b>`, `a@b`.
_SIMPLE_ITEM = re.compile(
    r'\s*(?:"([^"\\]*)"|([^"<>@,;:\\()\[\]]*?))\s*<([^<>\s@",;:()]+@[^<>\s@",;:()]+)>\s*'
)
_BARE_ITEM = re.compile(r'\s*([^<>\s@",;:()\\]+@[^<>\s@",;:()\\]+)\s*')


def _simple_pairs(values: list[str]) -> list[tuple[str, str]] | None:
    """What getaddresses returns, for headers made only of the simple shapes (it takes ~0.2 ms
    a header, most of a small mail's parse); None for anything else, which it then parses."""
    pairs: list[tuple[str, str]] = []
    for value in values:
        if "(" in value or "\\" in value:
            return None
        for item in value.split(","):
            if (found := _SIMPLE_ITEM.fullmatch(item)) is not None:
                name = found.group(1) if found.group(1) is not None else found.group(2)
                pairs.append((" ".join(name.split()) if found.group(2) else name, found.group(3)))
            elif (bare := _BARE_ITEM.fullmatch(item)) is not None:
                pairs.append(("", bare.group(1)))
            elif item.strip():
                return None
    return pairs


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
    return tuple(a.address for a in named_address_list(raw, hint, name, defects))


def usable(addr: str) -> bool:
    """An addr-spec one could write to: an @ with something on both sides, no spaces."""
    local, at, domain = addr.rpartition("@")
    return bool(at and local and domain) and " " not in addr


def named_address_list(
    raw: str | None, hint: str | None, name: str, defects: list[str]
) -> tuple[Address, ...]:
    """Distinct addresses of an address header with their decoded display names, in order;
    junk entries become a defect."""
    found = addresses(_mailto(raw), hint, defects, name) if raw else []
    good: dict[str, Address] = {}
    for addr, display in found:
        if usable(addr) and addr not in good:
            good[addr] = Address(addr, " ".join(display.split()))
    if raw and raw.strip() and len(good) < len({a for a, _ in found if a}):
        defects.append(f"malformed-header:{name}")
    return tuple(good.values())


def _mailto(raw: str | None) -> str:
    # "Name <mailto:a@b>" (pasted from a web page) reads as a route to "mailto".
    return re.sub(r"<\s*mailto:", "<", raw or "", flags=re.I)


def deliverable_length(addr: str) -> bool:
    """Whether an address fits SMTP's path limit (RFC 5321 4.5.3.1.3: 256 octets with its
    brackets): a longer one can be neither answered nor kept as a contact. (The 64-octet local
    part limit is not enforced: real mail servers accept longer ones.)"""
    return len(addr.encode()) <= MAX_PATH - 2


# A bare addr-spec in text that is no address list ("John Doe john@x.org", '"J" j@x.org').
_BARE_ADDRESS = re.compile(r"[^\s<>\"'(),;:@\[\]]+@[^\s<>\"'(),;:@\[\]]+")


def sender(raw: str | None, hint: str | None, defects: list[str]) -> Address:
    """The first usable From address with its name, or Address("", whatever name text there
    was). Tolerates what mailers really send: several addresses (the first counts), an unquoted
    comma in the name ("Doe, John <j@x>"), no angle brackets ("John Doe j@x"), "<mailto:...>",
    and a whole "Name <addr>" inside one encoded word."""
    if raw is None:
        defects.append("no-from")
        return Address("")
    if len(raw) > MAX_ADDRESS_HEADER:
        raw = raw[:MAX_ADDRESS_HEADER]
        defects.append("truncated:from")
    raw = re.sub(r"\r?\n(?=[ \t])", "", _mailto(raw))
    if "(" in raw and comment_depth(raw) > MAX_COMMENT_DEPTH:
        raw = flatten_comments(raw)
        defects.append("deep-nesting:from")
    pairs = addresses(raw, hint, defects, "from")
    found = _first_sender(raw, pairs, hint, defects)
    if found is None and "=?" in raw:  # the address itself was encoded
        whole = decode_header_value(raw, hint=hint)
        if whole != raw:
            found = _first_sender(whole, addresses(whole, None, None, "from"), None, defects)
    if found is not None:
        if len([a for a, _ in pairs if usable(a)]) > 1:
            defects.append("multiple-addresses:from")
        return found
    defects.append("malformed-header:from")
    whole = decode_header_value(raw, hint=hint).replace('"', "")
    return Address("", " ".join(whole.split()))


def _first_sender(
    raw: str, pairs: list[tuple[str, str]], hint: str | None, defects: list[str]
) -> Address | None:
    for i, (addr, name) in enumerate(pairs):
        if not usable(addr):
            continue
        if not deliverable_length(addr):
            defects.append("too-long:from-address")
            continue
        if i and not any("@" in a for a, _ in pairs[:i]) and raw.count("<") == 1:
            # "Doe, John <j@x>": the comma split the name, not the list.
            lead = raw.split("<", 1)[0]
            name = decode_header_value(lead, hint=hint).strip().strip('"').strip()
            defects.append("malformed-header:from")
        return Address(addr, " ".join(name.split()))
    bare = _BARE_ADDRESS.search(raw)
    if bare and usable(bare.group(0)) and deliverable_length(bare.group(0)):
        rest = (raw[: bare.start()] + raw[bare.end() :]).replace('"', " ").strip(" <>()")
        defects.append("malformed-header:from")
        address = unescape_surrogates(bare.group(0), hint).strip().lower()
        return Address(address, " ".join(decode_header_value(rest, hint=hint).split()))
    return None


def parse_date(raw: str | None, defects: list[str]) -> datetime | None:
    """An aware datetime from a Date header, or None (with a defect).

    Besides RFC 5322, what mailers really write is read: `GMT+0800`, `+08:00`, ISO 8601
    (`2026-12-01 08:00:00`, `2026/12/01T08:00+08:00`), and German, French, Spanish, Dutch,
    Italian or Chinese day and month names."""
    if raw is None:
        defects.append("no-date")
        return None
    text = " ".join(unescape_surrogates(raw).split())[:200]
    for candidate in dict.fromkeys((_normal_date(text), text)):
        parsed: datetime | None
        try:
            parsed = parsedate_to_datetime(candidate)
        except (TypeError, ValueError, IndexError, OverflowError):
            parsed = _iso_date(candidate)
        if parsed is not None:
            # "-0000" means "zone unknown"; UTC is the honest reading.
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    defects.append("malformed-header:date")
    return None


_MONTHS = {
    "jän": "Jan", "janv": "Jan", "ene": "Jan", "gen": "Jan", "mär": "Mar", "mrz": "Mar",
    "mars": "Mar", "févr": "Feb", "fevr": "Feb", "fév": "Feb", "avr": "Apr", "abr": "Apr",
    "mai": "May", "mei": "May", "mag": "May", "juin": "Jun", "giu": "Jun", "juil": "Jul",
    "lug": "Jul", "août": "Aug", "aout": "Aug", "ago": "Aug", "set": "Sep", "okt": "Oct",
    "ott": "Oct", "dez": "Dec", "déc": "Dec", "dic": "Dec",
}  # fmt: skip
_LOCAL_MONTH = re.compile(
    r"\b(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?(?=[\s\d-])", re.I
)
_CJK_MONTH = re.compile(r"(?<!\d)(1[0-2]|0?[1-9])\s*月")
_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_GMT_OFFSET = re.compile(r"\b(?:GMT|UTC)\s*([+-])(\d{1,2}):?(\d{2})?\b", re.I)
_COLON_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})(?=\s*(?:\(.*\))?$)")
_DAY_NAME = re.compile(r"^[^\W\d]+\.?,\s*")


def _normal_date(text: str) -> str:
    """text with a leading day name dropped, local month names in English and the offset
    written as RFC 5322 wants it."""
    text = _DAY_NAME.sub("", text)
    text = _LOCAL_MONTH.sub(lambda m: _MONTHS[m.group(1).lower()], text)
    text = _CJK_MONTH.sub(lambda m: _EN_MONTHS[int(m.group(1)) - 1], text)
    text = _GMT_OFFSET.sub(lambda m: f"{m.group(1)}{int(m.group(2)):02d}{m.group(3) or '00'}", text)
    return _COLON_OFFSET.sub(r"\1\2\3", text)


_ISO_DATE = re.compile(
    r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[T ]+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?",
    re.I,
)


def _iso_date(text: str) -> datetime | None:
    found = _ISO_DATE.search(text)
    if found is None:
        return None
    year, month, day, hour, minute, second, zone = found.groups()
    offset = UTC
    if zone and zone.upper() != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        return datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
            tzinfo=offset,
        )  # fmt: skip
    except (ValueError, OverflowError):
        return None


class MalformedHeaderLineDefect(errors.MessageDefect):
    """A line in the header block that is neither a header nor a continuation; dropped."""


_HEADER_LINE = re.compile(rb"[\x21-\x39\x3b-\x7e]+:")
_SPACED_NAME = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]+:")


def repair_header_block(raw: bytes) -> tuple[bytes, list[errors.MessageDefect]]:
    """Drop stray non-header lines so the headers after them are not lost to the body.

    The feedparser ends the header block at the first line without a colon; a mailer bug
    there would otherwise swallow Subject/From into the body.
    """
    end = _header_end(raw)
    capped: list[errors.MessageDefect] = []
    if end > MAX_HEADER_FIELD:
        head = _cap_fields(raw[:end])
        if len(head) < end:
            raw, end = head + raw[end:], len(head)
            capped.append(errors.MessageDefect("truncated:header"))
    repaired, defects = _drop_stray_lines(raw, end)
    end = _header_end(repaired)
    lower = repaired[:end].lower()
    if lower.count(b"content-type") > 1:
        repaired = _repair_content_type(repaired, end, defects)
    return repaired, capped + defects


_CONTENT_TYPE_FIELD = re.compile(rb"^content-type[ \t]*:[^\n]*(?:\n[ \t][^\n]*)*\n?", re.I | re.M)
_BOUNDARY_PARAM = re.compile(rb"""boundary\s*=\s*(?:"([^"\r\n]+)"|([^\s;"]+))""", re.I)


def _boundary_in(body: bytes, field: bytes) -> bool:
    found = _BOUNDARY_PARAM.search(field)
    marker = found and (found.group(1) or found.group(2))
    return bool(marker) and b"--" + marker in body  # type: ignore[operator]


def _repair_content_type(raw: bytes, end: int, defects: list[errors.MessageDefect]) -> bytes:
    """The message's own Content-Type made usable when a mailer broke it.

    Two Content-Type fields (a gateway added one): the feedparser takes the first, so a
    multipart body under a first "text/plain" reads as one text with its delimiters; keep the
    multipart one whose boundary the body uses. (A multipart part without a boundary is
    repaired after parsing: message.py.)
    """
    head, body = raw[:end], raw[end:]
    fields = list(_CONTENT_TYPE_FIELD.finditer(head))
    if len(fields) > 1:
        defects.append(errors.MessageDefect("duplicate-header:content-type"))
        keep = next(
            (
                f
                for f in fields
                if b"multipart/" in f.group(0).lower() and _boundary_in(body, f.group(0))
            ),
            fields[0],
        )
        pieces: list[bytes] = []
        pos = 0
        for f in fields:
            pieces.append(head[pos : f.start()])
            if f is keep:
                pieces.append(f.group(0))
            pos = f.end()
        pieces.append(head[pos:])
        head = b"".join(pieces)
    return head + body


_FIELD_START = re.compile(rb"\n(?![ \t])")


def _cap_fields(head: bytes) -> bytes:
    """The header block with each field cut to MAX_HEADER_FIELD octets (at a fold when
    there is one)."""
    fields = _FIELD_START.split(head)
    return b"\n".join(
        f
        if len(f) <= MAX_HEADER_FIELD
        else f[:MAX_HEADER_FIELD].rpartition(b"\n")[0] or f[:MAX_HEADER_FIELD]
        for f in fields
    )


def _header_end(raw: bytes) -> int:
    """Where the header block ends (the blank line), found with bytes.find: the equivalent
    regex tries every position and took 0.25 s on a 10 MB header."""
    found = [i for i in (raw.find(b"\n\n"), raw.find(b"\n\r\n")) if i >= 0]
    if not found:
        return len(raw)
    first = min(found)
    return first - 1 if first and raw[first - 1] == 0x0D else first


def _drop_stray_lines(raw: bytes, end: int) -> tuple[bytes, list[errors.MessageDefect]]:
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
