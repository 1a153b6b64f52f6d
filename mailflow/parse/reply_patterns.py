"""Where quoted history starts: attribution lines, header blocks, separators, markers.

The tables are written from the mail clients' own formats (Gmail, Outlook, Apple Mail,
Thunderbird, Windows Mail, Yandex, mail.ru, Zoho, QQ/Foxmail/163, Naver, help desks, list
managers) in the languages the program sees. ``reply.py`` decides what to do with a match.
"""

from __future__ import annotations

import re

__all__ = [
    "DECORATION",
    "can_end_attribution",
    "can_start_wrapped_attribution",
    "is_date_header",
    "starts_like_attribution",
    "is_attribution",
    "is_header_line",
    "is_from_header",
    "is_forward_separator",
    "is_groupwise_header",
    "is_marker",
    "is_notes_header",
    "is_one_line_header_block",
    "is_separator",
    "shared_attribution_start",
]

_I = re.IGNORECASE

# "... wrote:" verbs. Latin ones need a word boundary before them; CJK ones do not.
_LATIN_VERBS = (
    r"wrote|writes|a\s+écrit|escribió|escribio|escreveu|ha\s+scritto|scrisse|schrieb"
    r"|hat\s+geschrieben|schreef|geschreven|skrev|skreiv|kirjoitti"
    r"|napisał\(a\)|napisała|napisał|pisze|napsal\(a\)|napsal"
    r"|написал\(а\)|написала|написал|пишет|написав\(ла\)|написав|пише"
    # neighbours the program also hears from (Gmail, Apple Mail, Thunderbird)
    r"|ezt\s+írta|şunu\s+yazdı|yazdı|έγραψε|đã\s+viết|a\s+scris|napísal\(a\)|napísal|napisao\s+je"
    r"|napisala\s+je|menulis|va\s+escriure|kirjutas|rašė|rakstīja"
    r"|написа|написала|şunları\s+yazdı|írta|כתב|כתבה"
    r"|napisao/la|napisao|napisal|napisala|написао/ла|написао|написала|het\s+geskryf|geskryf|skrifaði|نوشت|كتب"
)
_CJK_VERBS = (
    r"쓴\s*글|のメッセージ|"
    r"写道|寫道|書きました|のメール|님이\s*작성\S*|님의\s*메일|님이\s*보낸\s*메일|(?<=[\s>)])작성"
    r"|เขียนว่า|ได้เขียนว่า|ने\s+लिखा|लिखा"
)
_VERB = rf"(?:(?<![\w(])(?:{_LATIN_VERBS})(?![\w(])|(?:{_CJK_VERBS}))"

# "On <date>, Anna <a@b> wrote:" and its translations: a verb, then at most a name, an address
# or a date ("schrieb Anna <a@b>:", "skrev Anna:", "wrote on 21 Nov:"), then the colon.
_ATTR_COLON = re.compile(rf"{_VERB}[^\n]{{0,120}}?\s*[:：]\s*$", _I)
# Without a colon ("On ... wrote", Zoho's "---- On ... wrote ----") only after a start word.
_ATTR_NO_COLON = re.compile(
    rf"^(?:On|Le|El|Em|Il|Am|Op|Den|Dnia|W\s+dniu|Dne)\s.{{1,300}}{_VERB}\s*$", _I
)
# "Quoting Anna <a@b>:" (Horde, SquirrelMail) and its translations; Apple Mail in Polish
# ("Wiadomość napisana przez Anna <a@b> w dniu 21.11.2026, o godz. 10:02:").
_ATTR_QUOTING = re.compile(
    r"^(?:Quoting|Zitat\s+von|Citando|Citation\s+de|Cytuję|Cytat|Цитирую|Citerar|Siterer"
    r"|Wiadomość\s+napisana\s+przez|Zpráva\s+od)\s.{1,200}[:：]\s*$",
    _I,
)
# Gmail with the date first ("2026-11-21 10:02 GMT+01:00 Anna <a@b>:"), Gmail in Russian and
# Japanese, Yandex ('21.11.2026, 10:02, "Anna" <a@b>:'), mail.ru ("..., 10:02 +03:00 от Anna
# <a@b>:"): a line that ends in an address and a colon.
_ATTR_ADDRESS = re.compile(
    r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+\s*>?\s*\)?\s*[\]»]?\s*(?:\[[^\]\n]{1,40}\]\s*)?[:：]\s*$",
)
# SquirrelMail's "Anna Li said:": only right above a quote ("The mayor said: ..." is prose).
_ATTR_SAID = re.compile(r"^[^:：\n]{1,80}\ssaid\s*[:：]\s*$", _I)
_DIGIT = re.compile(r"\d")
# Android's "---- Anna wrote ----": when decorated, a verb at the end is enough.
_ATTR_VERB_END = re.compile(rf"{_VERB}\s*$", _I)
# Gmail's date-first form without the colon ("2011/4/7 Anna <a@b.example>"), quote below.
_ATTR_DATE_ADDRESS = re.compile(
    r"^\d{4}[/.-]\d{1,2}[/.-]\d{1,2}\b.{0,120}?[\w.+'-]+@[\w-]+(?:\.[\w-]+)+>?$"
)
# "reply On Wed, Apr 4, 2012 at 3:59 PM, bob@example.com wrote:": where an attribution starts
# inside a line the answer shares with it.
_INNER_START = re.compile(r"\s(?=(?:On|Le|El|Am|Em|Il|Op|Den|W\s+dniu|Dnia|Dne)\s)")

