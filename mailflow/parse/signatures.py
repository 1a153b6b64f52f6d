"""Signatures: one convention, the same in every language (docs/parse-replies.md).

1. A ``-- `` line (RFC 3676 section 4.3; also without the trailing space) starts a signature.
2. A mobile or app tagline ("Sent from my iPhone", "Get Outlook for Android", "iPhoneから送信",
   "从我的iPhone发送", "Sent from Mail for Windows") starts a signature.
3. A closing line ("Regards,", "Thanks,", "Med venlig hilsen", "Pozdrawiam,", "此致" / "敬礼")
   followed by a name: only a few short lines (name, title, library, phone) up to the end of
   the new text, or a signature of rule 1 or 2. "Best regards, Anna Li" on one line counts
   too. A closing with nothing after it ("Yes, we accept. Thank you!") is kept.

Everything from the signature's first line to the end of the new text is removed. Nothing is
removed when the signature would be all that is left.
"""

from __future__ import annotations

import re

__all__ = ["is_signature_line", "is_tagline", "signature_start"]

_I = re.IGNORECASE

# "--" (RFC 3676 "-- " with the space lost), "__", an em dash; "-Anna" (a dash glued to a
# name), "— Anna" (an em or en dash before a name) and the Swedish "/Anna".
_DASHES = re.compile(
    r"^(?:--|—|––|__)\s*$|^(?:--?|/|[—–]\s?)[A-Z][\w.'-]*(?:\s[A-Z][\w.'-]*){0,2}$"
)
_LINK = re.compile(r"\s*[(<]https?://[^)>\s]{0,200}[)>]")
_MAX_TAGLINE_WORDS = 10  # "Sent from my desk, which is much easier than my phone." is prose
# Carriers' taglines run longer: "Sent via the Samsung Galaxy S23 Ultra, an AT&T 5G smartphone".
_CARRIER_TAGLINE = re.compile(
    r"^Sent\s+(?:from|via|with|using|on)\s+(?:my|the|an?)\s+.{0,80}\b(?:Samsung|Galaxy|AT&T|Verizon"
    r"|T-Mobile|Sprint|BlackBerry|Motorola|Huawei|Xiaomi|Pixel)\b.{0,80}$",
    re.I,
)

