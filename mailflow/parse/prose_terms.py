"""The words prose applications are read with: country and language names from CLDR, and the
topics libraries name as interests.

Country and language names come from the CLDR data Babel ships (every territory and language,
named in English, simplified and traditional Chinese, Spanish and French), not a hand-kept
list; see docs/parse-prose.md for why Babel.
"""

from __future__ import annotations

import re
from functools import lru_cache

from mailflow.countries import CLDR_LOCALES, fold, territory_names

__all__ = [
    "CJK",
    "country_of",
    "find_interests",
    "is_major_language",
    "language_codes",
    "language_positions",
    "starts_with_language",
]

CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN = re.compile(f"[{CJK}]")
_CJK = CJK


# -- countries and languages, from CLDR ------------------------------------------------------

# Territory names that are more often something else in a letter (a US state, a person).
_AMBIGUOUS = frozenset({"georgia", "jersey", "guernsey", "chad", "man", "niger"})
_COUNTRY_LOCALES = CLDR_LOCALES


@lru_cache(maxsize=1)
def _countries() -> dict[str, str]:
    """Every spelling known (folded) -> the canonical key (countries.country_key): CLDR's names
    of every territory in English, Chinese, Spanish, French, German and Portuguese, and
    countries.py's own (PRC, USA, UK, 中华人民共和国, 澳洲 ...)."""
    return {name: key for name, (key, _) in territory_names().items() if name not in _AMBIGUOUS}


def _fold(name: str) -> str:
    return fold(name)


def country_of(name: str) -> str | None:
    """The country a name denotes, as stored: the Chinese name when written in Chinese (as the
    form's 国家 line would be), else the canonical English name."""
    key = _countries().get(_fold(name))
    if key is None:
        return None
    return name.strip() if _HAN.search(name) else key


_EXTRA_LANGUAGES = {
    "mandarin": "zh", "cantonese": "zh", "汉语": "zh", "漢語": "zh", "华语": "zh", "普通话": "zh",
    "国语": "zh", "粤语": "zh", "中文": "zh", "castellano": "es", "castilian": "es",
    "kiswahili": "sw", "farsi": "fa", "mandarín": "zh", "mandarin chinese": "zh",
    "華語": "zh", "國語": "zh", "粵語": "zh", "普通話": "zh", "中國話": "zh", "中国话": "zh",
    "chichewa": "ny", "taiwanese": "nan", "hokkien": "nan", "台語": "nan", "臺語": "nan",
    "台语": "nan", "闽南话": "nan", "閩南話": "nan", "mandarim": "zh", "tagalog": "tl",
    "kiswahili ": "sw", "isizulu": "zu", "isixhosa": "xh", "setswana": "tn", "sesotho": "st",
    "te reo māori": "mi", "te reo": "mi", "aymara": "ay", "guaraní": "gn", "itaukei": "fj",
    "kichwa": "qu", "quichua": "qu", "runasimi": "qu", "bahasa": "ms", "bahasa melayu": "ms",
    "bahasa indonesia": "id", "filipino": "fil", "dari": "fa", "creole": "ht",
}  # fmt: skip
_BOTH = {"中英文": "zh,en", "中英双语": "zh,en", "中英": "zh,en"}


@lru_cache(maxsize=1)
def _languages() -> dict[str, str]:
    """Every language name known (casefolded) -> its code (ISO 639-1 where there is one)."""
    from babel import Locale

    names: dict[str, str] = {}
    # ISO 639-1 first; a 639-2/3 code only for languages without one (Filipino: fil).
    for width in (2, 3):
        for locale in _COUNTRY_LOCALES:
            for code, name in Locale.parse(locale).languages.items():
                if len(code) != width or len(name) < 3 and not _HAN.search(name):
                    continue
                names.setdefault(name.casefold(), code)
                if name[-1:] in ("语", "語", "文"):  # 英语 is also 英語 and 英文
                    for end in ("语", "語", "文"):
                        names.setdefault(name[:-1] + end, code)
    names.update(_EXTRA_LANGUAGES)
    names.update(_BOTH)
    return names


@lru_cache(maxsize=1)
def _language_re() -> re.Pattern[str]:
    names = sorted(_languages(), key=len, reverse=True)
    alternatives = "|".join(re.escape(n) for n in names)
    # Chinese has no spaces: a Han name needs no word boundary ("是中文和英语").
    return re.compile(
        rf"(?:(?<![\w-])|(?=[{_CJK}]))(?:{alternatives})(?:(?![\w-])|(?<=[{_CJK}]))", re.I
    )