# Decorations around separators: "-----", "=====", "_____", "*", "<<", "#".
# (Word turns "--" into en and em dashes, so those count too.)
DECORATION = re.compile(r"^[\s\-_=*#~<>\[\]|–—―]+|[\s\-_=*#~<>\[\]|–—―]+$")
_DECORATED_START = re.compile(r"^\s*(?:[-_=*#~<\[–—―]\s?){2,}")
_DECORATED_END = re.compile(r"(?:\s?[-_=*#~>\]–—―]){2,}\s*$")


def _decorated(text: str) -> bool:
    return bool(_DECORATED_START.match(text) or _DECORATED_END.search(text[-24:]))


# "-----Original Message-----", forwards and their translations (compared after decorations
# are stripped). Apple Mail's "Begin forwarded message:" form ends in a colon instead.
_SEPARATOR_WORDS = re.compile(
    r"^(?:"
    r"Original(?:\s+Message|\s+e-?mail)?|Forwarded\s+(?:message|e-?mail)|Begin\s+forwarded\s+message"
    r"|Forwarded\s+by\s.{1,80}\son\s.{1,40}"  # Lotus Notes
    r"|Original\s+Message\s+processed\s+by\s+david.{0,20}"  # Tobit david
    r"|Reply\s+message|Message\s+transféré|Courriel\s+original"
    # Outlook's meeting replies
    r"|Original\s+Appointment|Ursprünglicher\s+Termin|Rendez-vous\s+d'origine|Cita\s+original"
    r"|Compromisso\s+original|Appuntamento\s+originale|Oorspronkelijke\s+afspraak"
    r"|Ursprüngliche\s+Nachricht|Original-?Nachricht|Weitergeleitete\s+Nachricht"
    r"|Anfang\s+der\s+weitergeleiteten\s+Nachricht"
    r"|Message\s+d'origine|Message\s+original|Message\s+transféré|Début\s+du\s+message\s+(?:réexpédié|transféré)"
    r"|Mensaje\s+original|Mensaje\s+reenviado|Inicio\s+del\s+mensaje\s+reenviado"
    r"|Mensagem\s+original|Mensagem\s+encaminhada|Início\s+da\s+mensagem\s+(?:encaminhada|reencaminhada)"
    r"|Messaggio\s+originale|Messaggio\s+inoltrato|Inizio\s+messaggio\s+inoltrato"
    r"|Oorspronkelijk\s+bericht|Origineel\s+bericht|Doorgestuurd\s+bericht|Begin\s+doorgestuurd\s+bericht"
    r"|Ursprungligt\s+meddelande|Vidarebefordrat\s+(?:meddelande|brev)"
    r"|Opprinnelig\s+melding|Videresendt\s+(?:melding|meddelelse|besked)|Start\s+på\s+videresendt\s+besked"
    r"|Oprindelig\s+meddelelse"
    r"|Alkuperäinen\s+viesti|Välitetty\s+viesti(?:\s+alkaa)?"
    r"|Oryginalna\s+wiadomość|Wiadomość\s+oryginalna|Przekazana\s+wiadomość|Początek\s+przekazanej\s+wiadomości"
    r"|Původní\s+zpráva|Přeposlaná\s+zpráva|Eredeti\s+üzenet|Orijinal\s+Mesaj|Αρχικό\s+μήνυμα"
    r"|Mesaj\s+original|Izvorna\s+poruka|Pesan\s+Asli|Tin\s+nhắn\s+gốc"
    r"|Pôvodná\s+správa|Preposlaná\s+správa|Továbbított\s+üzenet|İletilen\s+Mesaj|Orijinal\s+ileti"
    r"|Προωθημένο\s+μήνυμα|Mesaj\s+redirecționat|Mesaj\s+transmis|Thư\s+gốc|Thư\s+đã\s+chuyển\s+tiếp"
    r"|Tin\s+nhắn\s+đã\s+chuyển\s+tiếp|Pesan\s+yang\s+diteruskan|Pesan\s+terusan|Proslijeđena\s+poruka"
    r"|Prosleđena\s+poruka|Missatge\s+original|Missatge\s+reenviat|Оригинално\s+съобщение"
    r"|Препратено\s+съобщение|Препратено\s+писмо|הודעה\s+מקורית|הודעה\s+שהועברה|ההודעה\s+המקורית"
    r"|الرسالة\s+الأصلية|رسالة\s+معاد\s+توجيهها|الرسالة\s+المعاد\s+توجيهها|ข้อความต้นฉบับ|ข้อความที่ส่งต่อ"
    r"|Исходное\s+сообщение|Оригинальное\s+сообщение|Пересылаемое\s+сообщение|Пересланное\s+сообщение"
    r"|Начало\s+переадресованного\s+сообщения|Початок\s+пересланого\s+(?:листа|повідомлення)"
    r"|Оригінальне\s+повідомлення|Початкове\s+повідомлення|Вихідне\s+повідомлення|Переслане\s+повідомлення"
    r"|元のメッセージ|転送されたメッセージ|転送メッセージ|オリジナルメッセージ"
    r"|원본\s*메시지|원본\s*메일|전달된\s*메시지|전달된\s*메일"
    r"|原始信息|原始訊息|原始消息|原始郵件|原始郵件內容|轉寄的郵件|轉寄郵件|原始邮件|原邮件|回复的原邮件|转发的邮件|转发邮件|邮件原文"
    r")\s*[:：]?$",
    _I,
)
# QQ Mail's plain part keeps a literal "&nbsp;" around "原始邮件".
_NBSP_ENTITY = re.compile(r"&nbsp;", _I)

