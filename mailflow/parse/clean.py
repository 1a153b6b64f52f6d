"""Limits on hostile structure, and the cleaning every decoded value passes through. Pure.

PostgreSQL refuses NUL in text (and JSON) columns, and a lone surrogate cannot be encoded as
UTF-8 at all; either would make a mail impossible to store or print. Such characters are
removed (or replaced) once, here, and recorded as defects; the raw bytes stay untouched.
"""

from __future__ import annotations

import contextlib
import re
from urllib.parse import quote

# Comment nesting in an address header the stdlib parser (which recurses per level) is given;
# real mail nests at most two or three.
MAX_COMMENT_DEPTH = 32
# MIME nesting decoded; deeper parts are not walked. Real mail (a forward of a forward of a
# signed message) rarely passes ten.
MAX_MIME_DEPTH = 40
# Bytes of a message parse_message reads: the stdlib parser needs ~10 times a message's size
# in memory and ~0.15 s per MB. Text and forms come first; past this are attachments' bytes,
# whose listing (name, size) is then partial (a `truncated:message` defect says so). The raw
# bytes stay whole in the inbox.
MAX_PARSED_BYTES = 10 * 1024 * 1024
# Header fields decoded; a mail with 30,000 junk header lines keeps its first ones (From,
# Subject and the ids are looked up among all of them).
MAX_HEADERS = 500
# Octets of one header field (with its folded lines) parsed: a 10 MB subject or 100,000
# encoded words would cost seconds in every regex that reads the subject. The longest real
# ones (a References chain, a Chinese subject in encoded words) stay far below this.
MAX_HEADER_FIELD = 32 * 1024
# multipart/* and message/* parts parsed: the stdlib parser checks each line against every
# enclosing boundary and compiles a regex per boundary, so 1,000 nested parts took seconds.
# Containers past this are read as opaque text (a `deep-nesting:mime` defect).
MAX_CONTAINERS = 100
# Characters of one address header (To, Cc, From, Reply-To) parsed: the stdlib address parser
# takes ~20 us per character; 16 kB is some 400 addresses.
MAX_ADDRESS_HEADER = 16 * 1024
# RFC 5321 4.5.3.1.3: a reverse or forward path, brackets included, in octets.
MAX_PATH = 256
# Characters of a text (body, attachment) kept and read by the form, intent and reply regexes.
# An application form is a few kB; the rest is kept in the inbox's raw bytes.
MAX_TEXT = 256 * 1024
# A Message-ID we reuse in our own headers or look up is cut to this length (RFC 5322's line).
MAX_REUSED_ID = 250

# C0 controls except TAB/LF, DEL and the C1 block (left by latin-1 mis-decoding).
_CONTROLS_TEXT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROLS_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")
_DOT_ATOM_TEXT = "!#$%&'*+-/=?^_`{|}~."  # what a reused id keeps besides letters and digits


def clean(value: str, field: str, defects: list[str], *, multiline: bool = False) -> str:
    """value without control characters (TAB/LF kept if multiline) and lone surrogates.

    Each kind found adds a defect naming the field, e.g. ``control-characters:subject``.
    """
    if value.isascii() and value.isprintable():
        return value  # the common case: nothing to scan twice
    pattern = _CONTROLS_TEXT if multiline else _CONTROLS_LINE
    if not multiline:
        value = re.sub(r"[\t\r\n]+", " ", value)  # folding whitespace is a space, not a defect
    cleaned = pattern.sub("", value)
    if cleaned != value:
        defects.append(f"control-characters:{field}")
    replaced = _SURROGATES.sub("\ufffd", cleaned)
    if replaced != cleaned:
        defects.append(f"undecodable:{field}")
    return replaced


def cap(value: str, field: str, defects: list[str], limit: int = MAX_TEXT) -> str:
    """value cut to `limit` characters (a `truncated:<field>` defect when it was longer)."""
    if len(value) <= limit:
        return value
    defects.append(f"truncated:{field}")
    return value[:limit]


def comment_depth(value: str) -> int:
    """The deepest nesting of (comments) in an address header; quoted strings do not count."""
    depth = deepest = 0
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"' and depth == 0:
            quoted = not quoted
        elif quoted:
            continue
        elif char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")" and depth:
            depth -= 1
    return deepest


def flatten_comments(value: str) -> str:
    """value with every (comment) removed, in one pass (a regex per nesting level took
    quadratic time: 0.1 s for a 20 kB header); quoted strings and escapes are kept."""
    out: list[str] = []
    depth = 0
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
            if not depth:
                out.append(char)
            continue
        if char == "\\":
            escaped = True
            if not depth:
                out.append(char)
        elif char == '"' and depth == 0:
            quoted = not quoted
            out.append(char)
        elif quoted:
            out.append(char)
        elif char == "(":
            if not depth:
                out.append(" ")
            depth += 1
        elif char == ")":
            if depth:
                depth -= 1
            else:
                out.append(" ")  # an unbalanced leftover
        elif not depth:
            out.append(char)
    return "".join(out)


def reusable_id(value: str | None) -> str | None:
    """A Message-ID safe to put in our own In-Reply-To/References and to look up: ASCII,
    no spaces or brackets. Non-ASCII (RFC 6532) ids are percent-encoded, deterministically,
    so the same incoming id always gives the same reused one; None if nothing is left.
    """
    if not value:
        return None
    # Whitespace goes as in the inbox's lookup key (a folded id is one id).
    value = _SURROGATES.sub("", re.sub(r"[\s\x00-\x1f\x7f-\x9f]+", "", value)).strip("<>")
    local, at, domain = value.rpartition("@")
    if not at:
        local, domain = value, ""
    if domain and not domain.isascii():
        with contextlib.suppress(UnicodeError):  # if not IDNA, percent-encoded below
            domain = domain.encode("idna").decode("ascii")
    safe = "".join(
        c if c.isascii() and (c.isalnum() or c in _DOT_ATOM_TEXT) else quote(c, safe="")
        for c in local
    )
    if domain:
        safe += "@" + "".join(
            c if c.isascii() and (c.isalnum() or c in "-.[]:") else quote(c, safe="")
            for c in domain
        )
    return safe[:MAX_REUSED_ID] or None


def address_forms(address: str) -> list[str]:
    """The lower-case spellings of one address: as written, and its domain as A-labels
    (xn--, what bounces and some clients report) and as Unicode (what people type)."""
    address = address.strip().lower()
    forms = [address]
    local, at, domain = address.rpartition("@")
    if at and domain:
        for convert in (_to_ascii, _to_unicode):
            other = convert(domain)
            if other and other != domain:
                forms.append(f"{local}@{other}")
    return forms


def _to_ascii(domain: str) -> str | None:
    try:
        return domain.encode("idna").decode("ascii") if not domain.isascii() else None
    except UnicodeError:
        return None


def _to_unicode(domain: str) -> str | None:
    try:
        return domain.encode("ascii").decode("idna") if "xn--" in domain else None
    except UnicodeError:
        return None


# Addresses and host names (a dotted name with a letter: not a status code like 5.7.1), masked
# in a bounce's or a relay's text before looking for words. Here rather than in bounce.py so
# that dispatch can use it without loading the bounce parser (flufl.bounce, charset detection).
# Both start only at the start of a word (unanchored, a long word backtracks quadratically).
NAMES = re.compile(r"(?<!\S)[^\s@]++@\S+|(?<![\w-])(?=[\w-]*[^\W\d_])[\w-]++(?:\.[\w-]+)+\b")
