"""Application fields a library states in a letter instead of the form.

"We are the Municipal Library of Valparaíso, Chile ... our staff speak Spanish and some English"
gives the name, city, country, type and languages the form would have asked for; a letter
that leaves something out is asked only for that. Conservative on purpose: a field comes only
from a sentence about the writer's own library (a self-reference such as "we", "our", "我们",
"somos", "nous" before it and no wish for a partner in between), or from the signature; a
library the writer *wants* ("a partner library in Japan") never fills a field. Nothing is
guessed from an address, a domain or a time zone. See docs/parse-prose.md.

The words it reads with (country and language names from CLDR, interest topics) live in
prose_terms.py, the per-language rules (sign-offs, self-references, partner wishes, how names,
types, places and languages are written) in prose_rules.py; the scanning lives here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from mailflow.parse.forms import extract_fields, normalise_library_type
from mailflow.parse.prose_rules import (
    ABBREVIATION,
    DE_NAME_PLACE,
    EN_CITY_ONLY,
    EN_COUNTRY_ONLY,
    EN_LOC,
    EN_NAME,
    GENERIC,
    HAN,
    INQUIRY,
    INSTITUTION,
    INSTITUTION_WORD,
    LANG_SENTENCE,
    LANG_STOP,
    LANG_TRIGGER,
    LEADING,
    LIB_WORD,
    NAME_PLACE,
    NAME_TYPES,
    NAMED_AFTER,
    NOT_A_NAME,
    NOT_A_PLACE,
    NOT_CITIES,
    OPENING,
    OTHERS,
    PARTNER,
    PLACE,
    POSTCODE,
    SELF,
    SENTENCE_END,
    SIGNOFF,
    STAFF,
    TYPE_EXTRA,
    TYPE_PHRASE,
    TYPES,
    WANTS,
    WANTS_SUBJECT,
    ZH_ARTICLE,
    ZH_INSTITUTION,
    ZH_INTRO,
    ZH_LEVEL,
    ZH_LIB,
    ZH_NAME_CHARS,
    ZH_PLACE,
    ZH_PROVINCE,
    ZH_REGION,
    ZH_SUBJECT,
)
from mailflow.parse.prose_terms import (
    CJK,
    country_of,
    find_interests,
    is_major_language,
    language_positions,
    starts_with_language,
)

__all__ = [
    "MAX_PROSE_CHARS",
    "PROSE_FIELDS",
    "extract_prose_fields",
    "fill_fields",
    "wants_partner",
]

# A letter is a page or two; what follows is quoted history, attachments or an attack.
MAX_PROSE_CHARS = 20_000
_MAX_SENTENCE = 600  # longer "sentences" are lists or junk; they are cut, not scanned whole
_MAX_SENTENCES = 400  # a letter has a few dozen; "。。。…" has one per character
PROSE_FIELDS = ("library_name", "library_type", "country", "city", "languages", "interests")


# -- text: paragraphs unwrapped, sentences, the signature ------------------------------------


def _lines(text: str) -> list[str]:
    lines = text[:MAX_PROSE_CHARS].replace("\r\n", "\n").replace("\r", "\n").split("\n")
    # Quoted text ("> ...") is someone else's letter; a form line ("图书馆名称：…") is the form
    # reader's, and what the form left out stays asked for (no city read from its name line).
    return [
        "" if line.lstrip().startswith(">") or _form_line(line) else line.strip() for line in lines
    ]


def _form_line(line: str) -> bool:
    # A long "Languages: we all speak ... and we'd love ..." is prose that starts with a label.
    return len(line) <= 100 and (":" in line or "：" in line) and bool(extract_fields(line))


def _join(a: str, b: str) -> str:
    # Hard-wrapped Chinese has no space at the break; Latin text has one.
    if a and b and HAN.match(a[-1]) and HAN.match(b[0]):
        return a + b
    return f"{a} {b}" if a else b


def _paragraphs(lines: list[str]) -> list[str]:
    paragraphs: list[str] = []
    current = ""
    for line in lines:
        if not line or line == "--":
            if current:
                paragraphs.append(current)
            current = ""
        else:
            current = _join(current, line)
    if current:
        paragraphs.append(current)
    return paragraphs


def _sentences(paragraphs: Iterable[str]) -> list[str]:
    out: list[str] = []
    for paragraph in paragraphs:
        pieces: list[str] = []
        for piece in SENTENCE_END.split(paragraph):
            if pieces and ABBREVIATION.search(pieces[-1][-8:]):  # the tail: linear in "St. St. …"
                pieces[-1] = f"{pieces[-1]} {piece}"  # "Ms. Liza Reyes" goes on
            else:
                pieces.append(piece)
        out.extend(p.strip()[:_MAX_SENTENCE] for p in pieces if p.strip())
        if len(out) >= _MAX_SENTENCES:
            return out[:_MAX_SENTENCES]
    return out


def _split_signature(lines: list[str]) -> tuple[list[str], list[str]]:
    """(body lines, signature lines): the signature starts at "-- " or the last sign-off."""
    for i, line in enumerate(lines):
        if line == "--":
            return lines[:i], lines[i + 1 :]
    start = max(0, len(lines) - 15)
    for i in range(len(lines) - 1, start - 1, -1):
        if lines[i] and SIGNOFF.match(lines[i]) and len(lines[i]) <= 60:
            return lines[:i], lines[i + 1 :]
    return lines, []


# -- whose sentence: the writer's own library, not the partner it wants ---------------------


def _ours(sentence: str, start: int, *, subject: bool = False, own: str = "") -> bool:
    """The text before `start` speaks of the writer (or `subject`: the match opens the sentence;
    or it names `own`, the writer's library) and does not yet speak of the library wanted."""
    before = sentence[:start]
    if PARTNER.search(before):
        return False
    return subject or bool(SELF.search(before)) or bool(own and own in before)


# -- the library's name ---------------------------------------------------------------------


def _clean_name(raw: str) -> str | None:
    words = raw.split()
    while words and words[0].lower().strip("'’") in LEADING:
        words.pop(0)
    name = re.sub(r"['’]s$", "", " ".join(words)).strip(" ,.;:-'’\"")
    if not name or len(name) > 100 or len(words) > 12 or NOT_A_NAME.search(name):
        return None
    if all(w.lower() in GENERIC for w in re.split(r"[\s\-]+", name)):
        return None  # "the Public Library": no name at all
    if not re.search(LIB_WORD, name):
        return None
    return name


def _clean_institution(name: str) -> str | None:
    name = name.strip(" ,.;:")
    if len(name) > 100 or not INSTITUTION_WORD.search(name) or NOT_A_NAME.search(name):
        return None
    return name


def _zh_name(name: str) -> str | None:
    if ZH_LEVEL.sub("", name) in ("图书馆", "圖書館", ""):
        return None  # "一所公共图书馆", "姐妹图书馆": a kind of library, not one
    if PARTNER.search(name):
        return None
    return name


# -- type ---------------------------------------------------------------------------------


def _type_of(word: str) -> str | None:
    found = TYPE_EXTRA.get(word.lower()) or normalise_library_type(word)
    return found if found in TYPES else None


def _type_from_name(name: str) -> str | None:
    """The kind of library its name says ("Municipal Library of X", "北京大学图书馆")."""
    return next((kind for kind, pattern in NAME_TYPES if pattern.search(name)), None)


# -- place ------------------------------------------------------------------------------------


def _zh_loc(loc: str) -> tuple[str | None, str | None]:
    """(country, city) of a Chinese place phrase: 中国浙江省杭州市西湖区 -> (中国, 杭州)."""
    country = None
    for length in range(min(len(loc), 8), 1, -1):
        found = country_of(loc[:length])
        if found:
            country, loc = found, loc[length:]
            break
    loc = ZH_PROVINCE.sub("", loc)
    city = None
    m = re.match(rf"([{CJK}]{{2,6}}?)市", loc)
    if m:
        city = m.group(1)
    elif country and 2 <= len(loc) <= 4 and not country_of(loc) and not ZH_REGION.match(loc):
        city = loc  # "中国杭州": a place right after the country is the city; "臺灣南部" has none
    return country, city


def _city_of_zh_name(name: str) -> str | None:
    m = re.match(rf"^(?:[{CJK}]{{2,3}}省)?([{CJK}]{{2,4}}?)市", name)
    return m.group(1) if m and not country_of(m.group(1)) else None


def _good_city(city: str) -> bool:
    return (
        city.casefold() not in NOT_CITIES
        and city.split()[0].casefold() not in NOT_CITIES
        and country_of(city) is None
        and not is_major_language(city)  # "in English", but "Douala" is a city too
        and not re.search(LIB_WORD, city)
    )


# -- the extractor ---------------------------------------------------------------------------


def _names(sentences: list[str]) -> list[tuple[str, str, int]]:
    """(name, sentence, end) of the writer's library, best first."""
    found: list[tuple[str, str, int]] = []
    for sentence in sentences:
        for m in NAMED_AFTER.finditer(sentence):
            named = (m["quoted"] or m["proper"] or "").strip(" ,.;:")
            # "la biblioteca CRA del Liceo X": a school library's acronym, then the school
            inner = re.match(r"[A-Z]{2,5}\s+(?:del?|de la|of(?: the)?)\s+(.+)", named)
            if inner and INSTITUTION_WORD.search(inner.group(1)):
                named = inner.group(1)
            opens = bool(re.fullmatch(OPENING, sentence[: m.start()], re.I))
            if named and not NOT_A_NAME.search(named) and _ours(sentence, m.start(), subject=opens):
                found.append((named, sentence, m.end()))
        for m in EN_NAME.finditer(sentence):
            name = _clean_name(m.group(0))
            if not name:
                continue
            start = m.start() + m.group(0).find(name.split()[0])
            opens = bool(re.fullmatch(OPENING, sentence[:start], re.I)) and bool(
                re.match(
                    r"\s*(?:\([^)]{1,20}\)\s*)?(?:(?:is|was|has|serves|opened|would|wishes|wants|"
                    r"hopes|here|est|es|aimerait|souhaite|voudrait|desea|quiere|busca|cherche|"
                    r"é|vem|deseja|gostaria|quer|ist|möchte|bewirbt|sucht|in|im|für)\b|,)",
                    sentence[m.end() :],
                )
            )
            if _ours(sentence, start, subject=opens):
                found.append((name, sentence, m.end()))
        for m in INSTITUTION.finditer(sentence):
            inst = _clean_institution(m["inst"])
            if inst and _ours(sentence, m.start()):
                found.append((inst, sentence, m.end()))
        for m in ZH_INTRO.finditer(sentence):
            # "一所公共图书馆", "一家华文社区图书馆": a description, never a name
            name = None if m["article"] else _zh_name(m["name"])
            if name and _ours(sentence, m.start() + 1, subject=True):
                found.append((name, sentence, m.end()))
        for m in ZH_INSTITUTION.finditer(sentence):
            # "我们是广州市第二中学"; "我在…一所小学" describes a school, it does not name one
            if _ours(sentence, m.start() + 2, subject=True) and not ZH_ARTICLE.search(m["name"]):
                found.append((m["name"], sentence, m.end()))
        sm = ZH_SUBJECT.match(sentence)
        if sm and _zh_name(sm["name"]):
            found.append((sm["name"], sentence, sm.end()))
    return found


def _signature_name(lines: list[str]) -> str | None:
    for line in lines[:8]:
        if len(line) > 120:
            continue
        m = EN_NAME.search(line)
        if m:
            name = _clean_name(m.group(0))
            if name and len(name) >= len(line) / 2:
                return name
        m = re.fullmatch(
            rf"(?:{ZH_NAME_CHARS}{{0,10}}[，,\s])?({ZH_NAME_CHARS}{{2,30}}{ZH_LIB})", line
        )
        if m and _zh_name(m.group(1)):
            return m.group(1)
    return None


def _address_place(line: str) -> tuple[str | None, str | None]:
    """(country, city) of an address line ending in a country: "Kabanbay Batyr St 94, Almaty
    050010, Kazakhstan", "Rua X 12, 1100-148 Lisboa, Portugal"; the city is the part before
    the country once its postcode is gone, when it is a plain place name."""
    parts = [p.strip() for p in line.split(",")]
    if len(parts) < 2 or len(line) > 120:
        return None, None
    country = country_of(parts[-1].rstrip("."))
    if not country:
        return None, None
    city = POSTCODE.sub(" ", parts[-2]).strip()
    m = re.fullmatch(PLACE, city)
    return country, city if m and _good_city(city) else None


def _signature_place(lines: list[str]) -> tuple[str | None, str | None]:
    """A signature line that is only "City, Country" (or "Country"), or an address ending so."""
    for line in lines[:10]:
        if line.count(",") >= 2 or re.search(r"\d", line):
            country, city = _address_place(line)
            if country:
                return country, city
        m = re.fullmatch(
            rf"(?:(?P<city>{PLACE})\s*,\s*(?:{PLACE}\s*,\s*)?)?(?P<country>{PLACE})\.?", line
        )
        if m and country_of(m["country"]):
            city = m["city"] if m["city"] and _good_city(m["city"]) else None
            return country_of(m["country"]), city
        m = re.fullmatch(rf"[{CJK}]{{2,20}}", line)
        if m and country_of(line[:2]) or m and country_of(line[:3]):
            country, city = _zh_loc(line)
            if country:
                return country, city
    return None, None


def extract_prose_fields(text: str) -> dict[str, str]:
    """The application fields a letter states: library_name, library_type, country, city,
    languages (ISO 639-1 codes, comma-separated, as the form's), interests. Absent when the
    letter does not say; never guessed."""
    lines = _lines(text)
    body_lines, signature = _split_signature(lines)
    sentences = _sentences(_paragraphs(body_lines))
    fields: dict[str, str] = {}

    names = _names(sentences)
    if names:
        name, sentence, end = names[0]
        fields["library_name"] = name
        after = sentence[end:]
        # "the Municipal Library of Valparaíso, Chile": the place of the name, then its country.
        m = re.match(
            rf"\s*(?:\([^)]{{1,20}}\)\s*)?,\s*(?:(?P<city>{PLACE})\s*,\s*)?(?:(?:in|en|au|aux)\s+)?"
            rf"(?P<country>{PLACE})\b",
            after,
        )
        country = country_of(m["country"]) if m else None
        tail = _name_place(name)
        if m and country:
            fields["country"] = country
            if m["city"] and _good_city(m["city"]):
                fields["city"] = m["city"]  # "Anna Centenary Library, Chennai, India"
            elif tail and _good_city(tail):
                fields["city"] = tail  # "Municipal Library of Valparaíso, Chile"
        elif tail and country_of(tail):
            fields["country"] = country_of(tail) or ""  # "National Library of Jamaica"
        m = re.match(rf"\s*\((?:[a-z]+\s+)?(?P<country>{PLACE})\)", after)
        if m and country_of(m["country"]):  # "Kisumu County Library (western Kenya)"
            _put(fields, "country", country_of(m["country"]))
        m = re.match(rf"\s*,\s*(?:in|at|à|en|em|na|no)\s+(?P<city>{PLACE})\s*(?:[.;!?,]|$)", after)
        if m and _good_city(m["city"]):  # "..., à Rabat."
            _put(fields, "city", m["city"])
        m = ZH_INTRO.search(sentence)
        if m and m["name"] == name and m["loc"]:
            zc, zcity = _zh_loc(m["loc"][:-1])
            _put(fields, "country", zc)
            _put(fields, "city", zcity)
        if HAN.search(name):
            _put(fields, "city", _city_of_zh_name(name))
            # "西藏自治区图书馆（拉萨）": the place in brackets after the name
            at = sentence.find(name) + len(name)
            m = re.match(rf"\s*[（(]([{CJK}]{{2,6}}?)市?[）)]", sentence[at:])
            if m and not ZH_REGION.match(m.group(1)):
                if country_of(m.group(1)):
                    _put(fields, "country", country_of(m.group(1)))
                else:
                    _put(fields, "city", m.group(1))
        m = DE_NAME_PLACE.match(name)
        if m and _good_city(m["city"]):  # "Stadtbibliothek Graz"
            _put(fields, "city", m["city"])
    else:
        found = _signature_name(signature)
        if found:
            fields["library_name"] = found
            if HAN.search(found):
                _put(fields, "city", _city_of_zh_name(found))

    for sentence in sentences:
        _place(sentence, fields, fields.get("library_name", ""))
        if "country" in fields and "city" in fields:
            break
    if "country" not in fields or "city" not in fields:
        country, city = _signature_place(signature)
        if "country" not in fields:
            _put(fields, "country", country)
            _put(fields, "city", city)

    library_type = _stated_type(sentences, fields.get("library_name", ""))
    if library_type is None and "library_name" in fields:
        library_type = _type_from_name(fields["library_name"])
    _put(fields, "library_type", library_type)

    languages = _stated_languages(sentences)
    if languages:
        fields["languages"] = ",".join(languages)
    _put(fields, "interests", find_interests(sentences))
    return fields


def _name_place(name: str) -> str | None:
    """The place a name ends with: "Viña del Mar" of "... Liceo Bicentenario de Viña del Mar",
    "Salamanca" of "Biblioteca de la Universidad de Salamanca" (the longest naming no
    institution)."""
    for m in NAME_PLACE.finditer(name):
        place = name[m.end() :]
        if not NOT_A_PLACE.search(place):
            return place
    return None


def _put(fields: dict[str, str], key: str, value: str | None) -> None:
    if value and key not in fields:
        fields[key] = value


def _overlapping(pattern: re.Pattern[str], text: str) -> Iterable[re.Match[str]]:
    """Every match, also those starting inside an earlier one ("de Cuenca, en Cuenca, Ecuador")."""
    pos = 0
    while (m := pattern.search(text, pos)) is not None:
        yield m
        pos = m.start() + 1


def _place(sentence: str, fields: dict[str, str], own: str) -> None:
    for m in _overlapping(EN_LOC, sentence):
        country = country_of(m["country"])
        if (
            country
            and _good_city(m["city"])
            and _ours(sentence, m.start(), own=own)
            and not _patrons_place(sentence, m.start())
        ):
            _put(fields, "country", country)
            if fields.get("country") == country:
                _put(fields, "city", m["city"])
            return
    for m in ZH_PLACE.finditer(sentence):
        if _ours(sentence, m.start("loc"), own=own):  # "高雄市立圖書館為臺灣…": the name says who
            country, city = _zh_loc(m["loc"])
            _put(fields, "country", country)
            _put(fields, "city", city)
            if "country" in fields and "city" in fields:
                return
    if "country" not in fields:
        for m in EN_COUNTRY_ONLY.finditer(sentence):
            country = country_of(m["country"] or m["paren"])
            if (
                country
                and _ours(sentence, m.start(), own=own)
                and not _patrons_place(sentence, m.start())
            ):
                fields["country"] = country
                break
    if "city" not in fields:
        for m in EN_CITY_ONLY.finditer(sentence):
            if _good_city(m["city"]) and _ours(sentence, m.start(), own=own):
                fields["city"] = m["city"]
                break


def _patrons_place(sentence: str, start: int) -> bool:
    """Where the patrons are from ("our readers come from Syria"), not where the library is
    ("we serve students in Lagos, Nigeria" says that)."""
    return re.match(r"(?i:from|desde|aus|de)\b", sentence[start:]) is not None and (
        _speaker_is_other(sentence[max(0, start - 40) : start])
    )


def _stated_type(sentences: list[str], own: str) -> str | None:
    for sentence in sentences:
        for m in TYPE_PHRASE.finditer(sentence):
            word = m["en"] or m["rom"] or m["inst"] or m["zh"] or m["de"]
            if _ours(sentence, m.start(), own=own):
                found = _type_of(word)
                if found:
                    return found
    return None


def _speaker_is_other(before: str) -> bool:
    """The nearest subject before a verb of speaking is patrons, not staff."""
    other = max((m.end() for m in OTHERS.finditer(before)), default=-1)
    staff = max((m.end() for m in STAFF.finditer(before)), default=-1)
    return other > staff


def _stated_languages(sentences: list[str]) -> list[str]:
    codes: list[str] = []
    for sentence in sentences:
        clauses: list[tuple[int, str]] = []  # (where it starts, text): named in sentence order
        for m in LANG_TRIGGER.finditer(sentence):
            if _speaker_is_other(sentence[max(0, m.start() - 40) : m.start()]):
                continue  # "many of our families speak Mandarin": not the library's languages
            if _ours(sentence, m.end()):  # "Hablamos", "parlons": the verb says who
                rest = sentence[m.end() :]
                if m["use"] and not starts_with_language(rest.lstrip()):
                    continue  # "we use the library ...", but "we use English and Filipino"
                stop = LANG_STOP.search(rest)
                clauses.append((m.end(), rest[: stop.start()] if stop else rest))
        if LANG_SENTENCE.search(sentence):  # "English is our working language."
            stop = PARTNER.search(sentence)
            clauses.append((0, sentence[: stop.start()] if stop else sentence))
        named = sorted(
            (start + where, code)
            for start, clause in clauses
            for where, code in language_positions(clause)
        )
        for _, code in named:
            if code not in codes:
                codes.append(code)
    return codes


# -- what the pipeline calls ----------------------------------------------------------------


def wants_partner(text: str, subject: str = "") -> bool:
    """The letter applies: its subject names a sister or partner library, or its body wants one
    (or to join the program) *and* says something about the writer's own library. A question
    about the program does not apply, nor does "any news on finding a sister library for us?"
    from a library that is already listed (that one goes to staff, as before)."""
    if WANTS_SUBJECT.search(subject[:500]) and not INQUIRY.search(subject[:500]):
        return True
    body, _ = _split_signature(_lines(text))
    wants = any(
        not INQUIRY.search(m.group(0))
        for paragraph in _paragraphs(body)
        for m in WANTS.finditer(paragraph)
    )
    return wants and any(k != "interests" for k in extract_prose_fields(text))


def fill_fields(fields: Mapping[str, str], *texts: str) -> dict[str, str]:
    """`fields` (the form's) with what the letters in `texts` state added where the form gave
    nothing; a field the form gave is never replaced."""
    wanted = [k for k in PROSE_FIELDS if not fields.get(k)]
    if not wanted:
        return dict(fields)
    found: dict[str, str] = {}
    for text in texts:
        for key, value in extract_prose_fields(text).items():
            found.setdefault(key, value)
    return {**{k: v for k, v in found.items() if k in wanted}, **fields}