_TAGLINE = re.compile(
    r"^(?:"
    # English, and app names that keep English in every locale
    # "Sent from my ..." or an app's name; "Sent from a magnificent torch of pixels" is prose
    r"Sent\s+(?:from|with|via|using|by)\s+(?:my\s|(?-i:[A-Z0-9]))\S*.{0,50}|(?:Get|Download)\s+(?:Outlook|TypeApp|BlueMail|Spark|Edison)\b.{0,60}"
    # German
    r"|Von\s+meine[mn]\s+.{1,50}\s(?:gesendet|versendet|verschickt)\.?"
    r"|Gesendet\s+(?:von|mit|vom|über|aus|via)\s+\S.{0,60}|Diese\s+Nachricht\s+wurde\s+von\s+meinem\s+.{1,60}\s+gesendet\.?"
    r"|(?:Holen\s+Sie\s+sich\s+)?Outlook\s+für\s+(?:iOS|Android)(?:\s+(?:beziehen|herunterladen))?.{0,40}"
    # French
    r"|Envoyé\s+(?:de|depuis|à\s+partir\s+de|avec|par|via)\s+\S.{0,60}|(?:Obtenir|Télécharger)\s+Outlook\s+pour\s+.{1,40}"
    # Spanish, Portuguese
    r"|Enviad[oa]\s+(?:desde|con|vía|via|usando|do|da|de|pelo|pela|a\s+partir\s+d[eoa])\s+\S.{0,60}"
    r"|(?:Obtener|Descargar|Obter\s+o|Obtenha\s+o|Baixe\s+o|Baixar\s+o)\s+Outlook\s+(?:para|for)\s+.{1,40}"
    # Italian
    r"|Inviato\s+(?:da|dal|dalla|dallo|con|tramite|via)\s+\S.{0,60}|(?:Scarica|Ottieni)\s+Outlook\s+per\s+.{1,40}"
    # Dutch
    r"|(?:Verzonden|Verstuurd)\s+(?:vanaf|van|met|vanuit|via|vanop)\s+\S.{0,60}|(?:Download\s+)?Outlook\s+voor\s+(?:iOS|Android)(?:\s+downloaden)?.{0,40}"
    # Swedish, Norwegian, Danish
    r"|(?:Skickat|Skickades)\s+(?:från|med|via)\s+\S.{0,60}|Hämta\s+Outlook\s+för\s+.{1,40}"
    r"|Sendt\s+(?:fra|med|via)\s+\S.{0,60}|(?:Hent|Få|Last\s+ned)\s+Outlook\s+(?:for|til)\s+.{1,40}"
    # Finnish
    r"|Lähetetty\s+\S.{0,60}|Lähetetty\s+(?:iPhonesta|iPadista|Androidista|puhelimesta).{0,40}|Hanki\s+Outlook\s+.{1,40}"
    # Polish, Czech
    r"|Wysłan[oeya]\s+(?:z|ze|za\s+pomocą|przez|od)\s+\S.{0,60}|Pobierz\s+(?:aplikację\s+)?Outlook\s+.{1,40}"
    r"|Odesláno\s+(?:z|ze|pomocí)\s+\S.{0,60}|Odoslané\s+(?:z|zo|pomocou)\s+\S.{0,60}"
    # Turkish, Hungarian, Romanian, Greek, Croatian, Bulgarian, Catalan
    r"|\S{1,30}(?:'?[uüıi]mdan|'?[dt][ae]n)\s+gönderildi|.{1,30}-?(?:ról|ről|ről|ról)\s+küldve"
    r"|Trimis\s+(?:de\s+pe|din|cu|de\s+la)\s+\S.{0,60}|Στάλθηκε\s+από\s+\S.{0,60}"
    r"|Poslano\s+(?:s|sa|iz|putem)\s+\S.{0,60}|Изпратено\s+(?:от|с|чрез)\s+\S.{0,60}"
    r"|Enviat\s+(?:des\s+de|amb|per)\s+\S.{0,60}"
    # Lithuanian, Latvian, Estonian, Serbian, Icelandic, Persian, Hindi
    r"|Išsiųsta\s+iš\s+\S.{0,60}|Nosūtīts\s+no\s+\S.{0,60}|Saadetud\s+\S.{0,60}"
    r"|Послато\s+(?:са|из|преко)\s+\S.{0,60}|Sent\s+úr\s+\S.{0,60}|ارسال\s+شده\s+از\s+\S.{0,60}"
    r"|.{1,40}\s+से\s+भेजा\s+गया"
    # Vietnamese, Indonesian, Thai, Hebrew, Arabic
    r"|Gửi\s+từ\s+\S.{0,60}|Được\s+gửi\s+từ\s+\S.{0,60}|Dikirim\s+(?:dari|dengan|melalui)\s+\S.{0,60}"
    r"|ส่งจาก\s*\S.{0,60}|נשלח\s+(?:מ|מה|מה-|באמצעות)\S.{0,60}|(?:أُرسلت|أرسلت|مرسل|تم\s+الإرسال)\s+(?:من|عبر)\s+\S.{0,60}"
    # Russian, Ukrainian
    r"|Отправлено\s+(?:с|со|из|через)\s+\S.{0,60}|(?:Получить|Скачайте|Скачать)\s+Outlook\s+для\s+.{1,40}"
    r"|(?:Надіслано|Відправлено|Надіслане)\s+(?:з|із|зі|через)\s+\S.{0,60}|(?:Отримати|Завантажте)\s+Outlook\s+для\s+.{1,40}"
    # Japanese, Korean
    r"|.{1,40}から送信(?:しました)?[。.]?|.{0,40}Outlook\s*を入手.{0,20}"
    r"|.{1,40}에서\s*보냄|.{1,40}에서\s*보낸\s*메일|.{0,30}Outlook\s*받기.{0,20}"
    # Chinese (simplified and traditional)
    r"|发自我的.{1,20}|从我的.{1,20}发送|来自我的.{1,20}|来自网易邮箱大师|来自.{1,12}邮箱.{0,12}"
    r"|发自.{1,12}邮箱.{0,12}|发自\s*(?:WPS|钉钉|企业微信).{0,12}|从\s*.{1,20}版邮件发送|获取\s*.{1,20}版\s*Outlook.{0,20}"
    r"|從我的.{1,20}傳送|寄自我的.{1,20}|從\s*.{1,20}版郵件傳送|取得\s*.{1,20}版\s*Outlook.{0,20}"
    r")\s*$",
    _I,
)

