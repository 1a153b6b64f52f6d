"""Application fields a library states in a letter instead of the form.

"We are the Municipal Library of Valparaíso, Chile ... our staff speak Spanish and some English"
gives the name, city, country, type and languages the form would have asked for; a letter
that leaves something out is asked only for that. Conservative on purpose: a field comes only
from a sentence about the writer's own library (a self-reference such as "we", "our", "我们",
"somos", "nous" before it and no wish for a partner in between), or from the signature; a
library the writer *wants* ("a partner library in Japan") never fills a field. Nothing is
guessed from an address, a domain or a time zone. See docs/parse-prose.md.

The words it reads with (country and language names from CLDR, interest topics) live in
prose_terms.py; the sentence rules (whose library a sentence speaks of) live here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from mailflow.parse.forms import extract_fields, normalise_library_type
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

_CJK = CJK
_HAN = re.compile(f"[{_CJK}]")
_UP = "A-ZÀ-ÖØ-Þ"

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
    if a and b and _HAN.match(a[-1]) and _HAN.match(b[0]):
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


_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[^a-z])|(?<=[。！？；!?])|(?<=;)\s*")


_ABBREVIATION = re.compile(
    r"(?:^|\s)(?:Mr|Ms|Mrs|Dr|St|Prof|Sr|Sra|Mme|Mlle|M|No|Jr|Dra|Ste|Av|Ave|Inc|Ltd)\.$"
)


def _sentences(paragraphs: Iterable[str]) -> list[str]:
    out: list[str] = []
    for paragraph in paragraphs:
        pieces: list[str] = []
        for piece in _SENTENCE_END.split(paragraph):
            if pieces and _ABBREVIATION.search(pieces[-1][-8:]):  # the tail: linear in "St. St. …"
                pieces[-1] = f"{pieces[-1]} {piece}"  # "Ms. Liza Reyes" goes on
            else:
                pieces.append(piece)
        out.extend(p.strip()[:_MAX_SENTENCE] for p in pieces if p.strip())
        if len(out) >= _MAX_SENTENCES:
            return out[:_MAX_SENTENCES]
    return out


_SIGNOFF = re.compile(
    r"^(?:(?:best|kind|warm|warmest|many)\s+)?(?:regards|wishes)\b|^(?:yours\b|sincerely|"
    r"respectfully|cordially|cheers|thanks?\b|thank you|with (?:best|kind|warm)|best,?$|"
    r"saludos|atentamente|cordialmente|un (?:cordial )?saludo|muchas gracias|"
    r"cordialement|bien (?:à vous|cordialement)|salutations|sinc[eè]res salutations|merci)|"
    r"^(?:many thanks|all the best|warmly|with gratitude|un abrazo|abrazos|saludos cordiales|"
    r"abraços|atenciosamente|cumprimentos|com os melhores cumprimentos|obrigad[ao]|"
    r"mit (?:freundlichen|besten|herzlichen) gr(?:ü|ue)(?:ß|ss)en|(?:viele|beste|herzliche|liebe) "
    r"gr(?:ü|ue)(?:ß|ss)e|vielen dank)\b|"
    r"^(?:此致|敬礼|谢谢|謝謝|祝好|顺祝|顺颂|順頌|順祝|敬祝|祝工作顺利|期待您的回复|期待回复)",
    re.I,
)


def _split_signature(lines: list[str]) -> tuple[list[str], list[str]]:
    """(body lines, signature lines): the signature starts at "-- " or the last sign-off."""
    for i, line in enumerate(lines):
        if line == "--":
            return lines[:i], lines[i + 1 :]
    start = max(0, len(lines) - 15)
    for i in range(len(lines) - 1, start - 1, -1):
        if lines[i] and _SIGNOFF.match(lines[i]) and len(lines[i]) <= 60:
            return lines[:i], lines[i + 1 :]
    return lines, []


# -- whose sentence: the writer's own library, not the partner it wants ---------------------

_SELF = re.compile(
    r"\b(?:we|we're|we've|our|ours|us|i|i'm|my|here at|this is|on behalf of|as (?:the )?"
    r"(?:director|head|librarian|manager|coordinator|chief|dean)|represent\w*|writing from|"
    r"nous|notre|nos|je|j'|au nom de|somos|soy|estamos|nuestr[ao]s?|mi|en nombre de|"
    r"trabajo|trabajamos|hablamos|parlons|travaillons|communiquons|sommes|the library|"
    r"staff|colleagues?|librarians|volunteers|team|personal|personnel|équipe|voluntarios|"
    r"escrib\w*|écri\w*|escrev\w*|em nome d[aoe]|me dirijo|me permito|je me permets|como director\w*|"
    r"en calidad de|en tant que|sou|nossa|nosso|nossas|nossos|trabalhamos|falamos|"
    r"wir|unser\w*|ich|bin)\b|"
    r"^\W*(?:the|la|le|el|l['’]|a|o|die|der|das)\s*(?:library|biblioteca|bibliothèque|médiathèque|"
    r"bibliothek|\w+bibliothek|\w*bücherei)\b|"
    r"^\W*(?:\w+\s+){0,2}(?:from|desde|depuis)\b|"
    r"我们|我們|我馆|我館|本馆|本館|敝馆|我校|我是|我在|馆员|館員|工作人员|同事",
    re.I,
)
# Words that turn a sentence toward the library wanted; what comes after them is not us.
_PARTNER = re.compile(
    r"\b(?:partner\w*|sister|twin\w*|looking|seek\w*|find\w*|would like|like to|hope|hoping|"
    r"wish\w*|want\w*|interested|similar|such as|connect\w*|with an?\b|"
    r"soci[ao]s?|herman[ao]s?|busc\w+|gustar\w*|dese\w+|quer\w+|interes\w+|"
    r"partenaires?|s(?:œ|oe)urs?|jumel\w*|cherch\w*|souhait\w*|aimer\w+|voudr\w+|"
    # another library the writer knows of: "I visited the Shanghai Library", "a colleague at"
    r"visit\w*|met|meet\w*|heard|told|recommend\w*|inspir\w*|(?:colleagues?|friends?)\s+(?:at|from)|"
    r"read\s+about|conoc\w+|recomend\w+|rencontr\w+|recommand\w+|"
    r"irmãs?|parceir\w*|gostar\w*|procur\w*|möcht\w*|such\w*|wünsch\w*)\b|"
    r"姐妹|姊妹|伙伴|夥伴|希望|寻找|尋找|想找|想与|想和|对方|對方|友好|结对|合作馆|与一所|和一所|"
    r"参观|參觀|访问过|訪問過|听说|聽說|推荐|推薦",
    re.I,
)


def _ours(sentence: str, start: int, *, subject: bool = False, own: str = "") -> bool:
    """The text before `start` speaks of the writer (or `subject`: the match opens the sentence;
    or it names `own`, the writer's library) and does not yet speak of the library wanted."""
    before = sentence[:start]
    if _PARTNER.search(before):
        return False
    return subject or bool(_SELF.search(before)) or bool(own and own in before)


# -- the library's name ---------------------------------------------------------------------

_CW = rf"(?:St\.|[{_UP}][\w'’\-]+|\d+(?:st|nd|rd|th)?)"  # a capitalised word (not "I", not "A")
_INNER = r"(?:of|for|and|&|de|del|de la|de las|de los|du|des|y|et|da|do|das|dos|e)"
_CWS = rf"{_CW}(?:\s+(?:{_INNER}\s+|d['’])?{_CW})*"
_LIB_WORD = (
    r"(?:Library|Libraries|Biblioteca|Bibliothèque|Médiathèque|Bibliothek|Bibliotheek|Bibliotek|"
    r"[A-ZÄÖÜ][a-zäöüß]+(?:bibliothek|bücherei))"  # German compounds: Stadtbibliothek Graz
)
# Spanish and French write the adjectives after the noun, often in lower case.
_ADJ = (
    r"(?i:municipal(?:es?)?|públic[ao]s?|publiques?|nacional(?:es)?|nationales?|"
    r"universitari[ao]s?|universitaires?|escolar(?:es)?|scolaires?|comunitari[ao]s?|"
    r"centrale?|départementale?|régionale?|regional|provincial(?:es?)?|popular(?:es)?|"
    r"infantil|intercommunale?|communautaires?|communales?|populaire|comunitári[ao]s?|"
    r"estadual|distrital)"
)
_TAIL = rf"(?:of|for|de|del|de la|de los|de las|du|des|d['’])\s*(?:(?:the|la|le|el|les|los|las|l['’])\s*)?{_CWS}"
_EN_NAME = re.compile(
    rf"(?:{_CWS}\s+)?{_LIB_WORD}(?:\s+{_ADJ})*(?:\s+(?!{_INNER}\b){_CWS})?(?:\s+{_TAIL})?"
)
_LEADING = frozenset((
    "we", "i", "our", "my", "the", "this", "dear", "hello", "hi", "as", "at", "in", "from", "on",
    "here", "nous", "notre", "je", "la", "le", "el", "los", "las", "les", "somos", "soy",
    "nuestra", "nuestro", "desde", "en", "con", "au", "a", "and", "y", "et", "of", "de", "del",
    "librarian", "director", "directora", "directrice", "head", "manager", "chief", "coordinator",
    "coordinadora", "bibliotecaria", "bibliotecario", "bibliothécaire", "dean", "deputy",
    "o", "die", "der", "das", "da", "do", "na", "no", "em", "sou", "ich", "wir", "unsere",
    "bibliotecária",
))  # fmt: skip
_NOT_A_NAME = re.compile(
    r"\b(?:sister|partner|twin\w*|programs?|programmes?|program[ae]|association|federation|"
    r"network|week|day|month|council|project|conference|congress|team|committee|"
    r"hermana|socia|partenaire|sœur|soeur|jumel\w*|asociación)\b",
    re.I,
)
_GENERIC = frozenset((
    "library", "libraries", "biblioteca", "bibliothèque", "médiathèque", "bibliothek", "public",
    "municipal", "city", "community", "central", "national", "school", "university", "academic",
    "town", "county", "regional", "local", "main", "branch", "state", "pública", "publique",
    "municipale", "nacional", "nationale", "the", "of", "de", "la", "services", "service",
    "comunitária", "stadtbibliothek", "stadtbücherei", "gemeindebibliothek", "infantil",
))  # fmt: skip


def _clean_name(raw: str) -> str | None:
    words = raw.split()
    while words and words[0].lower().strip("'’") in _LEADING:
        words.pop(0)
    name = re.sub(r"['’]s$", "", " ".join(words)).strip(" ,.;:-'’\"")
    if not name or len(name) > 100 or len(words) > 12 or _NOT_A_NAME.search(name):
        return None
    if all(w.lower() in _GENERIC for w in re.split(r"[\s\-]+", name)):
        return None  # "the Public Library": no name at all
    if not re.search(_LIB_WORD, name):
        return None
    return name


_ZH_NAME_CHARS = f"[{_CJK}0-9０-９·（）()]"
_ZH_LIB = "(?:图书馆|圖書館)"
_ZH_LEVEL = re.compile(
    r"^(?:一所|一家|一座|一个|所|家|座)?(?:[区县市省]级|乡镇|街道|基层|综合性|小型|中型|大型|"
    r"公共|少儿|儿童|社区|大学|高校|学校|中学|小学|国家|专业|高等院校|研究|地方|"
    r"姐妹|姊妹|友好|合作|国外|外国|海外|当地|我们的|贵|本|我|该|这所|那所|的|和|与)*"
)
_ZH_INTRO = re.compile(
    rf"(?:我们是|我們是|我馆是|我館是|本馆是|本館是|我馆为|我館為|本馆为|本館為|这里是|這裡是|我是|"
    rf"我们来自|我來自|我来自|来自|"
    rf"代表|名叫|名为|名為|叫做|——|—|－－|：|:)\s*(?:位于|位於|地处|坐落在|坐落于|来自)?"
    rf"(?P<loc>[^，。！？；、\n的]{{1,30}}的)?(?P<article>一所|一家|一座|一个|一間|一间)?"
    rf"(?P<name>{_ZH_NAME_CHARS}{{2,30}}?{_ZH_LIB})"
)
_ZH_SUBJECT = re.compile(
    rf"^(?P<name>{_ZH_NAME_CHARS}{{2,30}}?{_ZH_LIB})(?:（[^）]{{1,20}}）)?"
    rf"(?:新?(?:總館|总馆)|[{_CJK}]{{1,4}}(?:分館|分馆))?"
    rf"(?:是|為|为|成立于|始建于|创建于|建于|位于|位於|地处|坐落|希望|想|申请|申請)"
)


# "the library of Lincoln Middle School", "la biblioteca del IES Miguel de Cervantes": a school's
# or a university's library is known by the institution's name.
_INSTITUTION = re.compile(
    r"(?i:\bthe\s+library\s+(?:of|at)|\bla\s+biblioteca\s+del?|\bla\s+bibliothèque\s+(?:de|du)|"
    r"\blibrarian\s+(?:at|of)|\bbibliotecari[ao]\s+(?:en|de)\s+la|\bbibliothécaire\s+(?:à|de)\s+la)"
    rf"\s+(?:(?:the|la|el|le|l['’])\s*)?(?P<inst>{_CWS})"
)
_INSTITUTION_WORD = re.compile(
    r"\b(?:School|College|University|Université|Universidad|Colegio|Escuela|IES|Instituto|Liceo|Lycée|"
    r"Collège|École|Academy|Hospital|Institute)\b"
)


def _clean_institution(name: str) -> str | None:
    name = name.strip(" ,.;:")
    if len(name) > 100 or not _INSTITUTION_WORD.search(name) or _NOT_A_NAME.search(name):
        return None
    return name


def _zh_name(name: str) -> str | None:
    if _ZH_LEVEL.sub("", name) in ("图书馆", "圖書館", ""):
        return None  # "一所公共图书馆", "姐妹图书馆": a kind of library, not one
    if _PARTNER.search(name):
        return None
    return name


# -- type ---------------------------------------------------------------------------------

_TYPE_PHRASE = re.compile(
    r"\b(?P<en>public|academic|university|college|school|national|special|research|medical|"
    r"law|community|municipal|county|city|town|village|district)"
    r"(?:\s+(?:and|&)\s+\w+)?\s+librar(?:y|ies)\b"
    r"|\b(?:biblioteca|bibliothèque)s?\s+(?P<rom>pública|publique|municipale?|universitári[ao]|"
    r"universitari[ao]|comunitári[ao]|escolar|"
    r"universitaire|escolar|scolaire|nacional|nationale|especializada|spécialisée|comunitaria|"
    r"communautaire|"
    r"popular)"
    r"|\b(?:librar(?:y|ies)\s+(?:at|of)|(?:biblioth[eè]que|biblioteca)\s+[\w\s]{0,50}?\s+"
    r"(?:de\s+l['’]|de\s+la|del))\s*(?:the\s+)?(?:[\w'-]+\s+){0,3}?"
    r"(?P<inst>University|Université|Universidad|College|School|Colegio|Escuela|Lycée|Collège)\b"
    r"|(?P<zh>公共|大学|高校|学校|中学|小学|国家|专业|社区|高等院校|学院|研究|市立)(?:图书馆|圖書館)"
    r"|\b(?P<de>öffentliche|wissenschaftliche|Universitäts|Schul|National)-?\s*[Bb]ibliothek",
    re.I,
)
_TYPE_EXTRA = {
    "county": "public", "city": "public", "town": "public", "village": "public",
    "district": "public", "社区": "public", "popular": "public", "comunitaria": "public",
    "comunitario": "public", "communautaire": "public", "communale": "public",
    "学院": "academic", "研究": "special", "especializada": "special", "spécialisée": "special",
    "comunitária": "public", "comunitário": "public", "universitária": "academic",
    "universitário": "academic", "öffentliche": "public", "wissenschaftliche": "academic",
    "universitäts": "academic", "schul": "school", "national": "national",
}  # fmt: skip
_TYPES = frozenset({"public", "academic", "school", "national", "special"})


def _type_of(word: str) -> str | None:
    found = _TYPE_EXTRA.get(word.lower()) or normalise_library_type(word)
    return found if found in _TYPES else None


# Checked in order: "Baguio City National High School Library" is a school's, "Biblioteca Central
# de la Universidad ..." a university's. A place word ("City Library") says nothing.
_NAME_TYPES = tuple(
    (kind, re.compile(pattern, re.I))
    for kind, pattern in (
        ("school", r"\b(?:school|high school|primary|secondary|escuela|colegio|IES|lycée|collège|"
                   r"école)\b|中学|小学|学校|中學|小學|學校"),
        ("academic", r"\b(?:univers(?:it|id)\w*|college|polytechnic)\b|大学|大學|学院|學院|高校"),
        ("national", r"\b(?:national|nacional|nationale)\b|国家|國家"),
        # not "Popular": an Argentine "Biblioteca Popular" is a members' association's library
        ("public", r"\b(?:public|municipal\w*|community|county|pública|publique|"
                   r"comunit[aá]ria|\w*stadtbibliothek|\w*stadtbücherei|gemeindebibliothek|"
                   r"öffentliche)\b|公共|市立|区立|县立|區立|縣立|社区|社區"),
        ("special", r"\b(?:medical|law|hospital|research|museum|especializada|spécialisée)\b|"
                    r"专业|專業|研究"),
    )
)  # fmt: skip


def _type_from_name(name: str) -> str | None:
    """The kind of library its name says ("Municipal Library of X", "北京大学图书馆")."""
    return next((kind for kind, pattern in _NAME_TYPES if pattern.search(name)), None)


# -- place ------------------------------------------------------------------------------------

_PLACE = (
    rf"(?:St\.\s+|Ste?-)?[{_UP}][\w'’\-]+"
    rf"(?:\s+(?:(?:de|do|da|del|la|el|sur|upon|on)\s+|d['’])?[{_UP}][\w'’\-]+){{0,3}}"
)
_EN_LOC = re.compile(
    rf"\b(?:in|at|from|near|of|en|à|a|de|desde|em|na|no|aus)\s+(?:the\s+(?:city|town|village)\s+of\s+"
    rf"|la\s+ciudad\s+de\s+|la\s+ville\s+de\s+|cidade\s+de\s+)?(?P<city>{_PLACE})"
    rf"(?:\s*,\s*|\s+\()(?:(?P<region>{_PLACE})\s*,\s*)?(?:en\s+|au\s+)?(?P<country>{_PLACE})"
)
_EN_COUNTRY_ONLY = re.compile(
    r"\b(?:in|from|en|à|au|aux|de|em|no|na|aus|im)\s+(?:the\s+)?(?:(?:rural|northern|southern|eastern|western|"
    r"central|north|south|east|west|north-eastern|north-western)\s+|(?:north|south|east|west|"
    rf"centre|center|heart|middle)\s+of\s+)?(?P<country>{_PLACE})|\((?P<paren>{_PLACE})\)"
)
_EN_CITY_ONLY = re.compile(
    rf"\b(?i:(?:librar(?:y|ies)|located|based|situated|here)\s+in|in\s+the\s+(?:city|town|village)"
    rf"\s+of|(?:biblioteca|situada|ubicada|con\s+sede)\s+en|en\s+la\s+ciudad\s+de|"
    rf"(?:bibliothèque|située|situé|basée|basé|installée)\s+à|dans\s+la\s+ville\s+de|"
    rf"(?:biblioteca|situada|localizada|sediada)\s+em|na\s+cidade\s+de)\s+"
    rf"(?P<city>{_PLACE})"
    # the sentence ends or goes on: "in Kingston, would like", "in Austin, Texas", "of X in Y"
    rf"(?=\s*(?:[.;!?)]|$|,\s+[a-z]|,\s*[{_UP}]|\s+(?:in|en|au|dans|em|no|na)\s+|\s+city\b))"
)
_ZH_PLACE = re.compile(
    rf"(?:位于|位於|地处|地處|坐落在|坐落于|坐落於|来自|來自|来自于|在|[图圖][书書][馆館][为為]|"
    rf"我们是|我們是|我馆是|我館是|本馆是|本館是|我馆为|我館為|本馆为|本館為)"
    rf"(?:位于|位於|地处|地處|来自|來自)?(?P<loc>[{_CJK}]{{2,20}}?)(?:的|，|,|。|$)"
)
_ZH_PROVINCE = re.compile(rf"^[{_CJK}]{{2,8}}?(?:省|自治区|自治區|特别行政区|特別行政區)")
_NOT_CITIES = frozenset(
    [
        "asia",
        "africa",
        "europe",
        "america",
        "north",
        "south",
        "latin",
        "oceania",
        "english",
        "spanish",
        "french",
        "chinese",
        "the",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ]
)


_ZH_REGION = re.compile(
    r"[东南西北中東]{1,2}部|[东南西北東]{1,2}方|各地|全[国國]|境[内內]|地[区區]|沿海|内地|內地"
)


def _zh_loc(loc: str) -> tuple[str | None, str | None]:
    """(country, city) of a Chinese place phrase: 中国浙江省杭州市西湖区 -> (中国, 杭州)."""
    country = None
    for length in range(min(len(loc), 8), 1, -1):
        found = country_of(loc[:length])
        if found:
            country, loc = found, loc[length:]
            break
    loc = _ZH_PROVINCE.sub("", loc)
    city = None
    m = re.match(rf"([{_CJK}]{{2,6}}?)市", loc)
    if m:
        city = m.group(1)
    elif country and 2 <= len(loc) <= 4 and not country_of(loc) and not _ZH_REGION.match(loc):
        city = loc  # "中国杭州": a place right after the country is the city; "臺灣南部" has none
    return country, city


def _city_of_zh_name(name: str) -> str | None:
    m = re.match(rf"^(?:[{_CJK}]{{2,3}}省)?([{_CJK}]{{2,4}}?)市", name)
    return m.group(1) if m and not country_of(m.group(1)) else None


def _good_city(city: str) -> bool:
    return (
        city.casefold() not in _NOT_CITIES
        and city.split()[0].casefold() not in _NOT_CITIES
        and country_of(city) is None
        and not is_major_language(city)  # "in English", but "Douala" is a city too
        and not re.search(_LIB_WORD, city)
    )


# -- languages and interests ------------------------------------------------------------------

_LANG_TRIGGER = re.compile(
    r"\b(?:speak|speaks|spoken|working languages?|languages?\s+(?:we\s+use\s+)?(?:is|are)|"
    r"work(?:s|ing)?\s+(?:mainly\s+|mostly\s+|primarily\s+)?in|communicate\s+(?:mainly\s+|"
    r"mostly\s+|well\s+)?in|correspond\s+in|fluent\s+in|write\s+in|bilingual|conversant\s+in|"
    r"hablamos|hablan|habla|idiomas?\s+de\s+trabajo|trabajamos\s+en|nos\s+comunicamos\s+en|"
    r"parlons|parlent|parle|langues?\s+de\s+travail|travaillons\s+en|communiquons\s+en|"
    r"trabaja(?:n)?\s+en|travaille(?:nt)?\s+en|works?\s+(?:in|through)|languages?\s+spoken|"
    r"langues?\s+parlées?|idiomas?\s+hablados?|falamos|falam|fala|trabalhamos\s+em|"
    r"sprechen|spricht|arbeiten\s+(?:auf|in)|sprachen)\b|能以|均以|"
    r"\b(?P<use>use|using|utilizamos|usamos|utilisons)\b|"
    r"工作语言|工作語言|会说|會說|会讲|會講|能说|能講|能讲|可以用|能用|可用|使用|通晓|掌握|精通|只会|只會|"
    r"也会|也會|都会|都會|讲|說|说",
    re.I,
)
_LANG_SENTENCE = re.compile(
    r"\bour\s+(?:main\s+|working\s+|official\s+|first\s+)?languages?\b|"
    r"^(?:languages?\s+spoken|langues?\s+parlées?|idiomas?\s+hablados?)\b|"
    r"\bnuestr[oa]s?\s+(?:idiomas?|lenguas?)\b|\bnotre\s+langue|\bnos\s+langues|我们的语言",
    re.I,
)
_LANG_STOP = re.compile(
    rf"{_PARTNER.pattern}|\b(?:but|who|that|which|whose|pero|que|mais|qui)\b|但|而|"
    # a new clause about someone else: "and some of our students are learning Spanish"
    r"\b(?:and|y|et)\s+(?:some|many|most|all|few|several|algunos|muchos|certains|plusieurs)\s+"
    r"(?:of|de|des)\b|\b(?:students|pupils|users|patrons|visitors|readers|learning|learn|"
    r"estudiantes|alumnos|usuarios|élèves|étudiants|usagers|lecteurs)\b|学生|读者|讀者|用户",
    re.I,
)

# -- the extractor ---------------------------------------------------------------------------


# "la biblioteca comunitaria "Casa de la Lectura"", "la médiathèque intercommunale Les Mots
# Passants": the words after the kind of library are its name.
_NAMED_AFTER = re.compile(
    # a quoted name also after a capitalised kind: Biblioteca Infantil Municipal "El Principito"
    rf"\b(?:(?i:library|biblioteca|bibliothèque|médiathèque)\s+(?:{_ADJ}\s+)*"
    rf"[\"“«„]\s*(?P<quoted>[^\"”»“\n]{{3,60}}?)\s*[\"”»“]|"
    rf"(?:library|biblioteca|bibliothèque|médiathèque)\s+(?:{_ADJ}\s+)*"
    rf"(?P<proper>(?:(?:Les|La|Le|El|Los|Las|The)\s+)?{_CW}(?:\s+(?:{_INNER}\s+)?{_CW})+))"
)
_ZH_INSTITUTION = re.compile(
    rf"(?:我们是|我們是|我校是|我们来自|我們來自|学校叫|學校叫|学校名叫|学校名为|校名为|我是|我在)"
    rf"(?P<name>[{_CJK}0-9０-９]{{2,20}}?(?:中学|小学|大学|学院|学校|中學|小學|大學|學院|學校))"
    rf"(?:(?![{_CJK}])|(?=的))"  # "我是…中心小学的老师"
)


# What may stand before a name that opens a sentence: an article (en/es/fr/pt/de).
_OPENING = r"\W*(?:(?:the|la|le|el|l['’]|a|o|die|der|das)\s*)?"


_ZH_ARTICLE = re.compile(r"一[所家间間个個座]")


def _names(sentences: list[str]) -> list[tuple[str, str, int]]:
    """(name, sentence, end) of the writer's library, best first."""
    found: list[tuple[str, str, int]] = []
    for sentence in sentences:
        for m in _NAMED_AFTER.finditer(sentence):
            named = (m["quoted"] or m["proper"] or "").strip(" ,.;:")
            # "la biblioteca CRA del Liceo X": a school library's acronym, then the school
            inner = re.match(r"[A-Z]{2,5}\s+(?:del?|de la|of(?: the)?)\s+(.+)", named)
            if inner and _INSTITUTION_WORD.search(inner.group(1)):
                named = inner.group(1)
            opens = bool(re.fullmatch(_OPENING, sentence[: m.start()], re.I))
            if (
                named
                and not _NOT_A_NAME.search(named)
                and _ours(sentence, m.start(), subject=opens)
            ):
                found.append((named, sentence, m.end()))
        for m in _EN_NAME.finditer(sentence):
            name = _clean_name(m.group(0))
            if not name:
                continue
            start = m.start() + m.group(0).find(name.split()[0])
            opens = bool(re.fullmatch(_OPENING, sentence[:start], re.I)) and bool(
                re.match(
                    r"\s*(?:\([^)]{1,20}\)\s*)?(?:(?:is|was|has|serves|opened|would|wishes|wants|"
                    r"hopes|here|est|es|aimerait|souhaite|voudrait|desea|quiere|busca|cherche|"
                    r"é|vem|deseja|gostaria|quer|ist|möchte|bewirbt|sucht|in|im|für)\b|,)",
                    sentence[m.end() :],
                )
            )
            if _ours(sentence, start, subject=opens):
                found.append((name, sentence, m.end()))
        for m in _INSTITUTION.finditer(sentence):
            inst = _clean_institution(m["inst"])
            if inst and _ours(sentence, m.start()):
                found.append((inst, sentence, m.end()))
        for m in _ZH_INTRO.finditer(sentence):
            # "一所公共图书馆", "一家华文社区图书馆": a description, never a name
            name = None if m["article"] else _zh_name(m["name"])
            if name and _ours(sentence, m.start() + 1, subject=True):
                found.append((name, sentence, m.end()))
        for m in _ZH_INSTITUTION.finditer(sentence):
            # "我们是广州市第二中学"; "我在…一所小学" describes a school, it does not name one
            if _ours(sentence, m.start() + 2, subject=True) and not _ZH_ARTICLE.search(m["name"]):
                found.append((m["name"], sentence, m.end()))
        sm = _ZH_SUBJECT.match(sentence)
        if sm and _zh_name(sm["name"]):
            found.append((sm["name"], sentence, sm.end()))
    return found


def _signature_name(lines: list[str]) -> str | None:
    for line in lines[:8]:
        if len(line) > 120:
            continue
        m = _EN_NAME.search(line)
        if m:
            name = _clean_name(m.group(0))
            if name and len(name) >= len(line) / 2:
                return name
        m = re.fullmatch(
            rf"(?:{_ZH_NAME_CHARS}{{0,10}}[，,\s])?({_ZH_NAME_CHARS}{{2,30}}{_ZH_LIB})", line
        )
        if m and _zh_name(m.group(1)):
            return m.group(1)
    return None


_POSTCODE = re.compile(r"\b(?:[A-Z]{1,2}-?)?\d[\d\- ]{2,8}\d?\b|\b[A-Z]\d[A-Z] ?\d[A-Z]\d\b")


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
    city = _POSTCODE.sub(" ", parts[-2]).strip()
    m = re.fullmatch(_PLACE, city)
    return country, city if m and _good_city(city) else None


def _signature_place(lines: list[str]) -> tuple[str | None, str | None]:
    """A signature line that is only "City, Country" (or "Country"), or an address ending so."""
    for line in lines[:10]:
        if line.count(",") >= 2 or re.search(r"\d", line):
            country, city = _address_place(line)
            if country:
                return country, city
        m = re.fullmatch(
            rf"(?:(?P<city>{_PLACE})\s*,\s*(?:{_PLACE}\s*,\s*)?)?(?P<country>{_PLACE})\.?", line
        )
        if m and country_of(m["country"]):
            city = m["city"] if m["city"] and _good_city(m["city"]) else None
            return country_of(m["country"]), city
        m = re.fullmatch(rf"[{_CJK}]{{2,20}}", line)
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
            rf"\s*(?:\([^)]{{1,20}}\)\s*)?,\s*(?:(?P<city>{_PLACE})\s*,\s*)?(?:(?:in|en|au|aux)\s+)?"
            rf"(?P<country>{_PLACE})\b",
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
        m = re.match(rf"\s*\((?:[a-z]+\s+)?(?P<country>{_PLACE})\)", after)
        if m and country_of(m["country"]):  # "Kisumu County Library (western Kenya)"
            _put(fields, "country", country_of(m["country"]))
        m = re.match(rf"\s*,\s*(?:in|at|à|en|em|na|no)\s+(?P<city>{_PLACE})\s*(?:[.;!?,]|$)", after)
        if m and _good_city(m["city"]):  # "..., à Rabat."
            _put(fields, "city", m["city"])
        m = _ZH_INTRO.search(sentence)
        if m and m["name"] == name and m["loc"]:
            zc, zcity = _zh_loc(m["loc"][:-1])
            _put(fields, "country", zc)
            _put(fields, "city", zcity)
        if _HAN.search(name):
            _put(fields, "city", _city_of_zh_name(name))
        m = _DE_NAME_PLACE.match(name)
        if m and _good_city(m["city"]):  # "Stadtbibliothek Graz"
            _put(fields, "city", m["city"])
    else:
        found = _signature_name(signature)
        if found:
            fields["library_name"] = found
            if _HAN.search(found):
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


# German names put the place after a compound: "Stadtbibliothek Graz", "Stadtbücherei Köln".
_DE_NAME_PLACE = re.compile(
    rf"(?:Stadt|Gemeinde|Landes|Kreis|Universitäts)(?:bibliothek|bücherei)\s+(?P<city>{_PLACE})$"
)
_NAME_PLACE = re.compile(rf"\b(?:of|de|del|de la|du|d['’])\s*(?={_PLACE}$)")
_NOT_A_PLACE = re.compile(rf"{_INSTITUTION_WORD.pattern}|\bLiceo\b|{_LIB_WORD}|\bUniversit")


def _name_place(name: str) -> str | None:
    """The place a name ends with: "Viña del Mar" of "... Liceo Bicentenario de Viña del Mar",
    "Salamanca" of "Biblioteca de la Universidad de Salamanca" (the longest naming no
    institution)."""
    for m in _NAME_PLACE.finditer(name):
        place = name[m.end() :]
        if not _NOT_A_PLACE.search(place):
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
    for m in _overlapping(_EN_LOC, sentence):
        country = country_of(m["country"])
        if country and _good_city(m["city"]) and _ours(sentence, m.start(), own=own):
            _put(fields, "country", country)
            if fields.get("country") == country:
                _put(fields, "city", m["city"])
            return
    for m in _ZH_PLACE.finditer(sentence):
        if _ours(sentence, m.start("loc"), own=own):  # "高雄市立圖書館為臺灣…": the name says who
            country, city = _zh_loc(m["loc"])
            _put(fields, "country", country)
            _put(fields, "city", city)
            if "country" in fields and "city" in fields:
                return
    if "country" not in fields:
        for m in _EN_COUNTRY_ONLY.finditer(sentence):
            country = country_of(m["country"] or m["paren"])
            if country and _ours(sentence, m.start(), own=own):
                fields["country"] = country
                break
    if "city" not in fields:
        for m in _EN_CITY_ONLY.finditer(sentence):
            if _good_city(m["city"]) and _ours(sentence, m.start(), own=own):
                fields["city"] = m["city"]
                break


def _stated_type(sentences: list[str], own: str) -> str | None:
    for sentence in sentences:
        for m in _TYPE_PHRASE.finditer(sentence):
            word = m["en"] or m["rom"] or m["inst"] or m["zh"] or m["de"]
            if _ours(sentence, m.start(), own=own):
                found = _type_of(word)
                if found:
                    return found
    return None


_OTHERS = re.compile(
    r"\b(?:students|pupils|users|patrons|visitors|readers|families|children|kids|parents|"
    r"community|residents|population|estudiantes|alumnos|usuarios|familias|niños|élèves|"
    r"étudiants|usagers|lecteurs|familles|enfants)\b|学生|學生|读者|讀者|用户|家庭|孩子|居民",
    re.I,
)


_STAFF = re.compile(
    r"\b(?:we|staff|librarians|team|colleagues?|volunteers|teachers|nous|nosotros|personal|personnel|"
    r"équipe|equipa|equipe|profesores|enseignants)\b|馆员|館員|我们|我們|工作人员|同事|员工|老师|老師|教师|教師",
    re.I,
)


def _speaker_is_other(before: str) -> bool:
    """The nearest subject before a verb of speaking is patrons, not staff."""
    other = max((m.end() for m in _OTHERS.finditer(before)), default=-1)
    staff = max((m.end() for m in _STAFF.finditer(before)), default=-1)
    return other > staff


def _stated_languages(sentences: list[str]) -> list[str]:
    codes: list[str] = []
    for sentence in sentences:
        clauses: list[tuple[int, str]] = []  # (where it starts, text): named in sentence order
        for m in _LANG_TRIGGER.finditer(sentence):
            if _speaker_is_other(sentence[max(0, m.start() - 40) : m.start()]):
                continue  # "many of our families speak Mandarin": not the library's languages
            if _ours(sentence, m.end()):  # "Hablamos", "parlons": the verb says who
                rest = sentence[m.end() :]
                if m["use"] and not starts_with_language(rest.lstrip()):
                    continue  # "we use the library ...", but "we use English and Filipino"
                stop = _LANG_STOP.search(rest)
                clauses.append((m.end(), rest[: stop.start()] if stop else rest))
        if _LANG_SENTENCE.search(sentence):  # "English is our working language."
            stop = _PARTNER.search(sentence)
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

_WANTS = re.compile(
    r"\b(?:looking\s+for|seek\w*|would\s+like|like\s+to|want\w*|wish\w*|hop\w+|interested\s+in|"
    r"love|keen|glad|take\s+part|"
    r"join\w*|apply\w*|applying|application|register\w*|sign\s+up|find\w*|establish\w*|become|"
    r"start\w*|build\w*)\b[^.!?\n]{0,80}?\b(?:sister|partner|twin(?:ned)?)[\s-]+(?:\w+\s+)?"
    r"(?:librar(?:y|ies)|relationship|program(?:me)?|partnership)"
    r"|\b(?:busc\w+|quisi\w+|gustar\w*|encantar\w*|dese\w+|quer\w+|interes\w+|unir\w*|"
    r"solicit\w+|particip\w+)\b"
    r"[^.!?\n]{0,80}?\bbibliotecas?\s+(?:\w+\s+)?(?:herman[ao]s?|asociadas?|socias?)"
    r"|\bhermanamiento|\bhermanar\w*"
    r"|\b(?:cherch\w+|souhait\w+|aimer\w+|voudr\w+|intéress\w+|rejoindre|candidat\w*|devenir)\b"
    r"[^.!?\n]{0,80}?\bbibliothèques?\s+(?:\w+\s+)?(?:s(?:œ|oe)urs?|partenaires?|jumel\w+)"
    r"|\bjumelage"
    r"|\b(?:gostar\w*|quer\w*|particip\w+|interess\w+|candidat\w+|procur\w+|integrar|aderir)\b"
    r"[^.!?\n]{0,80}?\bbibliotecas?\s+(?:\w+\s+)?(?:irmãs?|parceiras?)"
    r"|\b(?:möcht\w*|bewerb\w*|such\w*|interess\w*|teilnahme|teilnehmen|wünsch\w*)\b"
    r"[^.!?\n]{0,80}?(?:partner|schwester)(?:bibliothek\w*|\s+bibliothek\w*|schaft)"
    r"|(?:希望|寻找|尋找|想|申请|申請|加入|建立|結成|结成|成为|成為|结为|結為|寻求|尋求)[^。！？\n]{0,20}?"
    r"(?:[姐姊]妹(?:学校|學校)?(?:图书|圖書)?[馆館]|友好(?:图书|圖書)?[馆館]|合作(?:伙伴|夥伴)?(?:图书|圖書)?[馆館]|结对|結對)",
    re.I,
)
# A question about the program is not an application: "I would like to know more about ...".
_INQUIRY = re.compile(
    r"\b(?:know|learn|information|info|details|ask|question)\b|了解|咨询|諮詢|请问|請問", re.I
)
# A subject is a title: naming what is wanted is enough.
_WANTS_SUBJECT = re.compile(
    r"\b(?:sister|partner|twin)[\s-]+(?:\w+\s+)?librar|bibliotecas?\s+(?:herman|asociad|socia|irmã|"
    r"parceir)|hermanamiento|(?:partner|schwester)-?bibliothek|"
    r"bibliothèques?\s+(?:s(?:œ|oe)ur|partenaire|jumel)|jumelage|"
    r"[姐姊]妹(?:图书|圖書)?[馆館]|友好(?:图书|圖書)?[馆館]|申請|申请",
    re.I,
)


def wants_partner(text: str, subject: str = "") -> bool:
    """The letter applies: its subject names a sister or partner library, or its body wants one
    (or to join the program) *and* says something about the writer's own library. A question
    about the program does not apply, nor does "any news on finding a sister library for us?"
    from a library that is already listed (that one goes to staff, as before)."""
    if _WANTS_SUBJECT.search(subject[:500]) and not _INQUIRY.search(subject[:500]):
        return True
    body, _ = _split_signature(_lines(text))
    wants = any(
        not _INQUIRY.search(m.group(0))
        for paragraph in _paragraphs(body)
        for m in _WANTS.finditer(paragraph)
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
