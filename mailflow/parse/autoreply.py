"""Automatic replies: RFC 3834, vendor headers, out-of-office subjects and bodies."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime

from mailflow.parse.facts import DecodedMessage

# Vendor headers meaning "a machine wrote this reply" (X-Autoreply, X-Autorespond, Zimbra's and
# others' variants): any X- header naming an auto reply/response, with a value that is not "no".
_AUTO_HEADER_NAME = re.compile(r"^x-.*auto-?(reply|respon[sd]|generated)")
# Precedence values of machine-sent mail. `list` is read in is_auto_reply: see there.
_BULK_PRECEDENCE = {"bulk", "junk", "auto_reply", "auto-reply", "autoreply"}
# Headers that make a `Precedence: list` message a discussion-list post, written by a person.
_LIST_HEADERS = ("list-id", "list-post", "mailing-list")
_NOREPLY_SENDER = re.compile(
    r"^(no[-_.]?reply|do[-_.]?not[-_.]?reply|mailer[-_]?daemon)([-+_.][^@]*)?@", re.I
)
_REPLY_SUBJECT = re.compile(
    r"^\s*(re|aw|sv|vs|antw|odp|rif|r|ynt|回复|回覆|答复)\s*(\[\d+\])?\s*[:：]", re.I
)
_FORWARD_SUBJECT = re.compile(r"^\s*(fw|fwd|wg|tr|rv|i|doorst|vs|转发|轉寄)\s*[:：]", re.I)
_CHALLENGE_SENDER = re.compile(r"boxbe|spam-?arrest|mailblocks|choicemail", re.I)
_CHALLENGE_SUBJECT = re.compile(r"^\s*(request to join my guest list|\[spam ?arrest\])", re.I)
# Out-of-office subject prefixes; anchored at the start (after brackets/spaces) because that is
# how every client builds them, and a person writing "Re: out of office next week?" is not one.
# A bare word ("Absent", "Urlaub", "Afwezig") is an out-of-office subject only when it ends the
# subject or is followed by a colon or "until": "Absence request for Friday" is a person.
_AUTO_WORD = (
    r"auto\w*|automat\w*|avtomat\w*|otomat\w*|автомат\w*|аутомат\w*|sj[áa]lfvirk\w*"
    r"|samodej\w*|automaat\w*|awtomati\w*|kiotomatiki"
)
_ANSWER_WORD = (
    r"reply|response|answer|svar|vastus|vastaus|odgovor|одговор|отговор|ответ|відповідь"
    r"|odpov[ěe][dď]|odpowied[źz]|v[áa]lasz|atbilde|atsakymas|yan[ıi]t|cevap|respuesta|resposta"
    r"|risposta|r[ée]ponse|antwort|antwoord|tugon|jibu|balasan|jawaban|r[ăa]spuns|pasuhi"
    r"|p[ëe]rgjigje|erantzun|javob|jav[aá]p|svör|vastaus"
)
_END = r"(\s*([:：\-–(]|$)|\s+(bis|until|till|jusqu|hasta|at[ée]|fino|do|до|tot|t/m|au)\b)"
_OOF_SUBJECT = re.compile(
    # Ticket systems put their tag first: "[help.example.edu #4521] AutoReply: ..."
    r"^[\s\[(【<]*(\[[^\]\n]{1,60}\]\s*)?("
    # English
    # ("Auto reply settings question" is a person: the tag ends at a colon, a dash, a bracket)
    r"auto(matic|mated|matische|matisch|matyczna|matica)?[\s_-]*(re(ply|sponse)|antwort|antwoord)"
    r"(?=\s*[:：\-–\]\)】>]|\s*$|\s+(from|re|to|von|de)\b)|auto:|autosvar|automatisk svar|automaattinen vastaus"
    r"|out[\s-]+of[\s-]+(the[\s-]+)?office|ooo\b|on (vacation|holiday|leave)\b|annual leave"
    r"|away from (the |my )?(office|desk)|away:|vacation (auto|reply|response|message)"
    rf"|vacation notice{_END}"
    r"|holiday (auto|reply|notice)|(i am|i'm|i’m) (currently )?(out|away|on (vacation|holiday|leave))"
    r"|away from (my )?(e-?mail|computer)|office (is )?closed|holiday closure"
    # Help desks' acknowledgements
    r"|(ticket|request|enquiry|inquiry) (received|created|logged)\b|we(.ve| have) received your"
    r"|thank(s| you) for contacting"
    # Spanish, Portuguese
    rf"|respuesta (autom[aá]tica|de ausencia)|fuera de (la )?oficina|ausente{_END}|(estoy )?de vacaciones"
    rf"|resposta autom[aá]tica|aus[eê]ncia( tempor[aá]ria)?{_END}|fora do escrit[oó]rio|de f[ée]rias"
    # French
    rf"|r[ée]ponse automatique|absen(ce|te?)( du bureau)?{_END}|en cong[ée]|message d.absence"
    # German
    rf"|abwesenheitsnotiz|abwesen(d|heit){_END}|au(ss|ß)er (haus|b[üu]ro|dienst)|nicht im b[üu]ro"
    rf"|(im )?urlaub{_END}"
    # Italian
    rf"|risposta automatica|fuori (sede|ufficio)|assente{_END}|in ferie"
    # Dutch, Scandinavian, Finnish
    rf"|afwezig{_END}|niet aanwezig|buiten kantoor|fr[åa]nvaro|frav[æa]r|poissa{_END}"
    # Russian
    rf"|автоответ|автоматический ответ|нет на месте|вне офиса|в отпуске|отпуск{_END}"
    # Polish
    rf"|odpowied[źz] automatyczna|automatyczna odpowied[źz]|nieobecno[śs][ćc]( w biurze)?{_END}"
    rf"|poza biurem|(na )?urlopie?{_END}"
    # Chinese (simplified, traditional)
    r"|自动回复|自动答复|自動回覆|自動回复|自動答覆|休假(中|通知)|正在休假|外出(中|通知)"
    r"|不在办公室|不在辦公室"
    # Japanese
    r"|自動応答|自動返信|自動送信|不在(のお知らせ|通知|です|にしております)|休暇(中|のお知らせ)"
    # Korean, Czech, Turkish, Greek, Hungarian, Romanian, Ukrainian (Outlook's own tags)
    r"|자동 ?(회신|응답)|부재 ?중|automatick[áa] odpov[ěe][dď]|otomatik (yan[ıi]t|cevap)"
    r"|αυτόματη απάντηση|automatikus v[áa]lasz|r[ăa]spuns automat|автовідповідь"
    r"|автоматична відповідь"
    # Outlook's tags in further languages: Arabic, Hebrew, Persian, Hindi, Thai, Vietnamese,
    # Indonesian, Malay, Slovak, Slovenian, Croatian/Serbian, Bulgarian, Baltic, Catalan
    r"|رد تلقائي|الرد التلقائي|תשובה אוטומטית|מענה אוטומטי|پاسخ خودکار|स्वचालित (उत्तर|जवाब)"
    r"|ตอบกลับอัตโนมัติ|trả lời tự động|balasan (otomatis|automatik)|automatick[áa] odpove[ďd]"
    r"|samodejni odgovor|automatski odgovor|автоматичен отговор|automatinis atsakymas"
    r"|autom[āa]tisk[āa] atbilde|automaatvastus|resposta autom[àa]tica"
    # Any other language's "automatic answer" tag: an automatic-word and an answer-word, in
    # either order, before a colon
    rf"|({_AUTO_WORD})\s+({_ANSWER_WORD})\s*[:：]|({_ANSWER_WORD})\s+(\w{{1,3}}\s+)?({_AUTO_WORD})\s*[:：]"
    r"|স্বয়ংক্রিয় (উত্তর|জবাব)|خودکار جواب|தானியங்கி பதில்|स्वयंचलित उत्तर|स्वचालित जवाफ"
    r"|ავტომატური პასუხი|ավտոմատ պատասխան|ការឆ្លើយតបដោយស្វ័យប្រវត្តិ|အလိုအလျောက်"
    r")",
    re.I,
)
# Lotus Notes and others name the person first ("Jane Doe is out of the office."), so these
# count anywhere in the subject.
_OOF_ANYWHERE = re.compile(
    r"\b(is|am) (currently )?out of (the )?office\b|\bist au(ss|ß)er haus\b"
    r"|\best absente? du bureau\b|\bn.est pas au bureau\b|non al computer",
    re.I,
)
# Other headers by which responders and robots mark what they send: qmail's autoresponder,
# FirstClass, cron, responders naming themselves in X-Mailer.
_MACHINE_HEADERS = {
    "delivered-to": re.compile(r"^\s*autoresponder\s*$", re.I),
    "x-fc-machinegenerated": re.compile(r"^\s*true", re.I),
    "x-post-messageclass": re.compile(r"autorespon", re.I),
    "x-cron-env": re.compile(r"."),
    "x-mailer": re.compile(r"auto-?respon|auto-?reply|vacation", re.I),
}
# Opening words by which an automatic reply says what it is (the first lines of the text only:
# a person may mention auto-replies further down).
_AUTO_BODY = re.compile(
    r"this is an? auto(matic|mated|-generated)?[\s-]*(reply|response|message)"
    r"|ceci est une r[ée]ponse automatique|esta es una respuesta autom[aá]tica"
    r"|dies ist eine automatische (antwort|nachricht)|questa [eè] una risposta automatica"
    r"|esta [ée] uma resposta autom[aá]tica|dit is een automatisch (antwoord|bericht)"
    r"|это автоматический ответ|to jest automatyczna odpowied[źz]"
    r"|此邮件为自动回复|这是一封自动回复|本邮件为自动回复|此郵件為自動回覆"
    r"|(この|本)メールは.{0,12}自動(返信|送信|応答)"
    # Generated notices and help desks' acknowledgements (Zendesk, Freshdesk, OTRS, RT, ...)
    r"|this is an? (automatically generated|automated) (response|reply|message|notification|e-?mail)"
    r"|(this|the) (message|e-?mail|response) (has been|was|is) automatically generated"
    r"|((your|the) )?(support )?(request|ticket|enquiry|inquiry|case|incident|message)"
    r"( (number|no\.?|id))?( \(?#?[\w-]*\d[\w-]*\)?)? (has been|was)"
    r" (received|logged|created|opened)|a ticket has been (created|opened)"
    r"|acknowledge (that we have received|receipt of) your"
    r"|this (mailbox|inbox|e-?mail address|address|account) is (not|no longer|un)[ -]?(monitored|attended|read)"
    r"|this (mailbox|inbox|e-?mail address|address|account) (will be|has been|is being) (closed|deactivated|disabled|deleted)"
    r"|(address|mailbox|inbox|account)\b[^.!?\n]{0,40}\b(is|has been) no longer (in use|active|valid|monitored|checked)"
    # A departure notice sent on the leaver's behalf
    r"|\b(i have|i've) (left|retired from)\b[^!?\n]{0,60}\b(please|instead)"
    r"|\bis no longer (with|working (at|for))\b[^!?\n]{0,80}\b(please|instead)"
    # Generated replies in other languages
    r"|dies ist eine automatisch (generierte|erstellte|erzeugte|versandte) (antwort|nachricht|e-?mail)"
    r"|ceci est un (message|courriel|e-?mail) (g[ée]n[ée]r[ée] )?automatique"
    r"|(r[ée]ponse|message) g[ée]n[ée]r[ée]e? automatiquement|este es un mensaje autom[áa]tico"
    r"|(mensaje|respuesta|mensagem|resposta) generad[ao] autom[áa]ticamente"
    r"|(messaggio|risposta) generat[ao] automaticamente|automatisch gegenereerd"
    r"|wiadomo[śs][ćc] (zosta[łl]a )?wygenerowana automatycznie|сообщение (сгенерировано|отправлено) автоматически"
    r"|(这|這|此|本)[是为為封一邮郵件\s]{0,6}(自动|自動)(回复|回覆|答复|答覆)"
    r"|자동\s?(응답|회신) ?(메일|메시지)?입니다",
    re.I,
)


# An absence announced for later ("I will be out of the office from 1 to 14 December") is an
# out-of-office reply when it also promises the answer for the return; a person writing "I'll be
# out of office next week, let's talk after" in a reply says no such thing.
# A person's absence stated in the first lines ("I am currently out of the office until ..."):
# with a return or "until" (an autoresponder always says when), else it is a person answering
# anyway ("I am on leave at the moment but wanted to reply quickly").
_ABSENT_NOW = re.compile(
    r"\b(i am|i'm|i’m) (currently |now )?(out of (the )?office|away from (the |my )?(office|desk)"
    r"|on (annual |parental |maternity |sick )?leave|on (vacation|holiday)|out of the country"
    r"|travell?ing|out of town|attending an?\b)"
    # An office or library closed for a while speaks for its staff
    r"|\b(our|the) (office|library|team|offices|building)s? (is|are|will be) (currently )?closed"
    r"|\bwe are (currently )?closed"
    r"|\bjag är\b[^!?\n]{0,40}(på semester|ledig|tjänstledig|föräldraledig|bortrest)"
    r"|\bjeg er\b[^!?\n]{0,40}på (ferie|kursus)"
    r"|\bich bin\b[^!?\n]{0,40}(nicht im b[üu]ro|abwesend|im urlaub|au(ss|ß)er haus|nicht erreichbar)"
    r"|\bje suis\b[^!?\n]{0,40}(absente?|en cong[ée]s?|en vacances)"
    r"|\bestoy\b[^!?\n]{0,40}(fuera de la oficina|de vacaciones|ausente)"
    r"|\bestou\b[^!?\n]{0,40}(fora do escrit[óo]rio|de f[ée]rias|ausente)"
    r"|\bsono\b[^!?\n]{0,40}(fuori ufficio|in ferie|assente)"
    r"|\bik ben\b[^!?\n]{0,40}(afwezig|op vakantie|niet aanwezig|niet op kantoor)"
    r"|\bjestem\b[^!?\n]{0,40}(na urlopie|poza biurem|nieobecn)"
    r"|я\b[^!?\n]{0,30}(в отпуске|вне офиса)|(jsem|budu)\b[^!?\n]{0,30}(mimo kancelář|na dovolené)"
    r"|\bolen\b[^!?\n]{0,30}lomalla|szabads[áa]gon vagyok|izindeyim|ofis d[ıi]ş[ıi]nday[ıi]m"
    r"|我(正在|目前)?(休假|不在办公室)|我[^。，,！!]{0,6}(出差|外出|休假|不在)|不在にしております|휴가 중입니다|부재중입니다|부재중",
    re.I,
)
_UNTIL = re.compile(
    r"\b(until|till|through|back|return|returning|urgent|in my absence|limited access|no access"
    r"|reopen|re-open)\b"
    r"|\b(bis|zur[üu]ck|dringend|wieder|ab dem|jusqu|retour|urgen|hasta|regres|volver[ée]|fino|rientr"
    r"|tot|terug|tillbaka|brådskande|tilbage|tilbake|haster|do\b|powrot|powrót|до\b|вернусь"
    r"|asti|palaan|kiireellis|-ig\b|kadar|d[öo]n)"
    r"|\d-?ig\b|까지|이후|복귀|まで|以降|之前|以后|返回|回来|回到",
    re.I,
)
# A short-term or future absence named by a relative day: a person writing, not a responder
# (which states the dates).
_LATER = re.compile(
    r"\bnext (week|month)\b|\btomorrow\b|来週|明日|来月|再来週|n[äa]chste woche"
    r"|(?<!guten )(?<!goede )\bmorgen\b|semaine prochaine|\bdemain\b|pr[óo]xima semana"
    r"|(?<!esta )\bma[ñn]ana\b|settimana prossima|prossima settimana|\bdomani\b|volgende week"
    r"|n[äa]sta vecka|\bi ?morgon\b|neste uke|\bi morgen\b|ensi viikolla|huomenna"
    r"|на следующей неделе|завтра|下周|明天|다음 ?주|내일",
    re.I,
)
# "I am on parental leave, but my colleague forwarded me your mail": a person answering anyway
# (a responder's "but" goes on "will respond on my return").
_ANSWERING_ANYWAY = re.compile(
    r"[^.!?\n]{0,30}?\b(but|aber|mais|pero|maar|men)\b,?\s+(my colleague|we\b|wanted|just|i (saw|got|read|wanted|have|had|just))",
    re.I,
)
_ABSENCE_AHEAD = re.compile(
    r"\b(i will|i'll|i’ll) be (out of (the )?office|away|on (annual |parental |sick )?leave"
    r"|on (vacation|holiday)|travell?ing|out of the country)"
    r"|\bestar[ée]i? (fuera de la oficina|de vacaciones|ausente|fora do escrit[óo]rio|de f[ée]rias)"
    r"|\bje serai (absente?|en cong[ée]s?|en vacances)|\bsar[òo] (fuori ufficio|in ferie|assente)"
    r"|\bich werde\b[^!?\n]{0,40}(nicht im b[üu]ro|abwesend|im urlaub)"
    r"|\bik (zal|ben)\b[^!?\n]{0,40}(afwezig|op vakantie)",
    re.I,
)
_RETURN_PROMISE = re.compile(
    r"(limited|no|intermittent|restricted) access to (my )?e-?mail|upon my return|when i return"
    r"|(respond|reply|answer|get back to you) (to your (e-?mail|message) )?(upon|on|after) my return"
    r"|will not be (checking|reading|able to (read|respond|reply))|for urgent (matters|issues)"
    r"|in my absence|in urgent cases|will be (forwarded|answered) (when|after|upon)"
    r"|when we (reopen|re-open|return)|upon our return"
    r"|(sem|sin|sans|ohne|geen|utan) (acesso|acceso|acc[èe]s|zugriff|toegang|tillg[åa]ng)"
    r"|keinen zugriff|em caso de urg[êe]ncia|en caso de urgencia|en cas d.urgence"
    r"|in dringenden f[äa]llen|in caso di urgenza|bij dringende|in urgent",
    re.I,
)


# Words one of which every alternative of the pattern named contains, in lowercased text: a
# mail with none of them is not searched (the alternations try every branch at every
# position: ~1 ms a mail, a third of the parse, when searched always).
_AUTO_BODY_STEMS = (
    "auto", "автомат", "自动", "自動", "자동", "received", "logged", "created", "opened",
    "acknowledge", "address", "mailbox", "inbox", "account", "left", "retired", "no longer",
)  # fmt: skip
_LATER_STEMS = (
    "next", "tomorrow", "来週", "明日", "来月", "woche", "morgen", "semaine", "demain", "semana",
    "mañana", "manana", "settimana", "domani", "week", "vecka", "morgon", "uke", "viikolla",
    "huomenna", "неделе", "завтра", "下周", "明天", "다음", "내일",
)  # fmt: skip
_ABSENT_NOW_STEMS = (
    "i am", "i'm", "i’m", "closed", "jag är", "jeg er", "ich bin", "je suis", "estoy", "estou",
    "sono", "ik ben", "jestem", "я", "jsem", "budu", "olen", "vagyok", "ndey", "nday", "我",
    "不在", "휴가", "부재중",
)  # fmt: skip


def _mentions(lowered: str, stems: tuple[str, ...]) -> bool:
    return any(stem in lowered for stem in stems)


def is_oof_subject(subject: str) -> bool:
    """An automatic-reply or out-of-office subject ("Automatic reply: ...", "自动回复", ...)."""
    return bool(_OOF_SUBJECT.search(subject) or _OOF_ANYWHERE.search(subject))


def _header_flag(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in ("", "no", "false", "0", "none")


def is_auto_reply(msg: DecodedMessage) -> bool:
    """Whether the message is an automatic reply (not a bounce, not a person's list post)."""
    auto_submitted = msg.header("auto-submitted")
    if auto_submitted is not None:
        # RFC 3834: any value but "no"; "auto-forwarded" carries a person's mail on.
        value = re.split(r"[;(\s]", auto_submitted.strip().lower() + " ", maxsplit=1)[0]
        if value not in ("no", "auto-forwarded", ""):
            return True
    for name, value in msg.headers:
        if name in _MACHINE_HEADERS and _MACHINE_HEADERS[name].search(value):
            return True
        suppress = name == "x-auto-response-suppress"  # read below: it asks, it does not tell
        if _AUTO_HEADER_NAME.match(name) and not suppress and _header_flag(value):
            return True
    subject = msg.subject
    # Exchange puts X-Auto-Response-Suppress on what it generates (out-of-office replies,
    # receipts, notices) so that other robots do not answer them, and so do ticket systems. Some
    # Outlook setups put it on a person's answers too: under a reply subject it says nothing.
    if _header_flag(msg.header("x-auto-response-suppress")) and not _REPLY_SUBJECT.match(subject):
        return True
    # Exchange's server-side rule replies ("have server reply using a specific message") carry
    # any subject; the rules agent marks them. A rule's forward is no reply.
    source = (msg.header("x-ms-exchange-generated-message-source") or "").lower()
    forwarded = _header_flag(msg.header("x-ms-exchange-organization-autoforwarded"))
    if (
        msg.header("x-ms-exchange-inbox-rules-loop") is not None
        and "rules" in source
        and not forwarded
        and not _FORWARD_SUBJECT.match(subject)
    ):
        return True
    precedence = (msg.header("precedence") or msg.header("x-precedence") or "").strip().lower()
    if precedence in _BULK_PRECEDENCE:
        return True
    if precedence == "list" and not any(msg.header(h) is not None for h in _LIST_HEADERS):
        # `list` on a discussion list (List-Id, List-Post) is a person's post; without any list
        # header it is a robot's mass mailing that borrowed the value.
        return True
    sender = f"{msg.from_.name} {msg.from_.address}"
    if _CHALLENGE_SENDER.search(sender) or _CHALLENGE_SUBJECT.search(subject):
        return True  # challenge-response systems answer every new sender
    oof_subject = is_oof_subject(subject)
    # Exchange's inbox-rule markers, and Chinese webmail (QQ, 163) with no marker header at all:
    # the out-of-office subject decides.
    if oof_subject:
        return True
    if _NOREPLY_SENDER.match(msg.from_.address or ""):
        return True
    head = msg.text[:600]
    lowered = head.lower()
    if _mentions(lowered, _AUTO_BODY_STEMS) and _AUTO_BODY.search(head):
        return True
    if _mentions(lowered, _LATER_STEMS) and _LATER.search(head):
        return False  # "away next week", "out of the office today": a person telling
    absent = _ABSENT_NOW.search(head) if _mentions(lowered, _ABSENT_NOW_STEMS) else None
    if absent and _UNTIL.search(head) and not _ANSWERING_ANYWAY.match(head, absent.end()):
        return True
    return bool(_ABSENCE_AHEAD.search(head) and _RETURN_PROMISE.search(head))


def detect_auto_reply(msg: DecodedMessage) -> tuple[bool, datetime | None]:
    """(is an automatic reply, the stated return date if one can be read)."""
    if not is_auto_reply(msg):
        return False, None
    return True, return_date(f"{msg.subject}\n{msg.text}", msg.date)


_MONTHS = {
    **dict.fromkeys(("january", "jan", "enero", "janvier", "januar", "jänner", "janeiro"), 1),
    **dict.fromkeys(("february", "feb", "febrero", "février", "fevrier", "februar"), 2),
    **dict.fromkeys(("march", "mar", "marzo", "mars", "märz", "maerz", "março"), 3),
    **dict.fromkeys(("april", "apr", "abril", "avril"), 4),
    **dict.fromkeys(("may", "mayo", "mai", "maio"), 5),
    **dict.fromkeys(("june", "jun", "junio", "juin", "juni", "junho"), 6),
    **dict.fromkeys(("july", "jul", "julio", "juillet", "juli", "julho"), 7),
    **dict.fromkeys(("august", "aug", "agosto", "août", "aout"), 8),
    **dict.fromkeys(("september", "sept", "sep", "septiembre", "setiembre", "septembre"), 9),
    **dict.fromkeys(("october", "oct", "octubre", "octobre", "oktober", "outubro"), 10),
    **dict.fromkeys(("november", "nov", "noviembre", "novembre", "novembro"), 11),
    **dict.fromkeys(("december", "dec", "diciembre", "décembre", "decembre", "dezember"), 12),
}
_MONTH = "|".join(sorted(map(re.escape, _MONTHS), key=len, reverse=True))
_ORD = r"(?:st|nd|rd|th|er|º)?"
_DATE_FORMS = [
    ("ymd", re.compile(r"\b(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})\b")),
    ("cn", re.compile(r"(?:(\d{4})\s*年\s*)?(\d{1,2})\s*月\s*(\d{1,2})\s*[日号號]")),
    # "07.01.2027" or "3.12."; never status codes like "5.1.10" or versions like "1.2.3".
    ("dmy_dots", re.compile(r"(?<![\d.])(\d{1,2})\.(\d{1,2})\.(?:(\d{4})(?![\d.])|(?![\d.]))")),
    ("numeric", re.compile(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?\b")),
    (
        "d_month",
        re.compile(
            rf"\b(\d{{1,2}}){_ORD}\.?\s*(?:of\s+|de\s+)?({_MONTH})\b\.?(?:,?\s*(?:de\s+)?(\d{{4}}))?",
            re.I,
        ),
    ),
    ("month_d", re.compile(rf"\b({_MONTH})\b\.?\s+(\d{{1,2}}){_ORD}\b(?:,?\s*(\d{{4}}))?", re.I)),
]
# A return keyword shortly before the date (Latin scripts) or right after it (Chinese).
_BEFORE = re.compile(
    r"(\b(back|return|returning|returns|until|till|til|resume|available again|reachable again"
    r"|hasta|regres|vuelvo|volver|jusqu|retour|rentre|bis|zurück|zuruck|wieder|ab dem"
    r"|até|fino al)|返回|回来|回到)[^\n.!?。]{0,30}$",
    re.I,
)
_AFTER = re.compile(r"^\s*(?:之后|以后|后)?\s*(返回|回来|回到|回|上班|恢复|返岗|后)")


def _candidates(text: str) -> list[tuple[int, int, int | None, int, int, bool]]:
    """(start, end, year, first, second, ambiguous order) for each date-looking span."""
    found = []
    for kind, pattern in _DATE_FORMS:
        for m in pattern.finditer(text):
            g = m.groups()
            if kind in ("ymd", "cn"):
                year, month, day, ambiguous = g[0], g[1], g[2], False
            elif kind == "dmy_dots":
                year, month, day, ambiguous = g[2], g[1], g[0], False
            elif kind == "numeric":
                year, month, day, ambiguous = g[2], g[0], g[1], True
            elif kind == "d_month":
                year, month, day, ambiguous = g[2], _MONTHS[g[1].lower()], g[0], False
            else:
                year, month, day, ambiguous = g[2], _MONTHS[g[0].lower()], g[1], False
            y = int(year) if year else None
            if y is not None and y < 100:
                y += 2000
            found.append((m.start(), m.end(), y, int(month), int(day), ambiguous))
    return sorted(found)


def _resolve(year: int | None, month: int, day: int, sent: datetime | None) -> date | None:
    try:
        if year is not None:
            return date(year, month, day)
        if sent is None:
            return None
        after = sent.astimezone(UTC).date()
        stated = date(after.year, month, day)
        return stated if stated >= after else date(after.year + 1, month, day)
    except ValueError:  # 31 June, 29 February in a common year
        return None


def return_date(text: str, sent: datetime | None) -> datetime | None:
    """A stated return date ("back on 3 December", "12月3日回来") as aware UTC midnight."""
    text = unicodedata.normalize("NFKC", text[:5000])  # full-width digits -> ASCII
    taken: list[tuple[int, int]] = []
    for start, end, year, first, second, ambiguous in _candidates(text):
        if any(s <= start < e for s, e in taken):
            continue  # a shorter form inside a date already seen ("3.12" inside "2026.12.03")
        taken.append((start, end))
        if not (_BEFORE.search(text[max(0, start - 40) : start]) or _AFTER.match(text[end:])):
            continue
        options = [(first, second)]
        if ambiguous:  # 12/03: US month-first or day-first; a day above 12 settles it
            options = [(first, second), (second, first)] if first <= 12 else [(second, first)]
        dates = [d for m, d_ in options if m <= 12 and (d := _resolve(year, m, d_, sent))]
        if sent is not None:
            # A return date before the message was sent is a leave start, not a return.
            floor = sent.astimezone(UTC).date()
            dates = sorted((d for d in dates if d >= floor), key=lambda d: (d - floor).days)
        if dates and 2000 <= dates[0].year <= 2100:
            return datetime(dates[0].year, dates[0].month, dates[0].day, tzinfo=UTC)
    return None
