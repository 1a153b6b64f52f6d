"""Countries as libraries write them ("中国", "PRC", "China"), folded to one English name.

Matching's hard rule (different countries) and the dashboard's counts both depend on it.
"""

from __future__ import annotations

import re

# Canonical English name -> (Chinese name, other spellings libraries write).
COUNTRIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "China": ("中国", ("中华人民共和国", "PRC", "P.R. China", "People's Republic of China")),
    "Spain": ("西班牙", ("España", "Espana")), "Mexico": ("墨西哥", ("México",)),
    "United States": ("美国", ("USA", "US", "U.S.", "U.S.A.", "United States of America")),
    "United Kingdom": ("英国", ("UK", "U.K.", "Great Britain", "England")),
    "France": ("法国", ()), "Germany": ("德国", ("Deutschland",)), "Italy": ("意大利", ("Italia",)),
    "Japan": ("日本", ()), "Korea": ("韩国", ("South Korea", "Republic of Korea")),
    "Kenya": ("肯尼亚", ()), "Nigeria": ("尼日利亚", ()), "South Africa": ("南非", ()),
    "Brazil": ("巴西", ("Brasil",)), "Argentina": ("阿根廷", ()), "Chile": ("智利", ()),
    "Colombia": ("哥伦比亚", ()), "Peru": ("秘鲁", ("Perú",)), "Canada": ("加拿大", ()),
    "Australia": ("澳大利亚", ()), "New Zealand": ("新西兰", ()), "India": ("印度", ()),
    "Russia": ("俄罗斯", ("Russian Federation",)), "Portugal": ("葡萄牙", ()),
    "Egypt": ("埃及", ()), "Singapore": ("新加坡", ()), "Malaysia": ("马来西亚", ()),
    "Thailand": ("泰国", ()), "Vietnam": ("越南", ("Viet Nam",)), "Indonesia": ("印度尼西亚", ()),
    "Philippines": ("菲律宾", ()), "Tanzania": ("坦桑尼亚", ()), "Uganda": ("乌干达", ()),
    "Ghana": ("加纳", ()), "Ethiopia": ("埃塞俄比亚", ()), "Netherlands": ("荷兰", ()),
    "Sweden": ("瑞典", ()), "Norway": ("挪威", ()), "Finland": ("芬兰", ()), "Poland": ("波兰", ()),
    "Ireland": ("爱尔兰", ()), "Greece": ("希腊", ()), "Turkey": ("土耳其", ("Türkiye",)),
}  # fmt: skip
_ALIASES = {
    _norm: canonical
    for canonical, (zh, others) in COUNTRIES.items()
    for _norm in (re.sub(r"\s+", " ", n).strip().casefold() for n in (canonical, zh, *others))
}


def country_key(value: str | None) -> str:
    """One spelling per country ("中国", "PRC" -> "China"); unknown countries as written."""
    text = re.sub(r"\s+", " ", value or "").strip()
    return _ALIASES.get(text.casefold(), text)


def country_name(key: str, locale: str = "en") -> str:
    """A ``country_key`` in the reader's language."""
    known = COUNTRIES.get(key)
    return known[0] if known and locale.startswith("zh") else key