# Closings. Formal ones end a letter by themselves; thanks only when a name follows.
_FORMAL = (
    # English
    r"Regards|Best\s+regards|Kind\s+regards|Warm\s+regards|Warmest\s+regards|Kindest\s+regards"
    r"|With\s+(?:best|kind|warm)\s+regards|Best\s+wishes|Best|All\s+the\s+best|Cheers|Sincerely"
    r"|Yours\s+sincerely|Sincerely\s+yours|Yours\s+faithfully|Yours\s+truly|Yours|Respectfully|Cordially"
    r"|Take\s+care|Warmly|BR|KR|Thanks\s+(?:and|&)\s+regards|Many\s+thanks\s+and\s+(?:best\s+)?regards"
    # German
    r"|Mit\s+freundlichen\s+Grüßen|Mit\s+freundlichen\s+Grüssen|Mit\s+freundlichem\s+Gruß|MfG|Freundliche\s+Grüße"
    r"|(?:Viele|Beste|Liebe|Herzliche|Schöne|Sonnige)\s+Grüße|(?:Viele|Beste|Liebe|Herzliche)\s+Grüsse|Mit\s+besten\s+Grüßen"
    r"|Gruß|Grüße|Gruss|Grüsse|LG|VG|Beste\s+Grüße\s+aus\s+\S+"
    # Dutch
    r"|Met\s+vriendelijke\s+groet(?:en)?|Vriendelijke\s+groet(?:en)?|Met\s+(?:hartelijke\s+)?groet(?:en)?"
    r"|Hartelijke\s+groet(?:en)?|Groeten|Groetjes|Mvg"
    # Swedish, Norwegian, Danish
    r"|Med\s+vänliga\s+hälsningar|Vänliga\s+hälsningar|Bästa\s+hälsningar|Varma\s+hälsningar|Hälsningar|Hälsning|Mvh"
    r"|Med\s+vennlig\s+hilsen|Vennlig\s+hilsen|Beste\s+hilsen|Med\s+hilsen|Hilsen|Hilsn"
    r"|Med\s+venlig\s+hilsen|Venlig\s+hilsen|Bedste\s+hilsner|De\s+bedste\s+hilsner|Kærlig\s+hilsen|Kh|Vh"
    # Finnish
    r"|Ystävällisin\s+terveisin|Ystävällisesti|Parhain\s+terveisin|Terveisin|Terv\.|Yst\.\s*terv\.|Kiittäen"
    r"|Hyvää\s+päivänjatkoa"
    # Polish, Czech
    r"|Pozdrawiam(?:\s+serdecznie)?|Serdecznie\s+pozdrawiam|Z\s+poważaniem|Z\s+powazaniem|Z\s+wyrazami\s+szacunku"
    r"|Serdeczne\s+pozdrowienia|Pozdrowienia|S\s+pozdravem|S\s+úctou|S\s+pozdravom|S\s+úctou"
    # Hungarian, Turkish, Romanian, Greek, Croatian/Serbian, Bulgarian, Catalan
    r"|Üdvözlettel|Tisztelettel|Üdv|Szívélyes\s+üdvözlettel|Baráti\s+üdvözlettel"
    r"|Saygılarımla|Saygılar(?:ımızla)?|İyi\s+çalışmalar|Selamlar|Sevgiler"
    r"|Cu\s+stimă|Cu\s+stima|Cu\s+respect|Toate\s+cele\s+bune|Cu\s+drag|O\s+zi\s+bună"
    r"|Με\s+εκτίμηση|Με\s+φιλικούς\s+χαιρετισμούς|Φιλικά|Χαιρετισμούς"
    r"|Lijep\s+pozdrav|Srdačan\s+pozdrav|S\s+poštovanjem|Pozdrav|Поздрави|С\s+уважение|Хубав\s+ден"
    r"|Срдачан\s+поздрав|С\s+поштовањем|Lep\s+pozdrav|Lp|Pagarbiai|Su\s+pagarba|Ar\s+cieņu"
    r"|Lugupidamisega|Parimate\s+soovidega|Kveðja|Bestu\s+kveðjur|Með\s+kveðju|Groete"
    r"|Vriendelike\s+groete|با\s+احترام|با\s+سپاس|ارادتمند|सादर|शुभकामनाओं\s+सहित"
    r"|Salutacions|Atentament|Cordialment"
    # Vietnamese, Indonesian, Arabic, Hebrew, Thai
    r"|Trân\s+trọng|Thân\s+ái|Salam|Hormat\s+(?:saya|kami)|Salam\s+hangat"
    r"|مع\s+(?:أطيب\s+)?التحيات|مع\s+التحية|تحياتي|وتفضلوا\s+بقبول\s+فائق\s+الاحترام"
    r"|בברכה|בכבוד\s+רב|ขอแสดงความนับถือ|ด้วยความเคารพ"
    # Russian, Ukrainian
    r"|С\s+уважением|С\s+наилучшими\s+пожеланиями|Всего\s+доброго|Всего\s+хорошего|С\s+уважением\s+и\s+наилучшими\s+пожеланиями"
    r"|З\s+повагою|З\s+найкращими\s+побажаннями|Щиро\s+ваш[аі]?|Всього\s+найкращого|З\s+повагою\s+та\s+найкращими\s+побажаннями"
    # Italian
    r"|Cordiali\s+saluti|Distinti\s+saluti|Saluti(?:\s+cordiali)?|Un\s+(?:caro\s+)?saluto|Cordialmente|Buona\s+giornata"
    # Portuguese
    r"|Atenciosamente|Cumprimentos|Melhores\s+cumprimentos|Com\s+os\s+melhores\s+cumprimentos|Abraços?|Um\s+abraço"
    r"|Saudações|Cordiais\s+saudações"
    # Spanish
    r"|Saludos(?:\s+cordiales)?|Un\s+(?:cordial\s+)?saludo|Reciba\s+un\s+cordial\s+saludo|Atentamente|Un\s+abrazo"
    r"|Muchos\s+saludos|Cordiales\s+saludos"
    # French
    r"|(?:Bien\s+|Très\s+)?[Cc]ordialement|Salutations|Meilleures\s+salutations|Sincères\s+salutations"
    r"|Bien\s+à\s+(?:vous|toi)|Amicalement|Sincèrement|Bonne\s+journée|À\s+bientôt|Bien\s+amicalement"
    # Japanese
    r"|よろしくお願い(?:いた|致)?します|宜しくお願い(?:いた|致)?します|以上、?よろしくお願い(?:いた|致)?します|敬具|草々"
    # Korean
    r"|안부\s*전합니다|좋은\s*하루\s*되세요|수고하세요|감사합니다\s*드림"
    # Chinese
    r"|此致|此致\s*敬礼|此致\s*敬禮|敬礼|敬禮|祝好|顺祝商祺|順祝商祺|祝工作顺利|祝工作順利|敬上|顺颂商祺|順頌商祺"
)
_THANKS = (
    r"Thanks|Thank\s+you|Many\s+thanks|Thanks\s+a\s+lot|Thanks\s+again|Thx|TIA|Thanks\s+in\s+advance"
    r"|Danke|Vielen\s+Dank|Danke\s+schön|Merci|Merci\s+beaucoup|Gracias|Muchas\s+gracias|Obrigad[oa]|Muito\s+obrigad[oa]"
    r"|Grazie|Grazie\s+mille|Bedankt|Dank\s+je(?:\s+wel)?|Dank\s+u(?:\s+wel)?|Tack|Tack\s+så\s+mycket|Takk|Tusen\s+takk|Tak"
    r"|Mange\s+tak|Kiitos|Dziękuję|Dziękuję\s+bardzo|Děkuji|Ďakujem|Спасибо|Благодарю|Дякую|Благодаря"
    r"|Köszönöm|Köszönettel|Teşekkürler|Teşekkür\s+ederim|Mulțumesc|Mulțumim|Ευχαριστώ|Hvala|Gràcies"
    r"|Cảm\s+ơn|Xin\s+cảm\s+ơn|Terima\s+kasih|شكرا|شكراً|תודה|תודה\s+רבה|ขอบคุณ(?:ครับ|ค่ะ)?"
    r"|Ačiū|Paldies|Aitäh|Dankie|Hvala\s+lijepa|Хвала|ممنون|سپاس|متشکرم|धन्यवाद"
    r"|ありがとうございます|ありがとうございました|감사합니다|고맙습니다|谢谢|謝謝|多谢|多謝|感谢|感謝|非常感谢|非常感謝"
)
_CLOSE_PUNCT = r"[\s,.!;:，。！、~…،؛-]*"
# "Med venlig hilsen / Best regards": bilingual closings are common in the Nordics and Germany.
_FORMAL_LINE = re.compile(
    rf"^\s*+(?:{_FORMAL}){_CLOSE_PUNCT}(?:/\s*(?:{_FORMAL}|{_THANKS}){_CLOSE_PUNCT})?$", _I
)
_THANKS_LINE = re.compile(rf"^\s*+(?:{_THANKS}){_CLOSE_PUNCT}$", _I)
# "Best regards, Anna Li": a formal closing with the name on the same line.
_FORMAL_NAMED = re.compile(rf"^\s*+(?:{_FORMAL})[,.!]?\s+(\S.*?)\s*$", _I)