# Help desks and forums put a marker above the quoted notification ("reply above this line",
# "Previous Replies"); lists and groups add a footer. Unanchored phrases are looked for only
# when one of their words is in the line (a plain substring test is much cheaper than a search).
_MARKER_WORDS = (
    "above this line", "below this line", "dieser zeile", "dieser linie", "cette ligne",
    "esta línea", "desta linha", "questa riga", "questa linea", "deze regel", "deze lijn",
    "denna rad", "den här raden", "denne linjen", "denne linje", "rivin yläpuolelle", "tej linii",
    "этой строки", "этой линии", "этой черты", "цим рядком", "цього рядка", "цієї лінії",
    "この行", "この線", "이 줄", "이줄", "此行", "此線", "这行", "這行", "listinfo", "mailman",
)  # fmt: skip
_MARKER_PHRASE = re.compile(
    r"(?:reply|respond|write|type|answer)[^\n]{0,40}\babove\s+this\s+line|above\s+this\s+line"
    r"|do\s+not\s+(?:reply|write)\s+below\s+this\s+line"
    r"|(?:oberhalb|über)\s+dieser\s+(?:Zeile|Linie)|au-dessus\s+de\s+cette\s+ligne"
    r"|(?:encima|arriba)\s+de\s+esta\s+línea|acima\s+desta\s+linha|sopra\s+questa\s+(?:riga|linea)"
    r"|boven\s+deze\s+(?:regel|lijn)|ovanför\s+(?:denna\s+rad|den\s+här\s+raden)"
    r"|over\s+denne\s+linj(?:en|e)|tämän\s+rivin\s+yläpuolelle|powyżej\s+tej\s+linii"
    r"|выше\s+этой\s+(?:строки|линии|черты)|(?:над|вище)\s+(?:цим\s+рядком|цього\s+рядка|цієї\s+лінії)"
    r"|この(?:行|線)より(?:上|前)|이\s*줄\s*위에|(?:此|这|這)(?:行|線|条线|條線)(?:以上|上方|之上)"
    r"|https?://\S+/(?:mailman/listinfo|cgi-bin/mailman|lists/listinfo|mailman/options)",
    _I,
)
_MARKER_LINE = re.compile(
    r"^\W*+(?:Previous\s+(?:replies|messages|comments)|Vorherige\s+(?:Antworten|Nachrichten)"
    r"|Réponses\s+précédentes|Respuestas\s+anteriores|Respostas\s+anteriores|Risposte\s+precedenti"
    r"|Eerdere\s+(?:antwoorden|reacties)|Tidigare\s+svar|Tidligere\s+svar|Aiemmat\s+vastaukset"
    r"|Poprzednie\s+odpowiedzi|Предыдущие\s+ответы|Попередні\s+відповіді|以前の返信|이전\s*답변"
    r"|以前的回复|之前的回复|先前的回覆|之前的回覆)\W*$"
    # mailing-list and group footers
    r"|^You\s+received\s+this\s+(?:message|email)\s+because\s+you\s+are\s+subscribed\s+to"
    r"|^To\s+unsubscribe\s+from\s+this\s+group|^To\s+unsubscribe\s+send\s+an\s+email\s+to"
    r"|^To\s+unsubscribe\s+from\s+the\s+\S+\s+list|^\[?Visit\s+Topic\]?\s*(?:\(\S+\)\s*)?or\s+reply"
    r"|^This\s+message\s+was\s+sent\s+by\s+Atlassian|^You\s+are\s+receiving\s+this\s+because\s+you"
    r"|^Reply\s+to\s+this\s+email\s+directly,?\s+(?:or\s+)?view\s+it\s+on"
    r"|^Du\s+erhältst\s+diese\s+Nachricht,\s+weil\s+du|^Sie\s+erhalten\s+diese\s+Nachricht,\s+weil\s+Sie"
    r"|^Vous\s+recevez\s+ce\s+message,?\s+car\s+vous\s+êtes\s+abonné"
    r"|^(?:Recibiste|Has\s+recibido)\s+este\s+mensaje\s+porque"
    r"|^Você\s+recebeu\s+esta\s+mensagem\s+porque|^Hai\s+ricevuto\s+questo\s+messaggio\s+perché"
    r"|^Je\s+hebt\s+dit\s+bericht\s+ontvangen\s+omdat|^Вы\s+получили\s+это\s+сообщение,\s+(?:поскольку|так\s+как)"
    r"|^このメールは\s*Google\s*グループ|^您收到此邮件是因为您订阅了|^您收到這封郵件是因為您訂閱了"
    r"|^Yahoo!?\s+Groups\s+Links|^This\s+email\s+has\s+been\s+checked\s+for\s+viruses"
    r"|^Virus-free\.?\s|^Diese\s+E-Mail\s+wurde\s+von\s+\S+\s+Antivirus|^__________\s+Information\s+from\s+ESET"
    r"|^[^:]{1,60}\s(?:mailing\s+list|Mailingliste|liste\s+de\s+diffusion|lista\s+de\s+correo)"
    r"(?:\s+--\s+\S+@\S+)?\s*$",
    _I,
)

