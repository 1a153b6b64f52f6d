"""Bytes -> text for mail that lies about its charset, and RFC 2047 header decoding.

Never raises: every fallback ends in windows-1252 with replacement characters.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re

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
    "utf8mb4": ("utf-8",),
    "cp65001": ("utf-8",),
    "ks_c_5601-1989": _KR,
    "ksc5601": _KR,
    "ks_c_5601_1987": _KR,
    "x-windows-949": _KR,
    "utf7": ("utf-7",),
    "x-unicode-2-0-utf-7": ("utf-7",),
    "unicode-1-1-utf-7": ("utf-7",),
    "x-euc-jp": ("euc_jp",),
    "x-mac-roman": ("mac-roman",),
    "x-mac-cyrillic": ("mac-cyrillic",),
    "windows-874": ("cp874",),
    "iso-8859-8-i": ("iso-8859-8",),
    "iso-8859-6-i": ("iso-8859-6",),
    # WHATWG: a browser's "x-user-defined" form post is windows-1252 in practice.
    "x-user-defined": ("windows-1252",),
    # Japanese mailers add JIS X 0212 / NEC extensions to plain ISO-2022-JP.
    # Windows (CP50220/50221) puts NEC and IBM extensions (①, ㈱, 髙) in the JIS X 0208
    # set's unused rows: read those through cp932 (x-jis-cp932).
    "iso-2022-jp": ("iso2022_jp", "iso2022_jp_2", "iso2022_jp_ext", "x-jis-cp932"),
    "csiso2022jp": ("iso2022_jp", "iso2022_jp_2", "iso2022_jp_ext", "x-jis-cp932"),
    "iso-2022-jp-ms": ("x-jis-cp932",),
    "cp50220": ("x-jis-cp932",),
    "cp50221": ("x-jis-cp932",),
}
# Labels that are so often wrong (real content is UTF-8 or windows-1252) that UTF-8 goes first.
LATIN_LABELS = {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "us-ascii", "ascii", "windows-1252"}
# Labels whose bytes may be pure ASCII yet mean something else (escape-sequence encodings).
_NOT_ASCII_SAFE = ("2022", "utf-7", "utf7", "hz", "utf-16", "utf-32")
# Detection confuses short GBK text with Korean/Big5; Chinese is by far the likelier here.
_CJK_CONFUSED = {"cp949", "euc_kr", "big5", "big5hkscs", "gb2312", "gbk", "gb18030", "johab"}
_DETECT_LIMIT = 32 * 1024
# Labels that name no charset at all (RFC 1428 "unknown-8bit" and mailers' inventions): the
# bytes are guessed as if undeclared, and that is recorded.
_NO_CHARSET = {"unknown-8bit", "x-unknown", "unknown", "8bit", "x-user-charset", "default"}
# Undeclared text shorter than this is guessed by script (guess_cjk) before statistics:
# charset_normalizer needs more text than a header or a name to be right.
_SHORT = 1024


def clean_label(label: str | None) -> str | None:
    """Normalise a charset label as found in the wild ('"GB2312"', 'utf-8;', ' UTF8 ')."""
    if not label:
        return None
    label = label.strip().strip("\"';").strip().lower()
    return label or None


def _jis_cp932(data: bytes) -> str:
    """ISO-2022-JP the Windows way: each two-byte JIS code mapped to its Shift_JIS bytes and
    read as cp932, so the vendor rows decode too. Raises UnicodeDecodeError like a codec."""
    out = bytearray()
    mode = "ascii"
    i = 0
    while i < len(data):
        if data[i] == 0x1B:
            seq = data[i + 1 : i + 3]
            if seq in (b"$@", b"$B"):
                mode, i = "jis", i + 3
            elif seq in (b"(B", b"(J"):
                mode, i = "ascii", i + 3
            elif seq == b"(I":
                mode, i = "kana", i + 3
            else:
                raise UnicodeDecodeError("x-jis-cp932", data, i, i + 1, "unknown escape")
            continue
        byte = data[i]
        if mode == "jis" and byte not in b"\r\n":
            if i + 1 >= len(data) or not (0x21 <= byte <= 0x7E and 0x21 <= data[i + 1] <= 0x7E):
                raise UnicodeDecodeError("x-jis-cp932", data, i, i + 1, "bad JIS byte")
            j1, j2 = byte, data[i + 1]
            s1 = (j1 + 0xE1) >> 1 if j1 < 0x5F else (j1 + 0x161) >> 1
            s2 = j2 + (0x1F + (j2 >= 0x60) if j1 & 1 else 0x7E)
            out += bytes((s1, s2))
            i += 2
            continue
        out.append(byte + 0x80 if mode == "kana" and 0x21 <= byte <= 0x5F else byte)
        i += 1
    return bytes(out).decode("cp932")


def _try(data: bytes, codec: str) -> str | None:
    try:
        if codec == "x-jis-cp932":
            return _jis_cp932(data)
        return data.decode(codec)
    except (LookupError, UnicodeError, ValueError, TypeError):
        return None


def _detect(data: bytes) -> str | None:
    # Imported on first use: `mailflow run` decodes headers with this module but never
    # guesses a body's charset (its parse worker does), so it need not hold the detector.
    import charset_normalizer

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


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    """Error handler: bytes that are not UTF-8 inside UTF-8 text read as windows-1252 (a
    footer or a quoted line added in another charset, a cut-off character)."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return exc.object[exc.start : exc.end].decode("windows-1252", "replace"), exc.end


