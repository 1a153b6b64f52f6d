"""Bytes -> text for mail that lies about its charset, and RFC 2047 header decoding.

Never raises: every fallback ends in windows-1252 with replacement characters.
"""

from __future__ import annotations

import base64
import binascii
import re

import charset_normalizer

# Declared labels mapped to the supersets mailers really mean (a "gb2312" mail from a
# Chinese client usually contains GBK characters, "big5" HKSCS ones, and so on).
_GB, _BIG5, _KR, _SJIS = ("gb18030",), ("big5hkscs",), ("cp949",), ("cp932",)
SUPERSETS: dict[str, tuple[str, ...]] = {
    "gb2312": _GB,
    "gbk": _GB,
    "x-gbk": _GB,
    "cp936": _GB,
    "euc-cn": _GB,
    "x-euc-cn": _GB,
    "gb_2312-80": _GB,
    "chinese": _GB,
    "big5": _BIG5,
    "x-big5": _BIG5,
    "big5-hkscs": _BIG5,
    "cn-big5": _BIG5,
    "ks_c_5601-1987": _KR,
    "ks_c_5601": _KR,
    "euc-kr": _KR,
    "shift_jis": _SJIS,
    "shift-jis": _SJIS,
    "x-sjis": _SJIS,
    "sjis": _SJIS,
    "windows-31j": _SJIS,
    "utf8": ("utf-8",),
    # Japanese mailers add JIS X 0212 / NEC extensions to plain ISO-2022-JP.
    "iso-2022-jp": ("iso2022_jp", "iso2022_jp_2", "iso2022_jp_ext", "iso2022_jp_3"),
}
# Labels that are so often wrong (real content is UTF-8 or windows-1252) that UTF-8 goes first.
LATIN_LABELS = {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "us-ascii", "ascii", "windows-1252"}
# Labels whose bytes may be pure ASCII yet mean something else (escape-sequence encodings).
_NOT_ASCII_SAFE = ("2022", "utf-7", "utf7", "hz", "utf-16", "utf-32")
# Detection confuses short GBK text with Korean/Big5; Chinese is by far the likelier here.
_CJK_CONFUSED = {"cp949", "euc_kr", "big5", "big5hkscs", "gb2312", "gbk", "gb18030", "johab"}
_DETECT_LIMIT = 32 * 1024


def clean_label(label: str | None) -> str | None:
    """Normalise a charset label as found in the wild ('"GB2312"', 'utf-8;', ' UTF8 ')."""
    if not label:
        return None
    label = label.strip().strip("\"';").strip().lower()
    return label or None


def _try(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (LookupError, UnicodeError, ValueError, TypeError):
        return None


def _detect(data: bytes) -> str | None:
    try:
        best = charset_normalizer.from_bytes(data[:_DETECT_LIMIT]).best()
    except Exception:  # a detector bug must not lose the message
        return None
    if best is None:
        return None
    encoding = best.encoding
    if encoding in _CJK_CONFUSED and _try(data, "gb18030") is not None:
        return "gb18030"
    return encoding


def decode_bytes(data: bytes, label: str | None, defects: list[str] | None = None) -> str:
    """Decode with the declared label (mapped to a superset), UTF-8, detection, then cp1252."""
    label = clean_label(label)
    if not data:
        return ""
    if data.isascii() and not (label and any(k in label for k in _NOT_ASCII_SAFE)):
        return data.decode("ascii")
    if label in LATIN_LABELS:
        # latin-1 decodes anything, so mislabelled Latin mail never reaches detection.
        for codec in ("utf-8", "windows-1252", "latin-1"):
            if (text := _try(data, codec)) is not None:
                return text
    if label:
        for codec in SUPERSETS.get(label, (label,)):
            if (text := _try(data, codec)) is not None:
                return text
        if defects is not None:  # unknown label, or bytes that do not fit it
            defects.append(f"undecodable-charset:{label}")
    if (text := _try(data, "utf-8")) is not None:
        return text
    detected = _detect(data)
    if detected:
        text = _try(data, detected)
        if text is not None:
            return text
    return data.decode("windows-1252", errors="replace")


def unescape_surrogates(
    value: str, hint: str | None = None, defects: list[str] | None = None
) -> str:
    """Headers parsed from bytes carry raw 8-bit as surrogates; decode those bytes properly.

    UTF-8 first (strict UTF-8 almost never matches other encodings by accident), then `hint`
    (the body's charset: raw 8-bit headers are usually in the same charset), then detection.
    """
    if value.isascii():
        return value
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeError:
        return value
    text = _try(raw, "utf-8")
    return text if text is not None else decode_bytes(raw, hint, defects)


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*?)\?=")
# An encoded word cut off at the end of the value (a broken mailer or a truncated header).
_UNTERMINATED = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\??$")


def _word_bytes(encoding: str, text: str) -> bytes:
    if encoding in "bB":
        text = re.sub(r"[^A-Za-z0-9+/]", "", text)
        text += "=" * (-len(text) % 4)
        try:
            return base64.b64decode(text)
        except (binascii.Error, ValueError):
            return text.encode("ascii", "replace")
    raw = text.replace("_", " ").encode("ascii", "surrogateescape")
    return re.sub(rb"=([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), raw)


def decode_header_value(
    value: str, defects: list[str] | None = None, name: str = "", hint: str | None = None
) -> str:
    """RFC 2047 decode a raw header value; tolerate bad charsets, bad base64 and raw 8-bit."""
    value = re.sub(r"\r?\n(?=[ \t])", "", value)  # unfold
    if "=?" not in value:
        return unescape_surrogates(value, hint, defects)
    out: list[str] = []
    pending: list[tuple[str, bytes]] = []  # adjacent words of one charset, joined before decoding

    def flush() -> None:
        if pending:
            charset = pending[0][0]
            out.append(decode_bytes(b"".join(b for _, b in pending), charset, defects))
            pending.clear()

    pos = 0
    for match in _ENCODED_WORD.finditer(value):
        between = value[pos : match.start()]
        if between and not (between.isspace() and pending):
            flush()
            out.append(unescape_surrogates(between, hint, defects))
        charset = match.group(1).split("*", 1)[0]  # RFC 2231 language suffix
        if pending and pending[0][0].lower() != charset.lower():
            flush()
        pending.append((charset, _word_bytes(match.group(2), match.group(3))))
        pos = match.end()
    rest = value[pos:]
    tail = _UNTERMINATED.search(rest)
    if tail:
        if defects is not None:
            defects.append(f"unterminated-encoded-word:{name or 'header'}")
        lead = rest[: tail.start()]
        if lead and not lead.isspace():
            flush()
            out.append(unescape_surrogates(lead, hint, defects))
        charset = tail.group(1).split("*", 1)[0]
        if pending and pending[0][0].lower() != charset.lower():
            flush()
        pending.append((charset, _word_bytes(tail.group(2), tail.group(3))))
        rest = ""
    flush()
    if rest:
        out.append(unescape_surrogates(rest, hint, defects))
    return "".join(out)