# Outlook / Windows Mail / webmail header blocks ("From: / Sent: / To: / Subject:"), translated.
_FROM_KEYS = (
    r"From|Von|De|Da|Van|Från|Fra|Lähettäjä|Od|От|Від|Kimden|Feladó|Odesílatel|De\s+la|Šalje"
    r"|Από|Từ|Dari|Afzender|Absender|מאת|من|จาก|Od\s+koga"
    r"|差出人|送信者|보낸\s*사람|寄件者|寄件人|发件人|發件人"
)
_OTHER_KEYS = (
    r"Sent|Date|To|Cc|Bcc|Subject|Reply-To|Importance|Sent\s+on|Sent\s+at"
    r"|Gesendet|Datum|An|Betreff|Kopie"
    r"|Envoyé|Envoyé\s+le|À|A|Objet|Date\s+d'envoi"
    r"|Enviado|Enviado\s+el|Enviado\s+em|Enviada|Enviada\s+em|Fecha|Para|Asunto|Assunto|Data|CC"
    r"|Inviato|Oggetto|Verzonden|Aan|Onderwerp"
    r"|Skickat|Skickades|Till|Ämne|Kopia|Sendt|Til|Emne|Dato|Kopi"
    r"|Lähetetty|Vastaanottaja|Aihe|Päivämäärä|Kopio"
    r"|Wysłano|Wysłane|Do|DW|Temat|Komu|Odesláno|Předmět"
    r"|Отправлено|Дата|Кому|Копия|Тема|Надіслано|Копія"
    r"|送信日時|宛先|件名|日付|보낸\s*날짜|받는\s*사람|참조|제목|날짜"
    r"|寄件日期|收件者|收件人|副本|主旨|日期|发送时间|發送時間|时间|時間|主题|主題|抄送"
    r"|Elküldve|Címzett|Tárgy|Gönderildi|Kime|Konu|Trimis|Către|Subiect|Poslano|Prima|Predmet"
    r"|Στάλθηκε|Προς|Θέμα|Đã\s+gửi|Đến|Chủ\s+đề|Dikirim|Kepada|Perihal|Ontvanger|Empfänger"
    r"|Odoslané|Kópia|Изпратено|До|Относно|Enviat|Per\s+a|Assumpte|Tema"
    r"|נשלח|אל|נושא|עותק|תאריך|تاريخ\s+الإرسال|أرسل|إلى|الموضوع|نسخة|التاريخ|ส่ง|ถึง|เรื่อง|สำเนา|วันที่"
)
# Written so that no two parts can match the same spaces: a line of a million spaces must not
# make the regex engine try every split of them.
_KEY_PREFIX = r"^[\s>*]*+(?:__\s*)?"
_KEY_SUFFIX = r"[ \t\u00a0]*(?:(?:\*\*|\*|__)[ \t\u00a0]*)?[:：]"
_FROM_LINE = re.compile(rf"{_KEY_PREFIX}(?:{_FROM_KEYS}){_KEY_SUFFIX}", _I)
_HEADER_LINE = re.compile(rf"{_KEY_PREFIX}(?:{_FROM_KEYS}|{_OTHER_KEYS}){_KEY_SUFFIX}", _I)
# Outlook's HTML part turned to text can put the whole block on one line.
_INLINE_OTHER = re.compile(rf"\s(?:\*\*|\*)?(?:{_OTHER_KEYS})(?:\*\*|\*)?\s?[:：]\s", _I)
# Some webmails (163, QQ) lay the block out as a table: "| 发件人 | a |".
_TABLE_FROM = re.compile(rf"^\s*+\|\s*+(?:{_FROM_KEYS})\s*\|", _I)


