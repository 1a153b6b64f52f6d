"""Time zones as people write them in a form: "Asia/Shanghai", "UTC+8", "北京时间", "GMT-05:00".

A canonical value is either an IANA name in its official spelling ("Asia/Shanghai"), "UTC", or
a fixed offset "UTC+08:00". When the text could mean more than one zone ("CST" is China,
Cuba or the US Central zone; "IST" is India, Ireland or Israel) the answer is None: a person
asks, the program never guesses.
"""

from __future__ import annotations

import functools
import re
import unicodedata
import zoneinfo
from datetime import UTC, timedelta, timezone, tzinfo

__all__ = ["normalise_timezone", "tzinfo_for"]

# Unambiguous names people use instead of an IANA name (lower case, single spaces).
_COMMON_NAMES: dict[str, str] = {
    "北京时间": "Asia/Shanghai",
    "北京時間": "Asia/Shanghai",
    "中国标准时间": "Asia/Shanghai",
    "中國標準時間": "Asia/Shanghai",
    "中国时间": "Asia/Shanghai",
    "beijing time": "Asia/Shanghai",
    "china standard time": "Asia/Shanghai",
    "china time": "Asia/Shanghai",
    "cst (china)": "Asia/Shanghai",
    "hong kong time": "Asia/Hong_Kong",
    "japan standard time": "Asia/Tokyo",
    "korea standard time": "Asia/Seoul",
    "india standard time": "Asia/Kolkata",
    "singapore time": "Asia/Singapore",
}
_COMMON_RE = re.compile(
    "|".join(
        # ASCII names must stand as words ("china time" not inside "indochina time").
        rf"(?<![a-z]){re.escape(name)}(?![a-z])" if name.isascii() else re.escape(name)
        for name in sorted(_COMMON_NAMES, key=len, reverse=True)
    )
)
# Candidate IANA names: Area/Location[/Sub], as typed (any case, maybe spaces for "_").
_BRACKETS_RE = re.compile(r"\([^)]*\)|\[[^\]]*\]")  # after NFKC, （） are ASCII
_IANA_RE = re.compile(r"(?<![A-Za-z_-])[A-Za-z][A-Za-z_-]*+(?:/[A-Za-z0-9_+-]+)+")
# UTC+8, GMT -05:00, UTC+0530, UTC+5:30; the sign is required, minutes optional.
_OFFSET_RE = re.compile(
    r"(?<![a-z])(?:utc|gmt)\s*(?P<sign>[+-])\s*(?P<h>\d{1,2})(?:[:.h]?(?P<m>\d{2}))?"
    r"(?:\s*(?:h|hrs?|hours?))?(?![\d:])"
)
# 东八区 (the eighth zone east) is how Chinese speakers often write UTC+8.
_CN_ZONE_RE = re.compile(r"(?P<side>[东西東])(?P<n>十[一二]?|[一二三四五六七八九])[区區]")
_CN_DIGITS = {c: i for i, c in enumerate("一二三四五六七八九", start=1)}
# Etc/GMT+8 is UTC-08:00 (POSIX signs); reading it as "GMT+8" would be eight hours wrong.
_ETC_GMT_RE = re.compile(r"etc/gmt[+-]")
_BARE_UTC = frozenset(["utc", "gmt", "z", "utc/gmt", "gmt/utc", "etc/utc", "etc/gmt", "zulu"])
_CANONICAL_OFFSET = re.compile(r"^UTC(?P<sign>[+-])(?P<h>\d{2}):(?P<m>\d{2})$")


@functools.lru_cache(maxsize=1)
def _zones() -> dict[str, str]:
    """lower-case IANA name -> official spelling; computed once (it walks the tz database).

    Only Area/Location names: single words such as "EST", "PRC" or "Japan" are legacy aliases
    and "EST" must stay ambiguous. Etc/GMT+8 is left out because its sign is inverted (it is
    UTC-08:00) and people copying it rarely know.
    """
    return {
        name.lower(): name
        for name in zoneinfo.available_timezones()
        if "/" in name and not name.startswith("Etc/")
    }


def _clean(text: str) -> str:
    # NFKC turns full-width "ＵＴＣ＋８" and "：" into ASCII; U+2212 and dashes are minus signs.
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\u2212", "-").replace("\u2013", "-").replace("\u2014", "-")
    return " ".join(text.split()).lower()


def _iana(text: str) -> str | None:
    zones = _zones()
    # "America/Los Angeles (PST)": a name typed with spaces, maybe with a note in brackets.
    bare = _BRACKETS_RE.sub("", text).strip(" .").replace(" / ", "/").replace(" ", "_")
    if bare in zones:
        return zones[bare]
    found = {zones[m.lower()] for m in _IANA_RE.findall(text) if m.lower() in zones}
    return found.pop() if len(found) == 1 else None


def _offset(text: str) -> str | None:
    found = set()
    for m in _OFFSET_RE.finditer(text):
        hours, minutes = int(m["h"]), int(m["m"] or 0)
        if minutes >= 60 or hours > 14 or (m["sign"] == "-" and hours > 12):
            return None  # not a real offset: better ask than store nonsense
        found.add(_format_offset(m["sign"], hours, minutes))
    # "UTC+1 (UTC+2 in summer)" names two offsets: a person has to choose.
    return found.pop() if len(found) == 1 else None


def _format_offset(sign: str, hours: int, minutes: int) -> str:
    return "UTC" if hours == minutes == 0 else f"UTC{sign}{hours:02d}:{minutes:02d}"


def normalise_timezone(text: str) -> str | None:
    """A canonical time zone for what someone wrote, or None when it cannot be told.

    An IANA name wins over an offset written next to it ("America/New_York (UTC-5)"), since
    it also knows about daylight saving time; then a few unambiguous common names; then a
    UTC/GMT offset; then plain "UTC", "GMT" or "Z". Abbreviations alone give None.
    """
    cleaned = _clean(text)
    if not cleaned:
        return None
    if cleaned.strip(" .") in _BARE_UTC:
        return "UTC"
    zone = _iana(cleaned)
    if zone:
        return zone
    names = {_COMMON_NAMES[m] for m in _COMMON_RE.findall(cleaned)}
    if len(names) == 1:
        return names.pop()
    if _ETC_GMT_RE.search(cleaned):
        return None
    return _offset(cleaned) or _chinese_zone(cleaned)


def _chinese_zone(text: str) -> str | None:
    m = _CN_ZONE_RE.search(text)
    if not m:
        return None
    n = m["n"]
    hours = 10 + _CN_DIGITS.get(n[1:], 0) if n.startswith("十") else _CN_DIGITS[n]
    return _format_offset("+" if m["side"] in "东東" else "-", hours, 0)


def tzinfo_for(value: str) -> tzinfo | None:
    """The tzinfo for a canonical value (see normalise_timezone), or None if not canonical."""
    if value == "UTC":
        return UTC
    m = _CANONICAL_OFFSET.match(value)
    if m:
        hours, minutes = int(m["h"]), int(m["m"])
        if _format_offset(m["sign"], hours, minutes) != value or minutes >= 60 or hours > 14:
            return None  # "UTC+00:00" is written "UTC"; "UTC+25:00" is no offset
        delta = timedelta(hours=hours, minutes=minutes)
        return timezone(delta if m["sign"] == "+" else -delta)
    if _zones().get(value.lower()) == value:
        return zoneinfo.ZoneInfo(value)
    return None
