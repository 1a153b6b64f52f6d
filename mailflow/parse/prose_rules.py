"""The per-language rules a prose letter is read with: sign-offs, the words that say whose
library a sentence speaks of (the writer's or the one wanted), how names, types, places and
languages are written in English, Chinese, Spanish, French, Portuguese and German, and what
wanting a partner looks like. prose.py scans a letter with them; prose_terms.py holds the
vocabulary (CLDR country and language names, interest topics).
"""

from __future__ import annotations

import re

from mailflow.parse.prose_terms import CJK

__all__ = [
    "ABBREVIATION",
    "ADJ",
    "CW",
    "CWS",
    "DE_NAME_PLACE",
    "EN_CITY_ONLY",
    "EN_COUNTRY_ONLY",
    "EN_LOC",
    "EN_NAME",
    "GENERIC",
    "HAN",
    "INNER",
    "INQUIRY",
    "INSTITUTION",
    "INSTITUTION_WORD",
    "LANG_SENTENCE",
    "LANG_STOP",
    "LANG_TRIGGER",
    "LEADING",
    "LIB_WORD",
    "NAMED_AFTER",
    "NAME_PLACE",
    "NAME_TYPES",
    "NOT_A_NAME",
    "NOT_A_PLACE",
    "NOT_CITIES",
    "OPENING",
    "OTHERS",
    "PARTNER",
    "PLACE",
    "POSTCODE",
    "SELF",
    "SENTENCE_END",
    "SIGNOFF",
    "STAFF",
    "TAIL",
    "TYPES",
    "TYPE_EXTRA",
    "TYPE_PHRASE",
    "UPPER",
    "WANTS",
    "WANTS_SUBJECT",
    "ZH_ARTICLE",
    "ZH_INSTITUTION",
    "ZH_INTRO",
    "ZH_LEVEL",
    "ZH_LIB",
    "ZH_NAME_CHARS",
    "ZH_PLACE",
    "ZH_PROVINCE",
    "ZH_REGION",
    "ZH_SUBJECT",
]


HAN = re.compile(f"[{CJK}]")

UPPER = "A-ZÀ-ÖØ-Þ"

# -- sentences and the signature --------------------------------------------------------------

SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[^a-z])|(?<=[。！？；!?])|(?<=;)\s*")

ABBREVIATION = re.compile(
    r"(?:^|\s)(?:Mr|Ms|Mrs|Dr|St|Prof|Sr|Sra|Mme|Mlle|M|No|Jr|Dra|Ste|Av|Ave|Inc|Ltd)\.$"
)