_START_WORD = re.compile(
    r"^[\s\-*_]*+(?:On|Le|El|Am|Em|Il|Op|Den|Dnia|W\s+dniu|Dne|Quoting|Zitat|Citando|Às|在|於|\d)",
    _I,
)
_OPEN_END = re.compile(r"(?:<|\bat|,|\(|\bum|\bà|\ba\s+las|\bo|\bkl\.?|\bklo)\s*$", _I)


_VERB_END_WORDS = frozenset(
    {
        "wrote", "writes", "écrit", "escribió", "escribio", "escreveu", "scritto", "scrisse",
        "schrieb", "geschrieben", "schreef", "geschreven", "skrev", "skreiv", "kirjoitti",
        "napisał(a)", "napisała", "napisał", "pisze", "napsal(a)", "napsal",
        "написал(а)", "написала", "написал", "пишет", "написав(ла)", "написав", "пише",
        "написа", "yazdı", "írta", "scris", "menulis", "escriure", "viết", "napisal",
        "napisala", "написао/ла", "написао", "geskryf", "skrifaði", "نوشت", "लिखा",
    }
)  # fmt: skip


def starts_like_attribution(line: str) -> bool:
    """ "On ...", "Le ...", a date: the first line of an attribution a client may have split."""
    return bool(_START_WORD.match(line))