def _is_name(text: str) -> bool:
    """One to three capitalised words (or a short CJK name): "Anna", "Anna Li", "李明"; in a
    script without capitals (Arabic, Persian, Hebrew, Devanagari, Thai), one to three words
    of letters."""
    words = text.split()
    if not 1 <= len(words) <= 3:
        return False
    return all(
        w[0].isupper()
        or "\u3400" <= w[0] <= "\u9fff"
        or "\uac00" <= w[0] <= "\ud7af"
        or ("\u0590" <= w[0] <= "\u0eff" and w.isalpha())
        for w in words
    )


# name, title, library, address, phones, web, social links; a German company adds its
# registered seat, court and managing directors
_MAX_TAIL_LINES = 16
_MAX_TAIL_CHARS = 90


# Every tagline contains one of these (lower case): a cheap test before the tagline patterns.
_TAGLINE_HINTS = (
    "sent", "get ", "download", "outlook", "meine", "gesendet", "nachricht", "envoy", "obtenir",
    "enviad", "obtener", "descargar", "obter", "obtenha", "baixe", "inviato", "scarica",
    "ottieni", "verzonden", "verstuurd", "skickat", "hämta", "sendt", "hent ", "få ", "last ned",
    "lähetetty", "hanki", "wysłan", "pobierz", "odesláno", "отправлено", "получить", "скача",
    "надіслан", "відправлено", "отримати", "завантажте", "から送信", "에서", "发自", "从",
    "来自", "從", "寄自", "取得", "获取", "odoslané", "gönderildi", "küldve", "trimis", "στάλθηκε",
    "poslano", "изпратено", "enviat", "gửi", "dikirim", "ส่งจาก", "נשלח", "أرسلت", "أُرسلت",
    "مرسل", "الإرسال", "išsiųsta", "nosūtīts", "saadetud", "послато", "sent úr", "ارسال", "भेजा",
)  # fmt: skip


