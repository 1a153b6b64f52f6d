"""Application and MOU fields from ``Label: value`` lines, with English and Chinese labels.

Libraries fill in the form in whatever client they use, so lines may carry bullets, numbers,
Markdown bold, full-width colons (``图书馆名称：``) or values wrapped onto indented lines.
Labels are matched after normalising case, spacing and punctuation; unknown labels are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from mailflow.parse.timezones import normalise_timezone

__all__ = [
    "APPLICATION_FIELDS",
    "FIELD_LABELS",
    "MOU_FIELDS",
    "REQUIRED_APPLICATION_FIELDS",
    "REQUIRED_MOU_FIELDS",
    "extract_fields",
    "is_placeholder",
    "missing",
    "normalise_consent",
    "normalise_languages",
    "normalise_library_type",
]

# key -> "English label|Chinese label|synonyms...". The first two are what templates print;
# all of them are accepted on input.
_APPLICATION: dict[str, str] = {
    "library_name": (
        "Library name|图书馆名称|name of library|name of the library|library|institution|"
        "institution name|name of institution|organization name|馆名|图书馆名|图书馆|机构名称|单位名称|"
        "nombre de la biblioteca|biblioteca|nom de la bibliothèque|bibliothèque|"
        "name der bibliothek|bibliothek"
    ),
    "library_type": (
        "Type of library|图书馆类型|library type|type|kind of library|category|类型|图书馆类别|馆型|"
        "tipo de biblioteca|tipo|type de bibliothèque|bibliothekstyp"
    ),
    "country": "Country|国家|nation|国家/地区|国家或地区|国别|país|pais|pays|land",
    "city": "City|城市|town|city/town|location|所在城市|所在地|城市/地区|ciudad|ville|stadt",
    "contact_name": (
        "Contact person|联系人|contact name|contact|name of contact|contact person name|"
        "your name|联系人姓名|联络人|姓名|persona de contacto|contacto|nombre de contacto|"
        "personne de contact|ansprechpartner|kontaktperson"
    ),
    "contact_email": (
        "Contact email|电子邮件|email|e-mail|email address|e-mail address|contact e-mail|"
        "mail|邮箱|电子邮箱|联系邮箱|联系人邮箱|邮件|电邮|correo|correo electrónico|courriel|adresse e-mail|"
        "adresse électronique|e-mail-adresse"
    ),
    "languages": (
        "Working languages|工作语言|languages|language|working language|languages spoken|语言|"
        "使用语言|语种|idiomas|idioma|langues|langue|sprachen|sprache"
    ),
    "size": (
        "Population served|服务人口|size|service population|library size|number of users|规模|"
        "服务人数|población atendida|tamaño|population desservie|taille"
    ),
    "interests": (
        "Areas of interest|合作兴趣|interests|interest|partnership interests|兴趣|合作领域|感兴趣的领域|"
        "合作意向|intereses|áreas de interés|centres d'intérêt|intérêts|domaines d'intérêt|"
        "interessen"
    ),
    "communication": (
        "Communication preferences|沟通方式|preferred communication|communication preference|"
        "communication|preferred communication method|communication style|交流方式|沟通偏好|"
        "preferencias de comunicación|comunicación|préférences de communication"
    ),
    "commitment": (
        "Commitment level|参与程度|level of commitment|commitment|参与方式|承诺程度|合作程度|"
        "nivel de compromiso|compromiso|niveau d'engagement|engagement"
    ),
    "website": (
        "Website|网站|web site|web|url|homepage|home page|网址|主页|官网|sitio web|página web|"
        "site web|site internet"
    ),
    "timezone": "Time zone|时区|timezone|tz|zona horaria|fuseau horaire|zeitzone",
    # Consent to the public list; a bracketed "(yes/no)" is dropped from labels when matching.
    "public_listing": (
        "Public listing (yes/no)|公开列出（是/否）|public listing|list publicly|listed publicly|"
        "public list|publish|公开列出|公开列表|是否公开|公开|listado público|liste publique|"
        "öffentliche liste"
    ),
}

_MOU: dict[str, str] = {
    "goals": (
        "Goals|目标|goal|objectives|partnership goals|aims|合作目标|目的|objetivos|objectifs|ziele"
    ),
    "activities": (
        "Planned activities|计划活动|activities|proposed activities|活动|合作活动|拟开展活动|计划开展的活动|"
        "actividades planificadas|actividades|activités prévues|activités"
    ),
    "primary_contacts": (
        "Primary contacts|主要联系人|primary contact|main contacts|contacts|contact persons|"
        "联系人|contactos principales|contacts principaux"
    ),
    "working_language": (
        "Working language|工作语言|working languages|language|languages|语言|工作语种|"
        "idioma de trabajo|langue de travail"
    ),
    "channel": (
        "Communication channel|沟通渠道|channel|communication method|沟通方式|交流渠道|"
        "canal de comunicación|canal de communication"
    ),
    "frequency": (
        "Frequency|沟通频率|communication frequency|meeting frequency|频率|联系频率|frecuencia|"
        "fréquence"
    ),
    "start_date": (
        "Start date|开始日期|starting date|commencement date|effective date|起始日期|生效日期|"
        "fecha de inicio|date de début"
    ),
    "duration": "Duration|期限|term|length|period|合作期限|有效期|duración|durée",
    "review_date": "Review date|审查日期|evaluation date|评估日期|复审日期|fecha de revisión|date de révision",
    "signatory_name": (
        "Signatory name|签署人姓名|signatory|name of signatory|signed by|签署人|签字人|"
        "nombre del firmante|nom du signataire"
    ),
    "signatory_title": (
        "Signatory title|签署人职务|title|position|title of signatory|signatory position|职务|"
        "职位|cargo|cargo del firmante|titre du signataire|fonction"
    ),
}

APPLICATION_FIELDS: tuple[str, ...] = tuple(_APPLICATION)
REQUIRED_APPLICATION_FIELDS: tuple[str, ...] = (
    "library_name", "library_type", "country", "city", "contact_name", "contact_email", "languages",
)  # fmt: skip
MOU_FIELDS: tuple[str, ...] = tuple(_MOU)
REQUIRED_MOU_FIELDS: tuple[str, ...] = MOU_FIELDS
FIELD_LABELS: dict[str, dict[str, str]] = {
    "en": {k: v.split("|")[0] for k, v in (_APPLICATION | _MOU).items()},
    "zh": {k: v.split("|")[1] for k, v in (_APPLICATION | _MOU).items()},
}


def _norm_label(label: str) -> str:
    label = re.sub(r"\([^)]*\)|（[^）]*）|\[[^\]]*\]|【[^】]*】", "", label)
    return re.sub(r"[\s\-_./'’*]+", "", label.lower())


def _label_map(table: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, labels in table.items():
        for label in labels.split("|"):
            out.setdefault(_norm_label(label), key)
    return out


_LABELS = {"application": _label_map(_APPLICATION), "mou": _label_map(_MOU)}

# Optional bullets / numbering, a label without colons, then an ASCII or full-width colon.
_LINE_RE = re.compile(
    # possessive: a line of 200,000 dashes must not be retried once per dash
    r"^[ \t]*(?:(?:[-*•·●▪◦‣+]|\d{1,2}[.)、．]|[(（]\d{1,2}[)）])[ \t]*)*+"
    r"(?P<label>[^:：\n]{1,50}?)[ \t]*[:：][ \t]*(?P<value>.*)$"
)
_BULLET_RE = re.compile(r"^(?:[-*•·●▪◦‣+]|\d{1,2}[.)、．])\s")
# Starts only where an address can start: unanchored, a long word backtracks quadratically.
_EMAIL_RE = re.compile(r"(?<![\w.+'-])[\w.+'-]++@[\w-]+(?:\.[\w-]+)+")
_PLACEHOLDERS = frozenset(
    ["n/a", "na", "n.a.", "-", "--", "---", "...", "…", "tbd", "tba", "?", "xxx", "___"]
    + ["待填", "待定", "待补充", "无", "略", "（待填）", "(待填)"]
)


def is_placeholder(value: str | None) -> bool:
    """True for empty values and template placeholders such as ``[ ]``, ``N/A`` or ``待填``."""
    if value is None:
        return True
    v = _unbracket(value).strip().lower()
    return not v or v in _PLACEHOLDERS or bool(re.fullmatch(r"[_.\s]+", v))


def _unbracket(value: str) -> str:
    # "Library name: [Springfield]" is a filled-in template slot; keep what is inside.
    v = value.strip()
    while len(v) >= 2 and (v[0], v[-1]) in {("[", "]"), ("【", "】"), ("<", ">")} and "@" not in v:
        v = v[1:-1].strip()
    return v


# A correction names the field with a qualifier: "New contact email:", "新联系人：",
# "联系人变更为：", "Nouvelle adresse e-mail :". Tried only when the plain label is unknown.
_QUALIFIER_RE = re.compile(
    r"^(?:new|updated|changed|current|corrected|nuevo|nueva|nouveau|nouvelle|neue[rs]?"
    r"|新的?|更新(?:后的?|的)?|变更后的?|最新的?|现)"
    r"|(?:变更为|更改为|更新为|改为|变为|换成|现为)$"
)


def _key(label: str, labels: Mapping[str, str]) -> str | None:
    norm = _norm_label(label)
    return labels.get(norm) or labels.get(_QUALIFIER_RE.sub("", norm))


def _match(line: str, labels: Mapping[str, str]) -> tuple[str, str] | None:
    m = _LINE_RE.match(line)
    if not m:
        return None
    key = _key(m["label"], labels)
    return (key, m["value"].strip().strip("*_").strip()) if key else None


def extract_fields(text: str, form: str = "application") -> dict[str, str]:
    """Recognised ``Label: value`` fields of an application (default) or ``form="mou"``.

    Values are stripped; multi-line values are joined (wrapped text with a space, list items
    with a newline); placeholders are left out; the first non-empty value of a field wins.
    """
    if form not in _LABELS:
        raise ValueError(f"unknown form {form!r}; expected 'application' or 'mou'")
    labels = _LABELS[form]
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    fields: dict[str, str] = {}
    i = 0
    while i < len(lines):
        hit = _match(lines[i], labels)
        i += 1
        if not hit:
            continue
        key, value = hit
        empty = not value
        parts = [value] if value else []
        # An indented line continues the value; after an empty value, so does any line up to a
        # blank line (people type the answer under the label).
        while i < len(lines) and lines[i].strip() and not _match(lines[i], labels):
            if not (empty or lines[i][:1] in " \t\u3000"):
                break
            parts.append(lines[i].strip())
            i += 1
        joined = ""
        for part in parts:
            sep = "\n" if _BULLET_RE.match(part) else " "
            joined = f"{joined}{sep}{part}" if joined else part
        if key not in fields and not is_placeholder(joined):
            fields[key] = _unbracket(joined)
    return _normalise(fields, form)


def _normalise(fields: dict[str, str], form: str) -> dict[str, str]:
    if form == "application":
        contact = fields.get("contact_name", "")
        found = _EMAIL_RE.search(contact)
        if found:
            # "Contact person: Anna Li <anna@lib.org>" gives both the name and the address.
            fields.setdefault("contact_email", found.group(0))
            name = contact.replace(found.group(0), "").strip(" <>()（）,;，；")
            if name:
                fields["contact_name"] = name
            else:
                del fields["contact_name"]
        if "contact_email" in fields:
            found = _EMAIL_RE.search(fields["contact_email"].replace("＠", "@"))
            if found:
                fields["contact_email"] = found.group(0).lower()
            else:
                del fields["contact_email"]
        if "library_type" in fields:
            fields["library_type"] = normalise_library_type(fields["library_type"])
        if "languages" in fields:
            fields["languages"] = normalise_languages(fields["languages"])
        if "timezone" in fields:
            _normalise_timezone_field(fields)
        if "public_listing" in fields:
            consent = normalise_consent(fields.pop("public_listing"))
            if consent:
                fields["public_listing"] = consent
    return fields


# Words of a refusal are looked for first: "不同意" holds "同意", "not ok" holds "ok".
_NO_RE = re.compile(
    r"\b(?:no|not|don'?t|do not|never|false|non|nein|nope)\b|否|不|别|勿|拒绝", re.I
)
_YES_RE = re.compile(
    r"\b(?:yes|y|ok|okay|agree|agreed|true|sure|please|si|sí|oui|ja)\b|是|同意|可以|愿意|允许|好",
    re.I,
)


def normalise_consent(value: str) -> str | None:
    """ "yes" or "no" for an answer to the public-listing question; None for none (or both).

    The blank form's own "yes/no" left as it was is no answer, and so is anything unclear:
    a library is listed publicly only on a clear yes.
    """
    no, yes = bool(_NO_RE.search(value)), bool(_YES_RE.search(value))
    if no and yes and not re.fullmatch(r"\W*(?:yes\W+no|是\W*否)\W*", value.strip(), re.I):
        return "no"  # "yes, but no contact details" is not a clear yes either
    if no == yes:
        return None
    return "yes" if yes else "no"


def _normalise_timezone_field(fields: dict[str, str]) -> None:
    # A time zone that cannot be read ("CST") must not reach scheduling as if it were one;
    # the words are kept under timezone_raw so staff can be asked once.
    raw = fields.pop("timezone")
    zone = normalise_timezone(raw)
    if zone:
        fields["timezone"] = zone
    else:
        fields["timezone_raw"] = raw


_TYPES = (  # checked in order: "public school" is a school, "national university" academic
    ("school", r"school|中小学|学校|中学|小学|escolar|scolaire|schul"),
    ("academic", r"academic|universit|college|高校|大学|学院|académique|académica|hochschul"),
    ("national", r"national|国家|nacional|nationale|国立"),
    ("public", r"public|municipal|community|公共|市立|区立|县立|pública|publique|öffentlich"),
    ("special", r"special|专业|专门|research|medical|law|corporate|especializada|spécialisée"),
)
_TYPE_RES = tuple((name, re.compile(pattern, re.I)) for name, pattern in _TYPES)


def normalise_library_type(value: str) -> str:
    """public/academic/school/special/national when recognisable, else the value unchanged."""
    for name, pattern in _TYPE_RES:
        if pattern.search(value):
            return name
    return value.strip()


_LANGUAGE_NAMES = {
    "en": "en|eng|english|inglés|ingles|anglais|englisch|英语|英文|英語",
    "zh": "zh|chinese|mandarin|cantonese|中文|汉语|漢語|华语|普通话|简体中文|繁体中文|粤语|"
    "chino|chinois|chinesisch",
    "es": "es|spanish|español|espanol|castellano|西班牙语|西班牙文|espagnol|spanisch",
    "fr": "fr|french|français|francais|法语|法文|francés|frances|französisch",
    "de": "de|german|deutsch|德语|德文|alemán|aleman|allemand",
    "ja": "ja|japanese|日本語|日语|日文|japonés|japonais|japanisch",
    "ru": "ru|russian|русский|俄语|俄文|ruso|russe|russisch",
    "ar": "ar|arabic|العربية|阿拉伯语|阿拉伯文|árabe|arabe|arabisch",
    "pt": "pt|portuguese|português|portugues|葡萄牙语|葡萄牙文|portugués|portugais|portugiesisch",
    "it": "it|italian|italiano|意大利语|意大利文|italien|italienisch",
    "ko": "ko|korean|한국어|韩语|韩文|朝鲜语|coreano|coréen|koreanisch",
}
_LANG_LOOKUP = {name: code for code, names in _LANGUAGE_NAMES.items() for name in names.split("|")}
_LANG_SPLIT = re.compile(r"\s*(?:[,，、;；/&+]|\band\b|\by\b|\bet\b|\bund\b|和|及|与)\s*", re.I)
_LANG_NOISE = re.compile(r"\([^)]*\)|（[^）]*）|\b(?:languages?|only|mainly|some|basic)\b", re.I)


def normalise_languages(value: str) -> str:
    """Comma-separated ISO 639-1 codes (``"en,zh"``); unrecognised names are kept as written."""
    value = value.replace("中英文", "中文,英文").replace("中英双语", "中文,英文")
    codes: list[str] = []
    for token in _LANG_SPLIT.split(_LANG_NOISE.sub(" ", value)):
        token = token.strip(" .。!！\t")
        if not token:
            continue
        code = _LANG_LOOKUP.get(token.lower())
        if code is None:  # "English fluently", "we speak Spanish": look word by word
            code = next((_LANG_LOOKUP[w] for w in token.lower().split() if w in _LANG_LOOKUP), None)
        item = code or token
        if item not in codes:
            codes.append(item)
    return ",".join(codes)


def language_codes(values: str | Iterable[str]) -> set[str]:
    """Languages as written anywhere ("Spanish", "西班牙语", "es", "es,en") as one set of codes,
    lower case, so a mentor's "Spanish" and a library's `es` are the same language."""
    items = [values] if isinstance(values, str) else list(values)
    return {
        code.strip().lower()
        for item in items
        for code in normalise_languages(str(item)).split(",")
        if code.strip()
    }


def missing(fields: Mapping[str, str], required: Iterable[str]) -> list[str]:
    """The required keys that are absent, empty or only a placeholder, in ``required`` order."""
    return [key for key in required if is_placeholder(fields.get(key))]