def can_end_attribution(line: str) -> bool:
    """Cheap test: only a line ending in a colon, a verb or dashes can end an attribution."""
    text = line.rstrip(" \t*_")
    if not text:
        return False
    if text[-1] in ":：-=":
        return True
    if text[-1] == ">" and text[0].isdigit():  # "2011/4/7 Anna <a@b.example>"
        return True
    return text.rsplit(None, 1)[-1].lower() in _VERB_END_WORDS


def can_start_wrapped_attribution(first: str, rest: str, rest_is_attribution: bool) -> bool:
    """Whether ``first`` is the first line of an attribution wrapped onto ``rest``.

    The line above a complete attribution is usually the answer ("Yes."), not part of it. It
    belongs to the attribution when it starts like one, carries an address, or breaks off
    mid-phrase ("... Anna <"), and the rest does not start like an attribution of its own.
    """
    first = first.strip()
    if rest_is_attribution and _START_WORD.match(rest):
        return False
    if _START_WORD.match(first) or _OPEN_END.search(first):
        return True
    return "@" in first or (
        len(first) >= 25 and bool(_DIGIT.search(first)) and not rest_is_attribution
    )


# Substrings one of which every verb contains: a cheap test before the verb search.
_VERB_HINTS = (
    "wrote", "writes", "écrit", "escrib", "escreveu", "scritto", "scrisse", "schrieb",
    "geschrieben", "schreef", "geschreven", "skrev", "skreiv", "kirjoitti", "napisa", "pisze",
    "napsal", "napísal", "написа", "пишет", "пише", "írta", "yazdı", "έγραψε", "viết", "scris",
    "menulis", "escriure", "kirjutas", "rašė", "rakstīja", "כתב", "เขียนว่า", "napisal", "написао", "geskryf", "skrifaði",
    "نوشت", "كتب", "लिखा", "写道", "寫道", "書きました", "のメール", "のメッセージ",
    "작성", "메일", "쓴",
)  # fmt: skip


# "On 3 March we wrote to the council:": a pronoun writes prose; an attribution names a sender.
_PRONOUN_VERB = re.compile(
    r"\b(?:I|we|you|they|he|she|who|ich|wir|je|nous|yo|eu|io|noi)\s+(?:wrote|writes|schrieb|écrit"
    r"|escribí|escribimos|escrevi|scrissi|scrivemmo)\b",
    _I,
)


def is_attribution(text: str, quote_follows: bool) -> bool:
    """True when one line (or several joined with spaces) introduces quoted history."""
    text = text.strip()
    if not text or len(text) > 500:
        return False
    core = DECORATION.sub("", text) if _decorated(text) else text
    core = core.lstrip("*_ ").rstrip()
    evidence = quote_follows or "@" in core or bool(_DIGIT.search(core))
    tail = core[-200:]  # the verb sits within 120 characters of the end
    low = tail.lower()
    if any(hint in low for hint in _VERB_HINTS):
        if _PRONOUN_VERB.search(tail):
            return False
        if _ATTR_COLON.search(tail):
            return evidence
        if _ATTR_NO_COLON.match(core):
            return evidence
    if core is not text and _ATTR_VERB_END.search(tail):
        return evidence
    if quote_follows and "@" in tail and _ATTR_DATE_ADDRESS.match(core):
        return True
    if quote_follows and low.endswith(("said:", "said :")) and _ATTR_SAID.match(core):
        return True
    if _ATTR_QUOTING.match(core):
        return "@" in core or quote_follows
    if "@" in tail and _ATTR_ADDRESS.search(tail[-150:]):
        # "Anna <a@b>:" alone could be a line of prose; a date or a quote below settles it.
        return quote_follows or bool(_DIGIT.search(core.split("@")[0]))
    return False


def shared_attribution_start(line: str, quote_follows: bool) -> int:
    """Where an attribution starts inside a line that begins with the answer, or 0."""
    if len(line) > 500:
        return 0
    for m in _INNER_START.finditer(line):
        if m.start() and is_attribution(line[m.end() :], quote_follows):
            return m.end()
    return 0