def is_signature_line(line: str) -> bool:
    """A ``-- `` delimiter or a mobile/app tagline: the signature starts here."""
    text = line.strip()
    if "http" in text[:300]:  # "Sent from Mail<https://...> for Windows": the link is no word
        text = _LINK.sub("", text[:300]).strip()
    if not text or len(text) > 120:
        return False
    if _DASHES.match(text):
        return True
    low = text.lower()
    if not any(hint in low for hint in _TAGLINE_HINTS):
        return False
    if len(text.split()) > _MAX_TAGLINE_WORDS:
        return len(text.split()) <= 16 and bool(_CARRIER_TAGLINE.match(text))
    return bool(_TAGLINE.match(text))


def is_tagline(line: str) -> bool:
    """A mobile or app tagline ("Sent from my iPhone"), not a ``--`` delimiter."""
    if is_signature_line(line):
        return not _DASHES.match(line.strip())
    return _is_device_tagline(line)


_SENTENCE = re.compile(r"[.!?。！？]\W*$")
_CONTACT = re.compile(r"@|https?:|www\.|\d")
_ABBREVIATION = re.compile(r"(?:^|\s)\S{1,5}\.$")  # "Inc.", "Ph.D.", "Jr."


def _is_name_line(line: str) -> bool:
    """A line of a name block: a name, a title, a library, an address, a phone or a link.

    A sentence ("We will join.") is not one, so "Thank you. / We will join. / Anna" keeps its
    answer.
    """
    if len(line) > _MAX_TAIL_CHARS or len(line.split()) > 8:
        return False
    if _CONTACT.search(line) or _FORMAL_LINE.match(line):
        return True
    return not _SENTENCE.search(line) or bool(_ABBREVIATION.search(line))


