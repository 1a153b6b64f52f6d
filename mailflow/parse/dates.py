"""MOU dates and durations as people write them: "30 June 2027", "2027年6月30日", "两年", "18 meses".

Both functions read a field value, not a whole mail. They never raise and never guess: text
that names two different dates (or durations) gives None, so that a person asks.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

__all__ = ["parse_date", "parse_duration_months"]

_I = re.IGNORECASE

# Month names without accents (text is folded before matching): English, Spanish, French,
# German. Abbreviations are the first three or four letters.
_MONTH_NAMES = (
    "january|jan|enero|ene|janvier|janv|januar",
    "february|feb|febrero|fevrier|fevr|fev|februar",
    "march|mar|marzo|mars|marz",
    "april|apr|abril|abr|avril|avr",
    "may|mayo|mai",
    "june|jun|junio|juin|juni",
    "july|jul|julio|juillet|juil|juli",
    "august|aug|agosto|ago|aout|aou",
    "september|sept|sep|septiembre|setiembre|septembre|set",
    "october|oct|octubre|octobre|oktober|okt",
    "november|nov|noviembre|novembre",
    "december|dec|diciembre|dic|decembre|dezember|dez",
)
_MONTH_OF = {name: i for i, names in enumerate(_MONTH_NAMES, start=1) for name in names.split("|")}
_MONTH = "(?P<month>" + "|".join(sorted(_MONTH_OF, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th|er|o|º|°|\.)?"
_YEAR = r"(?P<year>\d{4})"

_DATE_PATTERNS = (
    # 2027-06-30, 2027/6/30, 2027.06.30
    re.compile(
        r"(?<!\d)(?P<year>\d{4})\s*([-/.])\s*(?P<month>\d{1,2})\s*\2\s*(?P<day>\d{1,2})(?!\d)"
    ),
    # 2027年6月30日
    re.compile(r"(?P<year>\d{4})\s*年\s*(?P<month>\d{1,2})\s*月\s*(?P<day>\d{1,2})\s*[日号號]?"),
    # 30 June 2027, 1 de julio de 2027, 1er juillet 2027, 30. Juni 2027
    re.compile(rf"(?<![\w]){_DAY}\s*(?:de\s+)?{_MONTH}\s*,?\s*(?:de\s+|del\s+)?{_YEAR}(?!\d)", _I),
    # June 30, 2027
    re.compile(rf"(?<![\w]){_MONTH}\s+{_DAY}\s*,?\s*{_YEAR}(?!\d)", _I),
)
# 30/06/2027: day first, as most of the world writes it, unless only month first is possible.
_NUMERIC_DMY = re.compile(r"(?<![\d/.-])(\d{1,2})\s*([-/.])\s*(\d{1,2})\s*\2\s*(\d{4})(?!\d)")


def _fold(text: str) -> str:
    # "février" -> "fevrier", full-width digits -> ASCII: one table of month names is enough.
    text = unicodedata.normalize("NFKC", text)
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _make(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:  # 31 June, month 13
        return None


def _dates(text: str) -> list[tuple[int, date | None]]:
    """(position, date) of every date written in text; None for an impossible one."""
    found: list[tuple[int, date | None]] = []
    for pattern in _DATE_PATTERNS:
        for m in pattern.finditer(text):
            month = m["month"]
            number = int(month) if month.isdigit() else _MONTH_OF[month.lower().rstrip(".")]
            found.append((m.start(), _make(int(m["year"]), number, int(m["day"]))))
    for m in _NUMERIC_DMY.finditer(text):
        first, second, year = int(m[1]), int(m[3]), int(m[4])
        day, month = (second, first) if second > 12 >= first else (first, second)
        found.append((m.start(), _make(year, month, day)))
    return found


def parse_date(text: str) -> date | None:
    """The one date written in text, or None (nothing found, impossible, or several dates)."""
    if not isinstance(text, str):
        return None
    found = {d for _, d in _dates(_fold(text))}
    if len(found) != 1:
        return None
    return found.pop()


# Number words that appear in durations. "a"/"an" only count before a unit ("a year").
_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "eighteen": 18, "twenty-four": 24, "thirty-six": 36,
    "un": 1, "uno": 1, "una": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6,
    "diez": 10, "doce": 12, "dieciocho": 18, "veinticuatro": 24,
    "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "dix": 10, "douze": 12,
    "dix-huit": 18, "vingt-quatre": 24,
    "ein": 1, "eine": 1, "einem": 1, "zwei": 2, "drei": 3, "vier": 4, "funf": 5, "sechs": 6,
    "zwolf": 12, "achtzehn": 18,
}  # fmt: skip
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}  # fmt: skip
_NUM = (
    r"(?P<num>\d+(?:[.,]5)?|[零〇一二两兩三四五六七八九十]+|"
    + "|".join(sorted(map(re.escape, _NUMBER_WORDS), key=len, reverse=True))
    + r")"
)
_HALF = r"(?P<half>\s+and\s+a\s+half|\s+y\s+medio|\s+et\s+demi(?:e)?|半)?"
_YEARS = r"years?|yrs?|anos?|annees?|ans?|jahre?n?|年"
_MONTHS = r"months?|mos?|mths?|meses|mes|mois|monate?n?|个月|個月|ヶ月|か月"
_DURATION = re.compile(
    rf"(?<![a-z0-9.]){_NUM}(?P<half1>\s+and\s+a\s+half)?\s*-?\s*(?P<unit>{_YEARS}|{_MONTHS})(?![a-z])"
    rf"{_HALF}"
    r"|(?P<halfyear>半年|half a year|medio ano|six mois)",
    _I,
)
# What may stand between "2 years" and "6 months" when they add up.
_JOIN = re.compile(r"^\s*(?:and|y|et|und|,|又|零)?\s*$", _I)


def _number(word: str) -> float | None:
    word = word.lower()
    if word in _NUMBER_WORDS:
        return _NUMBER_WORDS[word]
    if word[0].isdigit():
        return float(word.replace(",", "."))
    return _chinese_number(word)


def _chinese_number(word: str) -> int | None:
    """一 .. 九十九 (二十四, 十八, 十二); None for anything longer."""
    word = word.lstrip("零〇") or "零"  # the 零 of 一年零六个月
    if "十" not in word:
        return _CN_DIGITS.get(word) if len(word) == 1 else None
    tens, _, ones = word.partition("十")
    if len(tens) > 1 or len(ones) > 1:
        return None
    high = _CN_DIGITS.get(tens, 0) if tens else 1
    low = _CN_DIGITS.get(ones, 0) if ones else 0
    return high * 10 + low


def parse_duration_months(text: str) -> int | None:
    """A duration in whole months ("2 years" -> 24, "半年" -> 6), or None.

    "2 years and 6 months" adds up; two separate durations that differ ("1 year, renewable for
    2 years") give None, since which one is the term is for a person to decide.
    """
    if not isinstance(text, str):
        return None
    text = _fold(text)
    totals: set[float] = set()
    total, end = 0.0, None
    for m in _DURATION.finditer(text):
        months = _months(m)
        if months is None:
            return None
        if end is not None and _JOIN.match(text[end : m.start()]):
            total += months  # "2 years and 6 months", "一年零六个月"
        else:
            if end is not None:
                totals.add(total)
            total = months
        end = m.end()
    if end is not None:
        totals.add(total)
    if len(totals) != 1:
        return None
    months = totals.pop()
    return int(months) if months == int(months) and months > 0 else None


def _months(m: re.Match[str]) -> float | None:
    if m["halfyear"]:
        return 6
    number = _number(m["num"])
    if number is None or number >= 1000:
        return None  # "2027年" is a year, not a duration
    if m["half"] or m["half1"]:
        number += 0.5
    unit = m["unit"].lower()
    return number * 12 if re.fullmatch(_YEARS, unit, _I) else number