def is_separator(line: str) -> bool:
    """An "Original Message" / forward separator, decorated or with a trailing colon."""
    text = _NBSP_ENTITY.sub(" ", line).strip()
    if not text or len(text) > 120:
        return False
    core = DECORATION.sub("", text).strip()
    if not _SEPARATOR_WORDS.match(core):
        return False
    return _decorated(text) or text.endswith((":", "：")) or core == text


def is_marker(line: str) -> bool:
    """A help-desk "reply above this line" marker, "Previous Replies" or a list footer."""
    text = line.strip()
    if not text or len(text) > 300:
        return False
    if _MARKER_LINE.match(text):
        return True
    low = text.lower()
    return any(word in low for word in _MARKER_WORDS) and bool(_MARKER_PHRASE.search(text))


def is_from_header(line: str) -> bool:
    return bool(_FROM_LINE.match(line) or _TABLE_FROM.match(line))


def is_one_line_header_block(line: str) -> bool:
    """ "From: A <a@b> Sent: Monday To: B Subject: x" on a single line."""
    return (
        bool(_FROM_LINE.match(line)) and len(line) < 1000 and len(_INLINE_OTHER.findall(line)) >= 2
    )


_DATE_LINE = re.compile(
    rf"{_KEY_PREFIX}(?:Date|Sent|Datum|Gesendet|Fecha|Data|Dato|Дата|日期|日付){_KEY_SUFFIX}", _I
)


def is_date_header(line: str) -> bool:
    return bool(_DATE_LINE.match(line))


def is_header_line(line: str) -> bool:
    return bool(_HEADER_LINE.match(line))


# GroupWise: ">>> Anna Li <a@b.example> 03/03/24 5:21 PM >>>" above the unquoted original.
_GROUPWISE = re.compile(r"^\s*>>>[ \t]*\S[^\n]{0,200}?\d[^\n]{0,100}?>>>\s*$")


def is_groupwise_header(line: str) -> bool:
    return line.lstrip().startswith(">>>") and bool(_GROUPWISE.match(line[:400]))


# Lotus Notes' classic header: "Anna Li/Library/ACME" / "03/03/2024 05:21 PM" / "To" / ... with
# each key alone on its line ("To", "cc", "Subject").
_NOTES_DATE = re.compile(r"^\s*\d{1,4}[/.-]\d{1,2}[/.-]\d{2,4}\s+\d{1,2}[:.]\d{2}")
_NOTES_KEY = re.compile(r"^\s*(?:To|An|À|A|Para|Aan|Till|Til|Do|Komu|Кому|宛先|收件人)\s*$", _I)
_NOTES_SUBJECT = re.compile(
    r"^\s*(?:Subject|Betreff|Objet|Asunto|Assunto|Oggetto|Onderwerp|cc)\s*$", _I
)


def is_notes_header(lines: list[str], i: int) -> bool:
    """Lotus Notes' header block (name, date, a bare "To", a bare "Subject"/"cc") at line i."""
    line = lines[i].strip()
    if not line or len(line) > 120 or "/" not in line or ":" in line[:20]:
        return False
    window = [x for x in lines[i + 1 : i + 12] if x.strip()][:8]
    if not window or not _NOTES_DATE.match(window[0]):
        return False
    return any(_NOTES_KEY.match(x) for x in window[1:4]) and any(
        _NOTES_SUBJECT.match(x) for x in window[1:]
    )


# The forward forms among the separators: what follows is someone else's whole mail.
_FORWARD = re.compile(
    r"forward|weitergeleitet|transféré|réexpédié|reenvia|encaminhada|inoltrato|doorgestuurd"
    r"|vidarebefordrat|videresendt|välitetty|przekazan|přeposlan|preposlan|továbbított|iletilen"
    r"|προωθημένο|redirecționat|transmis|chuyển\s+tiếp|diteruskan|terusan|proslijeđen|prosleđen"
    r"|reenviat|пересыл|переслан|переадрес|пересилан|переслане|препратено|שהועברה|توجيه|ส่งต่อ"
    r"|転送|전달된|轉寄|转发",
    _I,
)


def is_forward_separator(line: str) -> bool:
    return len(line) < 200 and bool(_FORWARD.search(line)) and is_separator(line)