def _is_tail(lines: list[str]) -> bool:
    filled = [line.strip() for line in lines if line.strip()]
    return len(filled) <= _MAX_TAIL_LINES and all(_is_name_line(line) for line in filled)


# A closing the tables do not list ("Pagarbiai," / "Jonas Jonaitis"): one to three words and a
# comma, with a name right below it.
_GENERIC_CLOSING = re.compile(r"^\s*[^\W\d_][^\s,،.!?:;]*(?:\s[^\s,،.!?:;]+){0,2}\s*[,،]\s*$")


def _is_closing(text: str, named: bool, below: str = "") -> bool:
    if len(text) > 120:
        return False
    m = _FORMAL_NAMED.match(text)
    if m is not None and _is_name(m.group(1)):
        return True  # "Best regards, Anna Li"
    if not named:
        return False
    if _FORMAL_LINE.match(text) or _THANKS_LINE.match(text):
        return True
    return bool(_GENERIC_CLOSING.match(text)) and _is_name(below.strip())


def _closing_start(lines: list[str], first: int, signed_below: bool) -> int | None:
    """The earliest closing line followed by a name block (or a ``-- `` signature / tagline)."""
    found = None
    for i in range(len(lines) - 1, first, -1):
        text = lines[i]
        if not text.strip():
            continue
        if not _is_tail(lines[i + 1 :]):
            break
        below = next((line for line in lines[i + 1 :] if line.strip()), "")
        named = signed_below or bool(below)
        if _is_closing(text, named, below):
            found = i
    return found


# A rule above a name block ("______" / "Anna Li" / "Head Librarian"): Outlook and webmail
# signatures often start with one.
_RULE_LINE = re.compile(r"^\s*(?:_{5,}|-{5,}|—{3,})\s*$")


def _ruled_name_block(lines: list[str], i: int) -> bool:
    if not _RULE_LINE.match(lines[i]) or not _is_tail(lines[i + 1 :]):
        return False
    name = next((line.strip() for line in lines[i + 1 :] if line.strip()), "")
    return _is_name(name)


# The last line naming a device or mail app, short and no sentence: a tagline in any language
# ("Išsiųsta iš mano iPhone", "मेरे iPhone से भेजा गया").
_DEVICE = re.compile(
    r"\b(?:iPhone|iPad|Android|Galaxy|BlackBerry|Huawei|Xiaomi|Samsung|Windows\s+Phone|Outlook"
    r"|Yahoo\s+Mail|Proton\s?Mail|Gmail)\b",
    re.I,
)


def _is_device_tagline(line: str) -> bool:
    text = line.strip()
    return (
        0 < len(text) <= 60
        and len(text.split()) <= 7
        and not _SENTENCE.search(text)
        and bool(_DEVICE.search(text))
    )


def signature_start(lines: list[str]) -> int | None:
    """Index of the first signature line in the new text's lines, or None."""
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return None
    last = max(i for i, line in enumerate(lines) if line.strip())
    if last > first and _is_device_tagline(lines[last]):
        lines = lines[:last] + ["-- "]  # a tagline the table lacks: treated as one
    cut = next(
        (
            i
            for i in range(first + 1, len(lines))
            if is_signature_line(lines[i]) or _ruled_name_block(lines, i)
        ),
        None,
    )
    # "Best, / Anna / Sent from my iPhone": the closing above a tagline goes with it.
    closing = _closing_start(lines if cut is None else lines[:cut], first, cut is not None)
    return closing if closing is not None else cut
