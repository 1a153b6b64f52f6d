"""Countries as libraries write them ("中国", "PRC", "China"), folded to one English name.

Matching's hard rule (different countries) and the dashboard's counts both depend on it.
`COUNTRIES` holds the spellings CLDR does not (PRC, USA, UK ...) and the canonical names
kept from before; every other territory is known by its CLDR names (Babel) in English,
Chinese (simplified and traditional), Spanish, French, German and Portuguese, so
"Moçambique", "Österreich" and "莫三比克" all fold to "Mozambique" / "Austria".
"""

from __future__ import annotations

import re
from functools import lru_cache

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
# Names libraries write that CLDR spells otherwise (older names, short forms, common Chinese
# short names) -> the CLDR English name.
OTHER_SPELLINGS: dict[str, str] = {
    "Ivory Coast": "Côte d’Ivoire", "Cote d'Ivoire": "Côte d’Ivoire", "Côte d'Ivoire": "Côte d’Ivoire",
    "Czech Republic": "Czechia", "Burma": "Myanmar (Burma)", "Myanmar": "Myanmar (Burma)",
    "Swaziland": "Eswatini", "Holland": "Netherlands", "The Netherlands": "Netherlands",
    "The Gambia": "Gambia", "DRC": "Congo - Kinshasa", "DR Congo": "Congo - Kinshasa",
    "Democratic Republic of the Congo": "Congo - Kinshasa", "Republic of the Congo":
    "Congo - Brazzaville", "East Timor": "Timor-Leste", "Cape Verde": "Cape Verde",
    "Macedonia": "North Macedonia", "Republic of Ireland": "Ireland", "Scotland": "United Kingdom",
    "Wales": "United Kingdom", "Northern Ireland": "United Kingdom", "Bosnia": "Bosnia & Herzegovina",
    "Bosnia and Herzegovina": "Bosnia & Herzegovina", "Trinidad and Tobago": "Trinidad & Tobago",
    "Antigua and Barbuda": "Antigua & Barbuda", "Saint Lucia": "St. Lucia",
    "Saint Kitts and Nevis": "St. Kitts & Nevis",
    "Saint Vincent and the Grenadines": "St. Vincent & Grenadines", "Micronesia": "Micronesia",
    "Vatican City": "Vatican City", "Republic of China": "Taiwan",
    "印尼": "Indonesia", "澳洲": "Australia", "纽西兰": "New Zealand", "紐西蘭": "New Zealand",
    "南韩": "Korea", "南韓": "Korea", "大韩民国": "Korea", "大韓民國": "Korea", "北韩": "North Korea",
    "北韓": "North Korea", "大马": "Malaysia", "星加坡": "Singapore", "中华民国": "Taiwan",
    "中華民國": "Taiwan", "寮国": "Laos", "寮國": "Laos",
}  # fmt: skip
_ALIASES = {
    _norm: canonical
    for canonical, (zh, others) in COUNTRIES.items()
    for _norm in (re.sub(r"\s+", " ", n).strip().casefold() for n in (canonical, zh, *others))
}


CLDR_LOCALES = ("en", "zh", "zh_Hant", "es", "fr", "de", "pt")
_NOT_COUNTRIES = frozenset({"ZZ", "EU", "EZ", "UN", "QO"})


def fold(name: str) -> str:
    """A country name as looked up: case, spacing and 臺/台 ("臺灣" is "台灣") ignored."""
    return re.sub(r"\s+", " ", name).strip().casefold().replace("臺", "台").replace("'", "’")


@lru_cache(maxsize=1)
def territory_names() -> dict[str, tuple[str, str]]:
    """Every country name known, folded -> (canonical key, ISO 3166 code or ""): CLDR's
    names of every territory in CLDR_LOCALES, then this module's own spellings. Built once
    per process (about 0.1 s), and only when a name is not one of `COUNTRIES`'."""
    english = _territories("en")
    names: dict[str, tuple[str, str]] = {}
    for canonical, (zh, others) in COUNTRIES.items():
        for name in (canonical, zh, *others):
            names.setdefault(fold(name), (canonical, ""))
    keys: dict[str, str] = {}
    codes: dict[str, str] = {}
    for code, en_name in english.items():
        if len(code) != 2 or not code.isalpha() or code in _NOT_COUNTRIES:
            continue
        key = _ALIASES.get(en_name.casefold(), en_name)
        keys[en_name], codes[en_name] = key, code
    for locale in CLDR_LOCALES:
        territories = _territories(locale)
        for en_name, key in keys.items():
            local_name: str | None = territories.get(codes[en_name])
            if local_name:
                names.setdefault(fold(local_name), (key, codes[en_name]))
    for spelling, en_name in OTHER_SPELLINGS.items():
        key = keys.get(en_name, _ALIASES.get(en_name.casefold(), en_name))
        names.setdefault(fold(spelling), (key, ""))
    return names


def _territories(locale: str) -> dict[str, str]:
    """CLDR's territory names in `locale`, read from the locale's own data file alone (every
    one CLDR_LOCALES names carries all territories): a worker meets an unknown country once
    (matching, an import), and the merged data of seven locales (~11 MB) would otherwise
    stay in it for good; this way it peaks at ~4 MB, and only the names stay."""
    import babel.localedata

    territories = dict(babel.localedata.load(locale, merge_inherited=False)["territories"])
    # Babel caches what it loaded under the locale's name, where a later Locale(locale)
    # would find this unmerged copy: dropped (Babel has no public way to do it).
    cache = getattr(babel.localedata, "_cache", None)
    if isinstance(cache, dict):
        cache.pop(locale, None)
    return territories


def country_key(value: str | None) -> str:
    """One spelling per country ("中国", "PRC" -> "China", "Moçambique" -> "Mozambique");
    unknown countries as written."""
    text = re.sub(r"\s+", " ", value or "").strip()
    known = _ALIASES.get(text.casefold())
    if known is not None or not text:
        return known or text
    found = territory_names().get(fold(text))
    return found[0] if found else text


def country_name(key: str, locale: str = "en") -> str:
    """A ``country_key`` in the reader's language (Chinese: this module's name, else CLDR's)."""
    if not locale.startswith("zh"):
        return key
    known = COUNTRIES.get(key)
    if known:
        return known[0]
    code = _codes().get(key)
    if not code:
        return key
    from babel import Locale

    local_name: str = Locale.parse("zh").territories.get(code) or key
    return local_name


@lru_cache(maxsize=1)
def _codes() -> dict[str, str]:
    """Canonical key -> ISO 3166 code, for the territories CLDR names."""
    return {key: code for key, code in territory_names().values() if code}