SIGNOFF = re.compile(
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

# -- whose sentence: the writer's own library, not the partner it wants -----------------------

SELF = re.compile(
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
PARTNER = re.compile(
    r"\b(?:partner\w*|sister|twin\w*|looking|seek\w*|find\w*|would like|like to|hope|hoping|"
    r"wish\w*|want\w*|interested|similar|such as|connect\w*|with an?\b|"
    r"soci[ao]s?|herman[ao]s?|busc\w+|gustar\w*|dese\w+|quer\w+|interes\w+|"
    r"partenaires?|s(?:œ|oe)urs?|jumel\w*|cherch\w*|souhait\w*|aimer\w+|voudr\w+|"
    # another library the writer knows of: "I visited the Shanghai Library", "a colleague at"
    r"visit\w*|met|meet\w*|heard|told|recommend\w*|inspir\w*|(?:colleagues?|friends?)\s+(?:at|from)|"
    r"read\s+about|conoc\w+|recomend\w+|rencontr\w+|recommand\w+|"
    r"irmãs?|parceir\w*|gostar\w*|procur\w*|möcht\w*|such\w*|wünsch\w*|"
    # a library the writer knows of, in Portuguese and German
    r"ouvi\w*|conhec\w+|gehört|besucht\w*|empf(?:ohlen|ehl\w*)|kenne\w*)\b|"
    r"姐妹|姊妹|伙伴|夥伴|希望|寻找|尋找|想找|想与|想和|对方|對方|友好|结对|合作馆|与一所|和一所|"
    r"参观|參觀|访问过|訪問過|听说|聽說|推荐|推薦",
    re.I,
)

# -- the library's name -----------------------------------------------------------------------

CW = rf"(?:St\.|[{UPPER}][\w'’\-]+|\d+(?:st|nd|rd|th)?)"  # a capitalised word (not "I", not "A")

INNER = r"(?:of|for|and|&|de|del|de la|de las|de los|du|des|y|et|da|do|das|dos|e)"

CWS = rf"{CW}(?:\s+(?:{INNER}\s+|d['’])?{CW})*"

LIB_WORD = (
    r"(?:Library|Libraries|Biblioteca|Bibliothèque|Médiathèque|Bibliothek|Bibliotheek|Bibliotek|"
    r"[A-ZÄÖÜ][a-zäöüß]+(?:bibliothek|bücherei))"  # German compounds: Stadtbibliothek Graz
)

# Spanish and French write the adjectives after the noun, often in lower case.
ADJ = (
    r"(?i:municipal(?:es?)?|públic[ao]s?|publiques?|nacional(?:es)?|nationales?|"
    r"universitari[ao]s?|universitaires?|escolar(?:es)?|scolaires?|comunitari[ao]s?|"
    r"centrale?|départementale?|régionale?|regional|provincial(?:es?)?|popular(?:es)?|"
    r"infantil|intercommunale?|communautaires?|communales?|populaire|comunitári[ao]s?|"
    r"estadual|distrital)"
)

TAIL = rf"(?:of|for|de|del|de la|de los|de las|du|des|d['’])\s*(?:(?:the|la|le|el|les|los|las|l['’])\s*)?{CWS}"

EN_NAME = re.compile(
    rf"(?:{CWS}\s+)?{LIB_WORD}(?:\s+{ADJ})*(?:\s+(?!{INNER}\b){CWS})?(?:\s+{TAIL})?"
)

LEADING = frozenset((
    "we", "i", "our", "my", "the", "this", "dear", "hello", "hi", "as", "at", "in", "from", "on",
    "here", "nous", "notre", "je", "la", "le", "el", "los", "las", "les", "somos", "soy",
    "nuestra", "nuestro", "desde", "en", "con", "au", "a", "and", "y", "et", "of", "de", "del",
    "librarian", "director", "directora", "directrice", "head", "manager", "chief", "coordinator",
    "coordinadora", "bibliotecaria", "bibliotecario", "bibliothécaire", "dean", "deputy",
    "o", "die", "der", "das", "da", "do", "na", "no", "em", "sou", "ich", "wir", "unsere",
    "bibliotecária",
))  # fmt: skip

NOT_A_NAME = re.compile(
    r"\b(?:sister|partner|twin\w*|programs?|programmes?|program[ae]|association|federation|"
    r"network|week|day|month|council|project|conference|congress|team|committee|"
    r"hermana|socia|partenaire|sœur|soeur|jumel\w*|asociación)\b",
    re.I,
)

GENERIC = frozenset((
    "library", "libraries", "biblioteca", "bibliothèque", "médiathèque", "bibliothek", "public",
    "municipal", "city", "community", "central", "national", "school", "university", "academic",
    "town", "county", "regional", "local", "main", "branch", "state", "pública", "publique",
    "municipale", "nacional", "nationale", "the", "of", "de", "la", "services", "service",
    "comunitária", "stadtbibliothek", "stadtbücherei", "gemeindebibliothek", "infantil",
))  # fmt: skip

ZH_NAME_CHARS = f"[{CJK}0-9０-９·（）()]"

ZH_LIB = "(?:图书馆|圖書館)"

ZH_LEVEL = re.compile(
    r"^(?:一所|一家|一座|一个|所|家|座)?(?:[区县市省]级|乡镇|街道|基层|综合性|小型|中型|大型|"
    r"公共|少儿|儿童|社区|大学|高校|学校|中学|小学|国家|专业|高等院校|研究|地方|"
    r"姐妹|姊妹|友好|合作|国外|外国|海外|当地|我们的|贵|本|我|该|这所|那所|的|和|与)*"
)

ZH_INTRO = re.compile(
    rf"(?:我们是|我們是|我馆是|我館是|本馆是|本館是|我馆为|我館為|本馆为|本館為|这里是|這裡是|我是|"
    rf"我们来自|我來自|我来自|来自|"
    rf"代表|名叫|名为|名為|叫做|——|—|－－|：|:)\s*(?:位于|位於|地处|坐落在|坐落于|来自)?"
    rf"(?P<loc>[^，。！？；、\n的]{{1,30}}的)?(?P<article>一所|一家|一座|一个|一間|一间)?"
    rf"(?P<name>{ZH_NAME_CHARS}{{2,30}}?{ZH_LIB})"
)

ZH_SUBJECT = re.compile(
    rf"^(?P<name>{ZH_NAME_CHARS}{{2,30}}?{ZH_LIB})(?:（[^）]{{1,20}}）)?"
    rf"(?:新?(?:總館|总馆)|[{CJK}]{{1,4}}(?:分館|分馆))?"
    rf"(?:是|為|为|成立于|始建于|创建于|建于|位于|位於|地处|坐落|希望|想|申请|申請)"
)

# "the library of Lincoln Middle School", "la biblioteca del IES Miguel de Cervantes": a school's
# or a university's library is known by the institution's name.
INSTITUTION = re.compile(
    r"(?i:\bthe\s+library\s+(?:of|at)|\bla\s+biblioteca\s+del?|\bla\s+bibliothèque\s+(?:de|du)|"
    r"\blibrarian\s+(?:at|of)|\bbibliotecari[ao]\s+(?:en|de)\s+la|\bbibliothécaire\s+(?:à|de)\s+la)"
    rf"\s+(?:(?:the|la|el|le|l['’])\s*)?(?P<inst>{CWS})"
)

INSTITUTION_WORD = re.compile(
    r"\b(?:School|College|University|Université|Universidad|Colegio|Escuela|IES|Instituto|Liceo|Lycée|"
    r"Collège|École|Academy|Hospital|Institute)\b"
)

# -- type -------------------------------------------------------------------------------------

TYPE_PHRASE = re.compile(
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

TYPE_EXTRA = {
    "county": "public", "city": "public", "town": "public", "village": "public",
    "district": "public", "社区": "public", "popular": "public", "comunitaria": "public",
    "comunitario": "public", "communautaire": "public", "communale": "public",
    "学院": "academic", "研究": "special", "especializada": "special", "spécialisée": "special",
    "comunitária": "public", "comunitário": "public", "universitária": "academic",
    "universitário": "academic", "öffentliche": "public", "wissenschaftliche": "academic",
    "universitäts": "academic", "schul": "school", "national": "national",
}  # fmt: skip

TYPES = frozenset({"public", "academic", "school", "national", "special"})

# Checked in order: "Baguio City National High School Library" is a school's, "Biblioteca Central
# de la Universidad ..." a university's. A place word ("City Library") says nothing.
NAME_TYPES = tuple(
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

# -- place ------------------------------------------------------------------------------------

PLACE = (
    rf"(?:St\.\s+|Ste?-)?[{UPPER}][\w'’\-]+"
    rf"(?:\s+(?:(?:de|do|da|del|la|el|sur|upon|on)\s+|d['’])?[{UPPER}][\w'’\-]+){{0,3}}"
)

EN_LOC = re.compile(
    rf"\b(?:in|at|from|near|of|en|à|a|de|desde|em|na|no|aus)\s+(?:the\s+(?:city|town|village)\s+of\s+"
    rf"|la\s+ciudad\s+de\s+|la\s+ville\s+de\s+|cidade\s+de\s+)?(?P<city>{PLACE})"
    rf"(?:\s*,\s*|\s+\()(?:(?P<region>{PLACE})\s*,\s*)?(?:en\s+|au\s+)?(?P<country>{PLACE})"
)

EN_COUNTRY_ONLY = re.compile(
    r"\b(?:in|from|en|à|au|aux|de|em|no|na|aus|im)\s+(?:the\s+)?(?:(?:rural|northern|southern|eastern|western|"
    r"central|north|south|east|west|north-eastern|north-western)\s+|(?:north|south|east|west|"
    rf"centre|center|heart|middle)\s+of\s+)?(?P<country>{PLACE})|\((?P<paren>{PLACE})\)"
)

EN_CITY_ONLY = re.compile(
    rf"\b(?i:(?:librar(?:y|ies)|located|based|situated|here)\s+in|in\s+the\s+(?:city|town|village)"
    rf"\s+of|(?:biblioteca|situada|ubicada|con\s+sede)\s+en|en\s+la\s+ciudad\s+de|"
    rf"(?:bibliothèque|située|situé|basée|basé|installée)\s+à|dans\s+la\s+ville\s+de|"
    rf"(?:biblioteca|situada|localizada|sediada)\s+em|na\s+cidade\s+de)\s+"
    rf"(?P<city>{PLACE})"
    # the sentence ends or goes on: "in Kingston, would like", "in Austin, Texas", "of X in Y"
    rf"(?=\s*(?:[.;!?)]|$|,\s+[a-z]|,\s*[{UPPER}]|\s+(?:in|en|au|dans|em|no|na)\s+|\s+city\b))"
)

ZH_PLACE = re.compile(
    rf"(?:位于|位於|地处|地處|坐落在|坐落于|坐落於|来自|來自|来自于|在|[图圖][书書][馆館][为為]|"
    rf"我们是|我們是|我馆是|我館是|本馆是|本館是|我馆为|我館為|本馆为|本館為)"
    rf"(?:位于|位於|地处|地處|来自|來自)?(?P<loc>[{CJK}]{{2,20}}?)(?:的|，|,|。|$)"
)

ZH_PROVINCE = re.compile(rf"^[{CJK}]{{2,8}}?(?:省|自治区|自治區|特别行政区|特別行政區)")

NOT_CITIES = frozenset(
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

ZH_REGION = re.compile(
    r"[东南西北中東]{1,2}部|[东南西北東]{1,2}方|各地|全[国國]|境[内內]|地[区區]|沿海|内地|內地"
)

# -- languages --------------------------------------------------------------------------------

LANG_TRIGGER = re.compile(
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

LANG_SENTENCE = re.compile(
    r"\bour\s+(?:main\s+|working\s+|official\s+|first\s+)?languages?\b|"
    r"^(?:languages?\s+spoken|langues?\s+parlées?|idiomas?\s+hablados?)\b|"
    r"\bnuestr[oa]s?\s+(?:idiomas?|lenguas?)\b|\bnotre\s+langue|\bnos\s+langues|我们的语言",
    re.I,
)

LANG_STOP = re.compile(
    rf"{PARTNER.pattern}|\b(?:but|who|that|which|whose|pero|que|mais|qui)\b|但|而|"
    # a new clause about someone else: "and some of our students are learning Spanish"
    r"\b(?:and|y|et)\s+(?:some|many|most|all|few|several|algunos|muchos|certains|plusieurs)\s+"
    r"(?:of|de|des)\b|\b(?:students|pupils|users|patrons|visitors|readers|learning|learn|"
    r"estudiantes|alumnos|usuarios|élèves|étudiants|usagers|lecteurs)\b|学生|读者|讀者|用户",
    re.I,
)

# -- names after the kind of library, Chinese institutions, addresses -------------------------

# "la biblioteca comunitaria "Casa de la Lectura"", "la médiathèque intercommunale Les Mots
# Passants": the words after the kind of library are its name.
NAMED_AFTER = re.compile(
    # a quoted name also after a capitalised kind: Biblioteca Infantil Municipal "El Principito"
    rf"\b(?:(?i:library|biblioteca|bibliothèque|médiathèque)\s+(?:{ADJ}\s+)*"
    rf"[\"“«„]\s*(?P<quoted>[^\"”»“\n]{{3,60}}?)\s*[\"”»“]|"
    rf"(?:library|biblioteca|bibliothèque|médiathèque)\s+(?:{ADJ}\s+)*"
    rf"(?P<proper>(?:(?:Les|La|Le|El|Los|Las|The)\s+)?{CW}(?:\s+(?:{INNER}\s+)?{CW})+))"
)

ZH_INSTITUTION = re.compile(
    rf"(?:我们是|我們是|我校是|我们来自|我們來自|学校叫|學校叫|学校名叫|学校名为|校名为|我是|我在)"
    rf"(?P<name>[{CJK}0-9０-９]{{2,20}}?(?:中学|小学|大学|学院|学校|中學|小學|大學|學院|學校))"
    rf"(?:(?![{CJK}])|(?=的))"  # "我是…中心小学的老师"
)

# What may stand before a name that opens a sentence: an article (en/es/fr/pt/de).
OPENING = r"\W*(?:(?:the|la|le|el|l['’]|a|o|die|der|das)\s*)?"

ZH_ARTICLE = re.compile(r"一[所家间間个個座]")

POSTCODE = re.compile(r"\b(?:[A-Z]{1,2}-?)?\d[\d\- ]{2,8}\d?\b|\b[A-Z]\d[A-Z] ?\d[A-Z]\d\b")

# German names put the place after a compound: "Stadtbibliothek Graz", "Stadtbücherei Köln".
DE_NAME_PLACE = re.compile(
    rf"(?:Stadt|Gemeinde|Landes|Kreis|Universitäts)(?:bibliothek|bücherei)\s+(?P<city>{PLACE})$"
)

NAME_PLACE = re.compile(rf"\b(?:of|de|del|de la|du|d['’])\s*(?={PLACE}$)")

NOT_A_PLACE = re.compile(rf"{INSTITUTION_WORD.pattern}|\bLiceo\b|{LIB_WORD}|\bUniversit")

# -- who speaks a language: patrons or staff --------------------------------------------------

OTHERS = re.compile(
    r"\b(?:students|pupils|users|patrons|visitors|readers|families|children|kids|parents|"
    r"community|residents|population|estudiantes|alumnos|usuarios|familias|niños|élèves|"
    r"étudiants|usagers|lecteurs|familles|enfants)\b|学生|學生|读者|讀者|用户|家庭|孩子|居民",
    re.I,
)

STAFF = re.compile(
    r"\b(?:we|staff|librarians|team|colleagues?|volunteers|teachers|nous|nosotros|personal|personnel|"
    r"équipe|equipa|equipe|profesores|enseignants)\b|馆员|館員|我们|我們|工作人员|同事|员工|老师|老師|教师|教師",
    re.I,
)

# -- wanting a partner, asking a question -----------------------------------------------------

WANTS = re.compile(
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
INQUIRY = re.compile(
    r"\b(?:know|learn|information|info|details|ask|question)\b|了解|咨询|諮詢|请问|請問", re.I
)

# A subject is a title: naming what is wanted is enough.
WANTS_SUBJECT = re.compile(
    r"\b(?:sister|partner|twin)[\s-]+(?:\w+\s+)?librar|bibliotecas?\s+(?:herman|asociad|socia|irmã|"
    r"parceir)|hermanamiento|(?:partner|schwester)-?bibliothek|"
    r"bibliothèques?\s+(?:s(?:œ|oe)ur|partenaire|jumel)|jumelage|"
    r"[姐姊]妹(?:图书|圖書)?[馆館]|友好(?:图书|圖書)?[馆館]|申請|申请",
    re.I,
)