codecs.register_error("mailflow-cp1252", _cp1252_fallback)


def _mostly_utf8(data: bytes) -> str | None:
    """UTF-8 text with a few invalid bytes, decoded (those read as windows-1252); None when
    the bytes are not UTF-8 with faults but another charset altogether."""
    replaced = data[:_DETECT_LIMIT].decode("utf-8", "replace")
    bad = replaced.count("\ufffd")
    good = sum(1 for ch in replaced if ord(ch) > 0x7F) - bad
    if good < 2 or bad > good:  # another charset: few of its byte pairs are valid UTF-8
        return None
    return data.decode("utf-8", "mailflow-cp1252")


# Half-width kana and private-use characters: what other charsets' bytes become in cp932.
_ODD_JA = re.compile(r"[\uff61-\uff9f\ue000-\uf8ff]")
_PRIVATE = re.compile(r"[\ue000-\uf8ff]")
_KANA = re.compile(r"[\u3041-\u30ff]")
_HIGH_PAIR = re.compile(rb"[\x80-\xff]{2}")


def _common_share(text: str, codec: str, leads: range, trails: range) -> float:
    """Share of the non-ASCII characters of text that codec encodes in two bytes with the lead
    in `leads` and the trail in `trails`: where each encoding keeps its frequent characters."""
    chars = [ch for ch in text if ord(ch) > 0x7F]
    if len(chars) < 2 or _PRIVATE.search(text):  # one character is too little to tell
        return 0.0
    common = 0
    for ch in chars:
        try:
            encoded = ch.encode(codec)
        except UnicodeError:
            continue
        common += len(encoded) == 2 and encoded[0] in leads and encoded[1] in trails
    return common / len(chars)


# GB2312 punctuation rows and level-1 hanzi; Big5 punctuation and level-1 hanzi.
_GB_LEADS = range(0xA1, 0xD8)
_GB_TRAILS = range(0xA1, 0xFF)
_BIG5_LEADS = range(0xA1, 0xC7)
_BIG5_TRAILS = range(0x40, 0xFF)
_SJIS_KANJI_LEADS = range(0x88, 0xA0)
_SJIS_TRAILS = range(0x40, 0xFD)
_GB_KANA = re.compile(r"[\u3041-\u30ff]")


def guess_cjk(data: bytes) -> str | None:
    """Short undeclared 8-bit text (a raw header, a name) read by script, or None.

    Statistics need more text than a subject holds; the double-byte encodings are told apart
    by what their bytes decode to instead: Shift_JIS gives kana; GB2312 text is mostly level-1
    hanzi (lead 0xB0-0xD7, trail 0xA1-0xFE; Big5 bytes, half of whose trails are below 0xA1,
    are not); Big5 mostly level-1 hanzi (lead 0xA4-0xC6); kanji-only Shift_JIS mostly level-1
    kanji (lead 0x88-0x9F). Latin-1 letters (0xC0-0xFF) fall outside all of them. Korean (EUC-KR) decodes as GB2312 and is only read right when
    declared."""
    if not _HIGH_PAIR.search(data):
        return None  # lone high bytes among ASCII: a Latin charset, not a double-byte one
    sjis = _try(data, "cp932")
    if sjis is not None and not _ODD_JA.search(sjis):
        wide = [ch for ch in sjis if ord(ch) > 0x7F]
        if len(_KANA.findall(sjis)) * 8 >= len(wide) > 0:
            return sjis
    gbk = _try(data, "gb18030")
    if (
        gbk is not None
        and not _GB_KANA.search(gbk)
        and _common_share(gbk, "gbk", _GB_LEADS, _GB_TRAILS) >= 0.75
    ):
        return gbk
    big5 = _try(data, "big5hkscs")
    if big5 is not None and _common_share(big5, "cp950", _BIG5_LEADS, _BIG5_TRAILS) >= 0.5:
        return big5
    if (
        sjis is not None
        and not _ODD_JA.search(sjis)
        and _common_share(sjis, "cp932", _SJIS_KANJI_LEADS, _SJIS_TRAILS) >= 0.5
    ):
        return sjis  # kanji only (a name): level-1 kanji leads lie below both GB and Big5
    return None


