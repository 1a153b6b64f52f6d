"""Compatibility of two libraries: hard rules, a score in 0..1, and the reasons in words.

Pure functions over profile dicts (the shape of `dispatch.mail.profile`), so the matcher, the
`propose` command and the tests all judge a pair the same way. Choosing pairs for a whole
pool lives in matching_pool.py.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailflow.countries import country_key
from mailflow.parse.forms import language_codes

# Interest and channel words in the languages applications arrive in, folded to shared tags,
# so 儿童阅读 and "children's reading" count as the same interest.
TAGS: dict[str, tuple[str, ...]] = {
    "children": (
        "child",
        "kid",
        "young",
        "youth",
        "儿童",
        "少儿",
        "青少年",
        "niñ",
        "infan",
        "enfant",
        "jeunesse",
    ),
    "reading": ("read", "literacy", "阅读", "读书", "lectur", "lecture"),
    "local-history": (
        "local history",
        "heritage",
        "archive",
        "地方文献",
        "地方史",
        "历史",
        "patrimon",
        "histoire locale",
        "historia local",
    ),
    "exchange": ("exchange", "交换", "交流", "intercambio", "échange"),
    "digital": ("digital", "technolog", "数字", "数字化", "digitalización", "numérique"),
    "storytelling": ("story", "storytelling", "故事", "cuento", "conte"),
    "culture": ("cultur", "文化", "art", "艺术"),
    "pen-pals": ("pen pal", "penpal", "笔友", "correspon"),
    "staff": ("staff", "training", "professional", "馆员", "培训", "formación", "formation"),
    "languages": ("language learning", "语言学习", "english corner", "英语角"),
}
CHANNELS: dict[str, tuple[str, ...]] = {
    "email": ("email", "e-mail", "mail", "邮件", "电邮", "correo", "courriel"),
    "video": ("video", "zoom", "teams", "skype", "视频", "videollamada", "visio"),
    "letters": ("letter", "post", "信件", "邮寄", "carta", "lettre"),
    "social": ("wechat", "whatsapp", "facebook", "微信", "social"),
}
FREQUENCY: dict[str, tuple[str, ...]] = {"weekly": ("week", "每周", "semanal", "hebdo"), "monthly": ("month", "每月", "mensual", "mensuel"),
             "quarterly": ("quarter", "每季", "trimest")}  # fmt: skip


_TABLES = {id(TAGS): TAGS, id(CHANNELS): CHANNELS, id(FREQUENCY): FREQUENCY}


@dataclass(frozen=True)
class Weights:
    library_type: float = 1.0
    size: float = 1.0
    interests: float = 2.0
    communication: float = 1.0
    hours: float = 1.0
    waited: float = 1.0


DEFAULT_WEIGHTS = Weights()


@dataclass(frozen=True)
class Judgement:
    allowed: bool
    score: float
    reasons: tuple[str, ...]


def _tags(text: str | None, table: Mapping[str, tuple[str, ...]]) -> set[str]:
    return set(_tags_cached(text or "", id(table)))


@functools.lru_cache(maxsize=65536)
def _tags_cached(text: str, table_id: int) -> frozenset[str]:
    table = _TABLES[table_id]
    low = text.lower()
    return frozenset(tag for tag, words in table.items() if any(w in low for w in words))


def _languages(profile: Mapping[str, Any]) -> set[str]:
    langs = profile.get("languages") or []
    return language_codes([langs] if isinstance(langs, str) else [str(x) for x in langs])


_NUMBER = re.compile(r"(\d+(?:[.,]\d+)*)\s*(万|million|m\b|k\b|thousand|千)?", re.I)


def population(size: str | None) -> float | None:
    """'52,000' -> 52000; '80万' -> 800000; '1.2 million readers' -> 1200000."""
    match = _NUMBER.search(size or "")
    if not match:
        return None
    number = (
        float(match.group(1).replace(",", ""))
        if match.group(1).count(",")
        else float(match.group(1))
    )
    unit = (match.group(2) or "").lower()
    return number * {"万": 1e4, "million": 1e6, "m": 1e6, "k": 1e3, "thousand": 1e3, "千": 1e3}.get(
        unit, 1
    )


def _offset_hours(tz_name: str | None, at: datetime) -> float | None:
    try:
        return (
            at.astimezone(ZoneInfo(tz_name)).utcoffset().total_seconds() / 3600 if tz_name else None
        )
    except (ZoneInfoNotFoundError, ValueError):
        return None


def hard_rules(a: Mapping[str, Any], b: Mapping[str, Any]) -> str | None:
    """Why the pair may not be proposed, or None. Declined pairs are checked by the caller."""
    if country_key(a.get("country")).casefold() == country_key(b.get("country")).casefold():
        return f"both are in {a.get('country')}"
    if not (_languages(a) & _languages(b)) and not (a.get("interpreter") and b.get("interpreter")):
        return "no shared working language (and not both willing to use an interpreter)"
    return None


def judge(
    a: Mapping[str, Any], b: Mapping[str, Any], now: datetime, weights: Weights = DEFAULT_WEIGHTS
) -> Judgement:
    why_not = hard_rules(a, b)
    if why_not:
        return Judgement(False, 0.0, (why_not,))
    parts: list[tuple[float, float]] = []
    shared = sorted(_languages(a) & _languages(b))
    reasons = [
        f"different countries ({a.get('country')}, {b.get('country')}); shared working language: {', '.join(shared) or 'interpreter'}"
    ]
    same_type = bool(a.get("library_type")) and a.get("library_type") == b.get("library_type")
    parts.append((weights.library_type, 1.0 if same_type else 0.3))
    if same_type:
        reasons.append(f"both {a.get('library_type')} libraries")
    pa, pb = population(a.get("size")), population(b.get("size"))
    if pa and pb:
        ratio = abs(math.log10(pa) - math.log10(pb))
        parts.append((weights.size, max(0.0, 1 - ratio / 2)))
        if ratio < 0.5:
            reasons.append("similar size")
    ta, tb = _tags(a.get("interests"), TAGS), _tags(b.get("interests"), TAGS)
    overlap = ta & tb
    parts.append((weights.interests, len(overlap) / len(ta | tb) if ta | tb else 0.3))
    if overlap:
        reasons.append("shared interests: " + ", ".join(sorted(overlap)))
    ca, cb = _tags(a.get("communication"), CHANNELS), _tags(b.get("communication"), CHANNELS)
    fa, fb = _tags(a.get("communication"), FREQUENCY), _tags(b.get("communication"), FREQUENCY)
    comm = (len(ca & cb) / len(ca | cb) if ca | cb else 0.5) * 0.7 + (
        0.3 if fa & fb or not (fa and fb) else 0.0
    )
    parts.append((weights.communication, comm))
    if ca & cb:
        reasons.append(
            "both prefer "
            + " and ".join(sorted(ca & cb))
            + (f", {'/'.join(sorted(fa & fb))}" if fa & fb else "")
        )
    oa, ob = _offset_hours(a.get("timezone"), now), _offset_hours(b.get("timezone"), now)
    if oa is not None and ob is not None:
        gap = abs(oa - ob) % 24
        gap = min(gap, 24 - gap)
        overlap_hours = max(0.0, 8 - gap)
        parts.append((weights.hours, overlap_hours / 8))
        reasons.append(
            f"{overlap_hours:.0f} working hours overlap"
            if overlap_hours
            else "no working hours in common (mail only)"
        )
    waited = max(a.get("waited_days") or 0, b.get("waited_days") or 0)
    parts.append((weights.waited, min(1.0, waited / 180)))
    if waited >= 30:
        reasons.append(f"one of them has waited {waited} days")
    total = sum(w for w, _ in parts)
    score = sum(w * v for w, v in parts) / total if total else 0.0
    return Judgement(True, round(score, 4), tuple(reasons))