def is_major_language(name: str) -> bool:
    """A language with an ISO 639-1 code ("English", "西班牙语"): never read as a city."""
    return len(_languages().get(name.casefold(), "")) == 2


def starts_with_language(text: str) -> bool:
    return _language_re().match(text) is not None


def language_positions(text: str) -> list[tuple[int, str]]:
    """(offset, code) of each language `text` names ("中英文" gives zh and en at one offset)."""
    return [
        (m.start(), code)
        for m in _language_re().finditer(text)
        for code in _languages()[m.group(0).casefold()].split(",")
    ]


def language_codes(text: str) -> list[str]:
    """The languages `text` names, as codes, in the order named ("中英文" is zh and en)."""
    codes: list[str] = []
    for m in _language_re().finditer(text):
        for code in _languages()[m.group(0).casefold()].split(","):
            if code not in codes:
                codes.append(code)
    return codes


# Topics libraries ask partners about, (Latin-script words, Chinese words) each; the words as
# the letter writes them are what is kept. Latin words match whole words only ("STEM" is not
# the end of "system").
_INTERESTS: tuple[tuple[str, str], ...] = (
    (  # children and young people
        r"children'?s\s+(?:books?|reading|programs?|programmes?|services?|literature|activities|"
        r"collections?|corner|section|area|room|clubs?)|story\s*times?|story\s*telling(?:\s+events|"
        r"\s+sessions)?|(?:youth|teen|teenage)\s+(?:programs?|programmes?|services?)|picture\s+books|"
        r"(?:literatura|lectura|libros|cuentos)\s+infantil(?:es)?|littérature\s+jeunesse|"
        r"albums?\s+jeunesse|heures?\s+du\s+conte|contes?\s+pour\s+(?:les\s+)?enfants|"
        r"livres?\s+(?:pour\s+)?(?:enfants|jeunesse)|livros\s+infantis|literatura\s+infantil|"
        r"conta[çc][ãa]o\s+de\s+histórias|hora\s+d[eo]l?\s+cuento|hora\s+do\s+conto|cuentacuentos|"
        r"Vorlesestunden?|Vorlesen|Bilderbücher|Kinder-?\s*und\s+Jugend(?:literatur|bücher)|"
        r"early\s+(?:literacy|years)|homework\s+(?:help|clubs?)|summer\s+reading(?:\s+(?:programs?|"
        r"programmes?|challenges?|clubs?))?|(?:baby|toddler)\s+(?:rhyme|story)\s*times?|bebetecas?",
        r"儿童阅读|少儿阅读|青少年阅读|儿童读物|少儿服务|绘本(?:阅读)?|亲子阅读(?:活动)?|讲故事(?:活动)?|"
        r"儿童故事会|故事会|兒童閱讀|親子閱讀|繪本|說故事",
    ),
    (  # reading
        r"reading\s+(?:promotion|programs?|programmes?|clubs?|challenges?|festivals?)|"
        r"promot\w*\s+reading|literacy(?:\s+programs?|\s+programmes?)?|book\s+clubs?|"
        r"(?:fomento|promoción|animación)\s+(?:de|a)\s+la\s+lectura|club(?:e?s)?\s+de\s+lectura|"
        r"promotion\s+de\s+la\s+lecture|clubs?\s+de\s+lecture|reading\s+(?:circles?|groups?|"
        r"sessions?|camps?|culture|habits?)|Lesef(?:ö|oe)rderung(?:\s+für\s+\w+)?|Lesekreise?|"
        r"Leseclubs?|rodas?\s+de\s+leitura|clubes?\s+de\s+leitura|promo[çc][ãa]o\s+da\s+leitura|"
        r"media[çc][ãa]o\s+de\s+leitura|literacy\s+(?:classes|courses|campaigns?)(?:\s+for\s+adults)?|"
        r"adult\s+literacy|alfabetizaci[óo]n(?:\s+de\s+adultos)?|alfabetiza[çc][ãa]o(?:\s+de\s+"
        r"adultos)?|alphabétisation(?:\s+des\s+adultes)?|lectura\s+en\s+lenguas\s+\w+|"
        r"lectura\s+compartida|lecture\s+partagée|leitura\s+partilhada|shared\s+reading"
        r"(?:\s+(?:clubs?|sessions?|groups?))?",
        r"阅读推广(?:活动)?|全民阅读|读书会|閱讀推廣(?:活動)?|讀書會|阅读活动|读书活动|讀書活動|扫盲",
    ),
    (  # digital
        r"digiti[sz]\w*|digital\s+(?:collections?|archives?|resources?|services?|librar(?:y|ies)|"
        r"preservation|literacy|skills|inclusion)|digitali[sz]aci[óo]n(?:\s+de\s+colecciones)?|"
        r"alfabetización\s+digital|inclusion\s+numérique|numérisation|"
        r"patrimoine\s+numérique|numérisation\s+d[ue]s?\s+(?:patrimoine|fonds|collections?|archives|"
        r"manuscrits|journaux)|digitaliza[çc][ãa]o(?:\s+d[oa]s?\s+(?:património|patrimônio|acervos?|"
        r"fundos?|jornais)(?:\s+documental|\s+histórico)?)?|Digitalisierung|e-?books?|"
        r"library\s+automation|integrated\s+library\s+systems?|institutional\s+repositor(?:y|ies)|"
        r"repositorios?\s+institucionales?|dépôts?\s+institutionnels?",
        r"数字化(?:资源建设)?|数字资源|数字图书馆|數位化|數字化|数位典藏|數位典藏|电子书|電子書|数字阅读|"
        r"數位閱讀",
    ),
    (  # heritage
        r"local\s+history|heritage(?:\s+collections?)?|historical\s+(?:collections?|newspapers|"
        r"documents)|manuscripts?|rare\s+books|(?:historia|memoria)\s+local|"
        r"patrimonio(?:\s+local|\s+documental|\s+cultural)?|patrimoine|histoire\s+locale|manuscrits|"
        r"património\s+documental|memória\s+local|história\s+local|oral\s+histor(?:y|ies)|"
        r"historia\s+oral|histoire\s+orale|história\s+oral|genealogy|family\s+history|"
        r"Regionalgeschichte|Heimatgeschichte|Lokalgeschichte|historische\s+Bestände|"
        r"(?:old|historic)\s+newspapers|archival\s+(?:collections?|materials?|records)|"
        r"(?:indigenous|aboriginal|first\s+nations|minority)\s+(?:languages?|literature|collections?|"
        r"knowledge|communities)|lenguas?\s+(?:indígenas|originarias)|langues?\s+autochtones|"
        r"línguas?\s+indígenas",
        r"地方文献|地方史|古籍(?:保护|修复|数字化)?|文献保护|少数民族文献(?:保护)?|民族文献|非物质文化遗产|"
        r"非遗|口述历史|口述歷史|家谱|族谱|地方志|方志|老报纸|地方文史|乡土文献|鄉土文獻",
    ),
    (  # books exchanged
        r"books?\s+(?:exchanges?|swaps?)|exchang(?:e|es|ing)\s+(?:of\s+)?(?:[\w'’]+\s+)?"
        r"(?:books|publications)|(?:intercambio|canje)\s+de\s+(?:libros|publicaciones)|"
        r"intercambiar\s+libros|échanges?\s+de\s+livres|échanger\s+des\s+livres|"
        r"(?:book|books)\s+donations?|donations?\s+of\s+(?:[\w'’]+\s+){0,2}books|"
        r"donat\w+\s+(?:[\w'’]+\s+){0,2}books|dons?\s+de\s+livres|donaci[óo]n(?:es)?\s+de\s+libros|"
        r"doa[çc](?:ão|ões)\s+de\s+livros|trocas?\s+de\s+livros|trocar\s+livros(?:\s+infantis)?|"
        r"Bücheraustausch|Austausch\s+von\s+Büchern|Buchspenden|intercambio\s+de\s+cuentos|"
        r"échanges?\s+de\s+contes|(?:swap|exchang|shar)\w*\s+"
        r"(?:[\w'’]+\s+){0,2}stories",
        r"(?:华文)?图书交换|交换图书|互赠图书|圖書交換|交[换換][^，。、]{0,4}?[图圖][书書]|赠书|贈書|"
        r"图书捐赠|圖書捐贈|捐书|捐書|捐赠图书|(?:俄文|外文|中文|英文|日文|华文|華文)?文献(?:交换|互换)|"
        r"(?:俄文|外文|中文|英文|日文|华文|華文)?文獻(?:交換|互換)|联合编目|聯合編目|资源共享|資源共享|"
        r"馆际互借|館際互借|文献传递|文獻傳遞",
    ),
    (  # staff
        r"staff\s+(?:exchanges?|training|visits?|development)|(?:meetings?|exchanges?|visits?)\s+"
        r"between\s+(?:our\s+)?(?:staff|librarians)|professional\s+development|"
        r"librarian\s+exchanges?|job\s+shadowing|(?:intercambio|formación|capacitación)\s+del?\s+"
        r"personal|formation\s+(?:du|des)\s+personnel|échanges?\s+de\s+personnel|"
        r"(?:rencontres|échanges?)\s+entre\s+"
        r"bibliothécaires|training\s+(?:for|of)\s+(?:our\s+)?(?:[\w-]+\s+){0,2}(?:staff|librarians|"
        r"assistants|volunteers)|capacity\s+building|mentoring|study\s+visits?|échanges?\s+de\s+"
        r"bibliothécaires|(?:intercambio|intercâmbio)\s+de\s+(?:bibliotecari[oa]s|profissionais)|"
        r"forma[çc][ãa]o\s+de\s+(?:bibliotecários|profissionais|pessoal)|formación\s+de\s+"
        r"bibliotecarios|Austausch\s+von\s+(?:Fachpersonal|Mitarbeite\w+|Personal)|Fachaustausch|"
        r"Fortbildung\w*|Hospitation\w*",
        r"馆员交流|馆员培训|人员交流|业务交流|館員交流|馆员互访|人员互访|业务培训|互访|互訪|館員培訓",
    ),
    (  # academic
        r"academic\s+exchanges?|research\s+collaboration|open\s+access(?:\s+publishing)?|"
        r"student\s+exchanges?|information\s+literacy|research\s+(?:data|support)|acceso\s+abierto|"
        r"libre\s+accès|open\s+science|science\s+ouverte|ciencia\s+abierta|"
        r"e-?resources(?:\s+sharing)?",
        r"学术交流|學術交流|开放获取|科研合作",
    ),
    (
        r"cultural\s+exchanges?(?:\s+programs?|\s+programmes?)?|intercultural\s+\w+|"
        r"intercambio\s+cultural|échanges?\s+culturels?|multicultural\s+(?:collections?|services?|"
        r"programs?|programmes?)|intercâmbio\s+cultural|Kulturaustausch",
        r"文化交流|文化活动|新住民[^，。、]{0,8}?(?:館藏|馆藏|服务|服務)|多元文化(?:館藏|馆藏|服务|服務)?",
    ),
    (
        r"pen\s*-?\s*pals?(?:\s+letters)?|letter\s+exchanges?|(?:intercambio|correspondencia)\s+de\s+"
        r"cartas|intercambiar\s+cartas|correspondance\s+scolaire|échanger\s+des\s+lettres|"
        r"trocas?\s+de\s+cartas|Brieffreundschaft\w*",
        r"笔友|筆友|写信交朋友|寫信交朋友|互相写信|互相寫信|书信往来|書信往來",
    ),
    (
        r"language\s+(?:learning|classes|exchanges?)|(?:english|spanish|french|chinese|conversation)"
        r"(?:\s+conversation)?\s+(?:classes|clubs?|corners?)|aprendizaje\s+de\s+idiomas|"
        r"apprentissage\s+des\s+langues|Sprachkurse?|Sprachcafés?|cursos?\s+de\s+(?:línguas|idiomas)|"
        r"bilingual\s+(?:collections?|books|story\s*times?)",
        r"语言学习|英语角|外语学习",
    ),
    (
        r"virtual\s+(?:meetings?|visits?|exchanges?|events?|tours?)|video\s+(?:calls?|"
        r"conferences?|meetings?)|online\s+(?:meetings?|events?|exchanges?)|visitas\s+virtuales|"
        r"rencontres\s+virtuelles|visioconférences?|videollamadas?|videochamadas?|videokonferenz\w*|"
        r"encuentros\s+virtuales(?:\s+entre\s+(?:nuestros\s+)?clubes\s+de\s+lectura)?|"
        r"encontros\s+virtuais|webinars?|videoconferencias?",
        r"线上交流|视频会议|線上交流|視訊會議",
    ),
    (r"exhibitions?|exposiciones?|expositions?|exposições?|exposição|Ausstellungen?", r"展览|展覽"),
    (
        r"(?:conservación|preservación|conservation|preservation|préservation|preserva[çc][ãa]o|"
        r"conserva[çc][ãa]o|Erhaltung)\s+(?:de\s+(?:la\s+|los\s+|las\s+)?|of\s+(?:the\s+)?|des\s+|"
        r"d[oa]s?\s+|von\s+)?(?:\w+\s+)?(?:documentos|documents|manuscripts|manuscrits|"
        r"collections?|colecciones|fondos|fonds|jornais|periódicos|newspapers|journaux|acervos?|"
        r"manuscritos|Beständen?)(?:\s+(?:antigos|antiguos|anciens|históricos|historiques|old))?|"
        r"special\s+collections|"
        r"open\s+educational\s+resources",
        r"文献修复|特藏",
    ),
    (r"shar(?:e|ing)\s+(?:\w+\s+)?books", r"图书共享|共享图书"),
    (
        r"(?:writing|reading|creative)\s+workshops?|creative\s+writing|talleres?\s+de\s+(?:lectura|escritura)"
        r"(?:\s+para\s+niños)?|ateliers?\s+d['’]écriture|ateliers?\s+de\s+lecture|"
        r"lectures?\s+publiques|public\s+readings?|author\s+(?:talks|visits)",
        r"写作工作坊|作家讲座",
    ),
    (
        r"accessibility|accesibilidad|accessibilité|acessibilidade|Barrierefreiheit|"
        r"(?:services?|servicios)\s+(?:for|para)\s+"
        r"(?:people|personas)\s+(?:with|con)\s+(?:disabilities|discapacidad(?:\s+visual)?)|"
        r"visually\s+impaired|braille",
        r"无障碍|视障",
    ),
    (
        r"maker\s*spaces?(?:\s+projects?)?|STEM|coding\s+clubs?(?:\s+for\s+(?:teenagers|teens|"
        r"children|kids|girls|young\s+people))?|fab\s*labs?|3D\s+printing|robotics|"
        r"(?:[\w-]+\s+)?computer\s+(?:labs?|classes|"
        r"courses|literacy)|cours\s+d['’]informatique|cursos\s+de\s+informática|"
        r"clases\s+de\s+computación",
        r"创客空间|创客|电脑培训",
    ),
    (
        r"health\s+(?:information|literacy)|consumer\s+health|información\s+de\s+salud|"
        r"information\s+santé",
        r"健康信息",
    ),
    (
        r"media\s+literacy|éducation\s+aux\s+médias|alfabetización\s+(?:mediática|informacional)|"
        r"indigenous\s+(?:languages?|collections?|knowledge)",
        r"媒体素养|信息素养",
    ),
    (
        r"services?\s+for\s+(?:refugees|migrants|immigrants|seniors|older\s+people)|outreach|"
        r"mobile\s+librar(?:y|ies)|bookmobiles?|bibliotecas?\s+móvil(?:es)?",
        r"流动图书馆|老年读者",
    ),
    (
        r"green\s+librar(?:y|ies)|sustainability|environmental\s+education|sostenibilidad|"
        r"développement\s+durable|sustentabilidade|Nachhaltigkeit",
        r"绿色图书馆|綠色圖書館|环境教育",
    ),
)
_INTEREST_RES = tuple(
    re.compile(rf"(?<![\w-])(?:{latin})(?![\w-])|{chinese}", re.I) for latin, chinese in _INTERESTS
)
_CONNECTED = re.compile(
    r"\s+(?:of|in|for|on|de|du|des|del|da|do|dos|das|von|für)\s+(?:[\w'’-]+\s+)?", re.I
)
_NEGATED = re.compile(r"\b(?:not|no|never)\b[^.;]{0,30}$|不|没有", re.I)


def find_interests(sentences: list[str]) -> str | None:
    found: list[str] = []
    for sentence in sentences:
        spans = sorted(
            m.span()
            for pattern in _INTEREST_RES
            for m in pattern.finditer(sentence)
            if not _NEGATED.search(sentence[: m.start()][-40:])
        )
        merged: list[list[int]] = []
        for start, end in spans:  # "virtual meetings" + "meetings between staff": one interest
            # "staff training in library automation", "numérisation du patrimoine": one too
            if merged and (
                start <= merged[-1][1] or _CONNECTED.fullmatch(sentence, merged[-1][1], start)
            ):
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        for start, end in merged:
            phrase = sentence[start:end]
            if phrase.casefold() not in {f.casefold() for f in found}:
                found.append(phrase)
    if not found:
        return None
    chinese = all(_HAN.search(f) for f in found)
    return ("、" if chinese else ", ").join(found)