_CYRILLIC_WORD = re.compile(r"[\u0400-\u04ff]+")
_MIXED_WORD = re.compile(r"[A-Za-z][\u0400-\u04ff]|[\u0400-\u04ff][A-Za-z]")


def guess_cyrillic(data: bytes) -> str | None:
    """Short undeclared 8-bit text read as Russian/Ukrainian/Bulgarian... (windows-1251 or
    KOI8-R), or None.

    Latin-1 letters also decode to Cyrillic in both, but inside Latin words ("GrьЯe"); real
    Cyrillic words are high bytes throughout. The two charsets swap the cases of their
    letters, and running text is mostly lower case: the reading with more lower case wins.
    """
    best: tuple[int, str] | None = None
    for codec in ("windows-1251", "koi8-r"):
        text = _try(data, codec)
        if text is None or _MIXED_WORD.search(text):
            continue
        words = _CYRILLIC_WORD.findall(text)
        letters = sum(len(w) for w in words)
        high = sum(1 for ch in text if ord(ch) > 0x7F)
        if max(map(len, words), default=0) < 4 or letters < 0.9 * high:
            continue
        lower = sum(1 for w in words for ch in w if ch.islower())
        if lower * 2 > letters and (best is None or lower > best[0]):
            best = (lower, text)
    return best[1] if best else None


_JIS_ESCAPE = re.compile(rb"\x1b(?:\$[@B]|\$\(D|\([BJI])")


def _raw_jis(data: bytes) -> str | None:
    """Undeclared ISO-2022-JP (raw in a Japanese mailer's headers, or a body without a
    charset): 7-bit bytes with JIS escape sequences."""
    if not _JIS_ESCAPE.search(data):
        return None
    for codec in SUPERSETS["iso-2022-jp"]:
        if (text := _try(data, codec)) is not None:
            return text
    return None


def decode_bytes(data: bytes, label: str | None, defects: list[str] | None = None) -> str:
    """Decode with the declared label (mapped to a superset), UTF-8, detection, then cp1252.

    Undeclared (or undecodable) bytes: UTF-8; UTF-8 with a few bad bytes; for short text the
    script guess (guess_cjk); charset detection; windows-1252 with replacement."""
    label = clean_label(label)
    if not data:
        return ""
    if data.isascii() and not (label and any(k in label for k in _NOT_ASCII_SAFE)):
        if b"\x1b" in data and (text := _raw_jis(data)) is not None:
            return text
        return data.decode("ascii")
    if label in _NO_CHARSET:
        if defects is not None:
            defects.append(f"undecodable-charset:{label}")
        label = None
    if label in LATIN_LABELS:
        # latin-1 decodes anything, so mislabelled Latin mail never reaches detection; short
        # text may be a CJK mailer's GBK or Big5 sent as "iso-8859-1".
        if (text := _try(data, "utf-8")) is not None:
            return text
        if len(data) < _SHORT and (text := guess_cjk(data)) is not None:
            return text
        for codec in ("windows-1252", "latin-1"):
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
    if (text := _mostly_utf8(data)) is not None:
        if defects is not None:
            defects.append("invalid-utf-8")
        return text
    if len(data) < _SHORT:
        if (text := guess_cjk(data) or guess_cyrillic(data)) is not None:
            return text
        if len(data) < 64 or not _HIGH_PAIR.search(data):
            # "Müller", "informação": too little for detection to be right.
            return data.decode("windows-1252", errors="replace")
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
    if text is not None:
        return text
    if (not hint or hint in LATIN_LABELS) and (
        text := guess_cjk(raw) or guess_cyrillic(raw)
    ) is not None:
        return text  # a Latin body says little about a raw header in a CJK client's charset
    return decode_bytes(raw, hint, defects)


# The charset may be missing ("=??Q?...?="): the bytes are then guessed like raw 8-bit.
_ENCODED_WORD = re.compile(r"=\?([^?\s]*)\?([bBqQ])\?([^?]*?)\?=")
# An encoded word cut off at the end of the value (a broken mailer or a truncated header).
_UNTERMINATED = re.compile(r"=\?([^?\s]*)\?([bBqQ])\?([^?\s]*)\??$")


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
    if "\x1b" in value and value.isascii() and (jis := _raw_jis(value.encode("ascii"))):
        value = jis  # raw ISO-2022-JP; encoded words in it are still decoded below
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
