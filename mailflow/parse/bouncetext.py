"""What a bounce says in prose: is it one, whom did it fail, and is the failure for good.

Used beside the structured fields of dsn.py, for the many reports that have none (qmail, Exim,
Exchange, webmail providers, Japanese carriers, Chinese providers, list managers) and for
reports whose fields name no readable mailbox (X.400, pipes, local names).
"""

from __future__ import annotations

import re
from email.message import Message

from mailflow.parse.autoreply import is_oof_subject
from mailflow.parse.charsets import decode_bytes, decode_header_value
from mailflow.parse.dsn import STATUS, clean_address, report_parts
from mailflow.parse.htmltext import html_to_text
from mailflow.parse.mailheaders import safe_getaddresses
from mailflow.parse.message import parse_bytes

_TEXT_LIMIT = 64 * 1024  # per part: a report's own text is short; the rest is the original
_TEXT_TOTAL = 256 * 1024
_DIAGNOSTIC_LIMIT = 20_000
_MAX_CANDIDATES = 50

# Addresses only a mail system sends from; and ones mail systems use among other senders.
DAEMON_LOCALPARTS = frozenset(
    {"mailer-daemon", "mailer_daemon", "mailerdaemon", "mail-daemon", "maildaemon"}
)
_SYSTEM_LOCALPARTS = frozenset(
    {"mdaemon", "mail.delivery", "mail-delivery", "mailer", "gwia", "smtp-gateway", "mailadmin"}
)
# Exchange sends its reports from "MicrosoftExchange" plus the organisation's 32-hex-digit id.
_SYSTEM_LOCAL = re.compile(r"^microsoftexchange[0-9a-f]{32}$")
_DAEMON_NAMES = re.compile(
    r"mail delivery (subsystem|system|service)|mailer.?daemon|delivery status notification"
    r"|internet mail delivery|mail administrator|courier mail server|l-soft list server",
    re.I,
)
BOUNCE_SUBJECT = re.compile(
    r"undeliver|returned mail|returning message|mail delivery fail|delivery status notif"
    r"|delivery (status )?fail|delivery failure|failure notice|non.?deliver|could not be delivered"
    r"|delivery (has )?failed|delayed mail|message .{0,80}delayed|warning: could not send"
    r"|delivery (delay|warning)|mail (not delivered|delivery deferred)|delivery deferred"
    r"|mail system error|mail failure|delivery notification|permanent delivery failure"
    r"|undelivered|message status - undeliverable|notice: mail delivery status"
    r"|unzustellbar|nicht zustellbar|non remis|no se puede entregar|non recapitat|onbestelbaar"
    r"|não entregue|nao entregue|niedostarczon|недостав|не доставлен"
    r"|系统退信|退信|投递失败|发送失败|未送达|無法傳遞|退件|配信エラー|配送エラー|送信エラー"
    r"|メール配信|エラーメール"
    r"|message .{0,120} rejected|was rejected|\brejected\b.{0,40}mailing.?list|^rejected mail"
    r"|message blocked|zustellung.{0,20}fehlgeschlagen|falha na entrega|error al entregar"
    r"|entrega fallida|[ée]chec de (la )?(remise|livraison)|non d[ée]livr[ée]|non distribu[ée]"
    # Exchange's subject tags in other languages, and delay notices
    r"|配信不能|无法投递|無法投遞|未能送达|未能送達|배달되지 않음|배달 ?실패|발송 ?실패|전송 ?실패"
    r"|niedostarcz|nedoru[čc]iteln|nedoru[čc]en|k[ée]zbes[íi]thetetlen|teslim edileme"
    r"|ανεπίδοτο|kan ikke leveres|kunne ikke leveres|ikke levert|kan inte levereras"
    r"|kunde inte levereras|ej levererbar|olevererbar|toimittamaton|ei voi(tu)? toimittaa"
    r"|nu se poate livra"
    r"|recapito ritardato|consegna ritardata|zustellung verz[öo]gert|remise diff[ée]r[ée]e"
    r"|entrega (retrasada|atrasada)|bezorging vertraagd|op[óo][źz]nion|задерж|配信の遅延"
    r"|配送遅延|延迟传递|延遲傳遞"
    # Translated DSN subjects ("Delivery Status Notification (Failure)"); a success one names
    # every recipient delivered and is dropped on its fields
    r"|notification d.[ée]tat de (la )?remise|[üu]bermittlungsstatus|notificaci[óo]n de estado"
    r"|notifica dello stato di consegna|status van de bezorging|notifica[çc][ãa]o de status"
    r"|配信状態通知|递送状态通知|傳遞狀態通知|mancato recapito|no entregado"
    r"|delivery problem|could not deliver|unable to deliver|not deliverable|returned to sender"
    r"|(mail|message) returned|bounced (mail|message)",
    re.I,
)
# Receipts: the mail arrived (or was read, or relayed to a system that sends no reports).
_SUCCESS_SUBJECT = re.compile(
    r"successful|\((success|relay|relayed|delivered)\)|^\s*(delivered|read|gelesen|lu)\s*:"
    r"|delivery receipt|return receipt|read receipt",
    re.I,
)
_FAILURE_WORDS = re.compile(
    r"could ?n[o']t be delivered|undeliver|not (been )?delivered|unable to deliver|failed"
    r"|rejected|permanent error|fatal error",
    re.I,
)
# List managers' own addresses: their refusals of a post are bounces of it.
_LIST_MANAGER = re.compile(
    r"^(majordomo|listserv|mailman|sympa|ecartis|listproc|lyris)$|-(owner|admin|request|bounces)$"
)
_REPLY_SUBJECT = re.compile(
    r"^\s*(re|aw|sv|vs|wg|fw|fwd|tr|rif|odp|antw|r|ynt|回复|回覆|答复|转发|轉寄)\s*[:：]", re.I
)
# Opening phrases of machine-written failure reports (matched on unquoted lines, lower case).
BODY_PHRASES = re.compile(
    r"this is the mail system at host|i'm sorry to have to inform you that your message"
    r"|this message was created automatically by mail delivery software"
    r"|a message that you sent (could not be|has not yet been) delivered"
    r"|this is the qmail-send program|i'm afraid i wasn't able to deliver"
    r"|(sorry, )?we were unable to deliver your message|unable to deliver message to the following"
    r"|the following addresses had (permanent fatal|transient non-fatal) errors"
    r"|transcript of session follows|delivery has failed to these recipients"
    r"|your message did not reach some or all of the intended recipients"
    r"|the following recipient\(s\) cannot be reached"
    r"|your message to \S+ couldn.t be delivered|your message wasn.t delivered to"
    r"|delivery to the following recipients? failed|there was a (temporary )?problem delivering"
    r"|could not be delivered to the following|was not delivered to:|undeliverable to the following"
    r"|did not receive the attached message|permanent fatal delivery errors"
    r"|your message cannot be delivered to the following|delivery status notification"
    r"|message (was )?not delivered to recipient|the following message could not be delivered"
    r"|your message could not be delivered|(message|mail) delivery (failed|failure)"
    r"|delivery to the following recipients has been abandoned"
    r"|this report relates to a message you sent|running the courier mail server"
    r"|this is the mailer-daemon|message was undeliverable|an error has occurred while attempting"
    r"|nondelivery report was generated|the following mail was not delivered"
    r"|did not receive (this|the|your) message|has not been delivered to the following"
    r"|the following addresses had delivery problems|message not delivered to the following"
    r"|your mail to the following recipients could not|following recipients? (were|was) rejected"
    r"|delivery delay notification|could not be delivered yet|delivery (is|has been) delayed"
    r"|konnte nicht zugestellt werden|n.a pas pu (être|etre) remis|no se pudo entregar"
    r"|n[ãa]o (p[ôo]de ser|foi poss[íi]vel) entreg|non (è|e') stat[oa] (possibile )?recapitat"
    r"|k[ao]n niet worden (bezorgd|afgeleverd)|nie (można|mozna) dostarczyć|nie został dostarczony"
    # Exchange's report openings in other languages (failed, then delayed)
    r"|die zustellung an (folgende|diese) empf[äa]nger.{0,30}(fehlgeschlagen|verz[öo]gert)"
    r"|la remise aux destinataires.{0,40}(a [ée]chou[ée]|retard[ée]e)"
    r"|error al entregar a estos destinatarios|la entrega a estos destinatarios.{0,30}retras"
    r"|recapito non riuscito|il recapito ai seguenti destinatari.{0,40}(ritardato|non [èe] riuscito)"
    r"|impossibile recapitare|bezorging is mislukt|falha na entrega para"
    r"|dostarczenie do nast[ęe]puj[ąa]cych adresat[óo]w.{0,40}nie powiod"
    r"|доставка следующим получателям.{0,40}не выполнена|доставка.{0,60}задерживается"
    r"|传递到这些收件人或组失败|未能送达|未能送達|无法将邮件传递|次の受信者.{0,30}配信に失敗"
    r"|配信が遅延|배달할 수 없습니다|발송되지 않았습니다|전달되지 못|전송(에|이)? 실패"
    r"|반송되었습니다|nepoda[řr]ilo doru[čc]it|nelze doru[čc]it|teslim edilemedi"
    r"|leveransen till f[öo]ljande mottagare misslyckades|det gick inte att leverera"
    r"|levering til (f[øo]lgende|disse) modta.{0,40}mislykke"
    r"|toimitus (seuraaville vastaanottajille )?ep[äa]onnistui|nem siker[üu]lt k[ée]zbes[íi]teni"
    r"|a k[ée]zbes[íi]t[ée]s .{0,60}nem siker[üu]lt|teslim ba[şs]ar[ıi]s[ıi]z"
    r"|det gick inte att leverera|leveransen .{0,60}misslyckades|levering .{0,60}mislykke"
    # Filtering services refusing the mail for the recipient
    r"|your message to:? \S+ (was|has been) (blocked|rejected|refused)"
    r"|\bwas undeliverable|to the following (address|recipient)[^\n]{0,20} could not be delivered"
    r"|delivery to the following recipients? (has been )?(delayed|failed)"
    r"|messages? (to|for) the following recipients? (was|were|has been|have been) (blocked|rejected)"
    r"|не удалось доставить|не может быть доставлено|не доставлено"
    r"|配信できませんでした|送信できませんでした|配送できませんでした|届けることができません"
    r"|退信|邮件被退回|郵件被退回|无法送达|無法送達|无法投递|無法投遞|没能成功发送|未能成功发送|邮件发送失败|投递失败"
    r"|無法傳遞"
    r"|(mailing[- ]?list|list)\W.{0,80}\brejected|has been rejected and was not distributed"
    r"|rejected by the (mailing[- ]?)?list"
    r"|not authorized to send mail to the|you do not have permission to post",
    re.I,
)
# Challenge-response and whitelist systems ask the sender to prove to be a person: the mail is
# held, not refused. Not a bounce (they are auto-replies: autoreply.py).
CHALLENGE_HEAD = re.compile(  # sender and subject
    r"boxbe|guest list|spam ?arrest|mailblocks|choicemail|spamblocker|bluebottle"
    r"|approved senders|whitelist|white list|allow ?list|verify your (e-?mail|address)"
    r"|please verify|confirm your (e-?mail|address)|challenge|moderator approval"
    r"|held for moderation",
    re.I,
)
CHALLENGE_BODY = re.compile(  # the notice's first lines: a bounce's advice may say "verify"
    r"boxbe|guest list|spam ?arrest|approved senders|list of approved"
    r"|(verify|prove|confirm) (that )?you are (a )?(real )?(person|human)"
    r"|awaits moderator approval|is being held until|held for moderation"
    r"|not (on|in) (the recipient's|my) (whitelist|white list|allow ?list)"
    r"|added to (my|the) (whitelist|white list|allow ?list|approved)",
    re.I,
)
# The returned original starts here in text-only bounces; what follows is not the report.
ORIGINAL_FOLLOWS = re.compile(
    r"^[ \t]*(-{2,}|={2,}|_{2,})[^\n]*(message|original|copy|headers|原始邮件|原邮件|元のメール)[^\n]*$"
    r"|^[ \t]*original message (headers|follows)[^\n]*$"
    r"|^[ \t]*-{2,} ?below this line"
    # An inline original's header block with no separator line before it.
    r"|^(return-path|received|dkim-signature):[ \t]"
    r"|^[ \t]*(below is a copy of|start of original message|original message follows"
    r"|the original message headers|returned message follows|headers of the original message"
    r"|message header follows|undelivered message follows)",
    re.I | re.M,
)
_HEADER_LINE = re.compile(r"^[\x21-\x39\x3b-\x7e]+:[ \t]")
# Where an address in the text is not the failed one (a header quoted back, an id, a link).
_SKIP_LINE = re.compile(
    r"^\s*(from|sender|reply-to|return-path|message-id|x-[\w-]+|received|mail from|envelope-from|"
    r"references|in-reply-to|date|subject)\s*:",
    re.I,
)
# An address anywhere in prose; starts only at a token start so a long word is scanned once.
# Latin letters only: Japanese and Chinese reports write words right against the address
# ("发送到li@qq.com的邮件", "foo@example.jpに配信できませんでした").
_LOCAL_CHAR = r"[A-Za-z0-9\u00c0-\u024f.!#$%&'*+/=?^`{|}~_-]"
ADDRESS_IN_TEXT = re.compile(
    rf"(?<!{_LOCAL_CHAR}){_LOCAL_CHAR}++@[A-Za-z0-9\u00c0-\u024f-]++(?:\.[A-Za-z0-9\u00c0-\u024f-]++)++"
)
_HELP_BEFORE = re.compile(
    r"contact|assistance|help ?desk|support|questions|administrator|send mail to|write to", re.I
)
_ID_BEFORE = re.compile(r"message[- _]?id|msgid|queue[- _]?id", re.I)
_ALIAS = (
    # Postfix: <final> (expanded from <original>)
    re.compile(r"<([^<>\s@]++@[^<>\s@]++)>\s*\(expanded from <([^<>\s@]++@[^<>\s@]++)>\)", re.I),
    # Exim: final, then "(generated from original)" or "generated by original"
    re.compile(
        r"^[ \t]+([^\s@]++@[^\s@]++)[ \t]*\n[ \t]+\(?generated (?:from|by) ([^\s@]++@[^\s@)]++)",
        re.I | re.M,
    ),
)
_NOT_RECIPIENT_LOCAL = re.compile(
    r"^(postmaster|mailer-daemon|mailer_daemon|abuse|root|noreply|no-reply|bounces?)$|-bounces?$"
)
# An SMTP reply code ("550 ", "421-", "554:"), not a piece of a number, date or phone number.
_SMTP_REPLY = re.compile(r"(?<![\w.+/:-])([45])[0-5]\d(?=[ :-]|$)(?![ -]\d{2,}[^.\d])", re.M)

# A refusal quoted with its reply and enhanced status code: "550 5.1.1", "452-4.2.2", "554 #5.7.1".
_SMTP_REFUSAL = re.compile(r"(?<![\w.])[45]\d\d[ -]#?[45]\.\d{1,3}\.\d{1,3}(?![\d.])")

# Diagnostics, read when no status code decides (lower-cased text).
_WARNING = re.compile(
    r"warning (message )?only|will be retried|still being retried|will retry|will keep trying"
    r"|not yet been delivered|delivery attempts will continue|temporary problem delivering"
    r"|message not delivered yet|gmail will retry|delayed mail|delivery delayed"
    r"|delay notification|could not be delivered yet|still trying|will (continue to )?attempt"
    r"|(has been|is) delayed|not yet delivered|continue to be attempted"
    # "delayed" and "will keep trying" in other languages
    r"|ritardat|verz[öo]gert|retard[ée]|retrasad|vertraagd|atrasad|op[óo][źz]nion|задерж"
    r"|遅延|延迟|延遲|지연|zpo[žz]d[ěe]n|f[öo]rsenad|forsinke|viiv[äa]sty|k[ée]sleltet"
    r"|continuer[àa] a (tentare|provare)|weiterhin versuch|seguir[áa] intentando|blijft proberen",
    re.I,
)
_PERMANENT_WHY = re.compile(
    r"user unknown|unknown user|no such (user|recipient|mailbox|address|domain|person)"
    r"|(user|recipient|address|mailbox|account) (was )?not found|not found at|address not found"
    r"|does ?n[o']t exist|does not exist|doesn't have a [\w.-]+ account|unknown recipient"
    r"|invalid (recipient|mailbox|address|user)|mailbox (is )?unavailable|mailbox not found"
    r"|no mailbox|account (is |has been )?(disabled|deactivated|closed|deleted)|no longer (valid|active|exists)"
    r"|not listed in|could ?n[o']t be found|could not be found|wasn.t found|unknown or illegal alias"
    r"|host (or domain name )?not found|domain (name )?not found|couldn.t find any host|unrouteable"
    r"|non-existent host|name service error|recipient address rejected|relay access denied"
    r"|not authori[sz]ed to send|permission to post|not (from )?a (list )?member|not allowed to post"
    r"|introuvable|nicht gefunden|unbekannt|no se encontr|inexistente|sconosciuto|onbekend"
    r"|не существует|нет такого|не найден|invalid mailbox"
    r"|用户不存在|用戶不存在|地址不存在|邮箱不存在|郵箱不存在|账户不存在|帳戶不存在|域名不存在|收件人不存在"
    r"|宛先不明|存在しません|ユーザ不明|見つかりません|アカウント.{0,10}無効"
    r"|존재하지 않|찾을 수 없|bulunamad|neexistuje|nie istnieje|nie mo[żz]na odnale[źz][ćc]"
    r"|n[ãa]o existe|no existe|non esiste|bestaat niet|finns inte|existiert nicht"
    r"|n.existe pas|nem l[ée]tezik",
    re.I,
)
# A full mailbox, a quota, greylisting, "try again later": the address exists, it may work later.
_PASSING_WHY = re.compile(
    r"mailbox (is )?full|over ?quota|quota (exceeded|exceed)|exceeded (storage|quota)"
    r"|insufficient (storage|system storage)|storage (full|exceeded)|grey ?list|gray ?list"
    r"|try again later|please try again|temporar|postfach (ist )?voll|boîte pleine"
    r"|buz[oó]n lleno|caixa (postal )?cheia|casella piena|переполнен"
    r"|空间已满|空間已滿|容量已满|邮箱已满|郵箱已滿|已满|稍后重试"
    r"|容量.{0,6}(いっぱい|超過|オーバー)|いっぱい|一時的"
    r"|(postfach|mailbox|bo[îi]te( aux lettres)?|buz[oó]n|casella|caixa|skrzynka|postvak"
    r"|brevl[åa]da|postkasse|schr[áa]nka|posta kutusu)[^.\n]{0,40}"
    r"(\bvoll\b|\bfull\b|pleine|llen[oa]|piena|cheia|pe[łl]na|\bvol\b|pln[áa]|dolu)"
    r"|용량.{0,10}초과|메일함.{0,10}(가득|꽉)|잠시 후 다시|megtelt|t[äa]ynn[äa]|\bdolu\b",
    re.I,
)
# The way there failed (a timeout, a refused connection): weaker than a missing address.
_TEMPORARY_WHY = re.compile(
    r"timed? ?out|connection (refused|reset|dropped|lost)|deferred|rate limit"
    r"|too many (connections|messages)|超时|超時|タイムアウト",
    re.I,
)
_PERMANENT_SAID = re.compile(
    r"permanent (error|failure)|fatal (delivery )?error|i've given up|failed permanently"
    r"|permanent fatal|has been rejected",
    re.I,
)


def header_text(msg: Message, name: str) -> str:
    value = msg.get(name)
    return decode_header_value(str(value)) if value is not None else ""


def sender(msg: Message) -> tuple[str, str]:
    """(display name, lower-case address) of From."""
    name, address = next(iter(safe_getaddresses([header_text(msg, "from")])), ("", ""))
    return name or "", (address or "").lower()


def _part_text(part: Message) -> str:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    label = part.get_content_charset()
    text = decode_bytes(data[:_TEXT_LIMIT], label)
    return html_to_text(text) if part.get_content_subtype() == "html" else text


def report_text(msg: Message) -> str:
    """The report's own prose: its text parts (HTML only where no plain text), never the
    returned original, cut where a text-only report starts quoting the original."""
    plain: list[str] = []
    html: list[str] = []
    budget = _TEXT_TOTAL  # a thousand text parts: the report is in the first ones
    for part in report_parts(msg):
        ctype = part.get_content_type()
        if budget <= 0:
            break
        if ctype == "text/html":
            html.append(_part_text(part))
            budget -= len(html[-1])
        elif ctype == "text/plain" or (part is msg and part.get_content_maintype() == "text"):
            plain.append(_part_text(part))
            budget -= len(plain[-1])
    text = "\n".join(plain) if any(t.strip() for t in plain) else "\n".join(html)
    cut = ORIGINAL_FOLLOWS.search(text)
    return text[: cut.start()] if cut else text


def unquoted(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(">"))


def may_be_bounce(msg: Message) -> bool:
    """What looks_like_bounce needs before any body is read: false for most mail, which then
    costs no decoding here. Exact: looks_like_bounce is false whenever this is."""
    if msg.get("x-failed-recipients") is not None or msg.get("x-ms-exchange-message-is-ndr"):
        return True
    name, address = sender(msg)
    local = address.split("@", 1)[0]
    subject = header_text(msg, "subject")
    return_path = msg.get("return-path")
    return bool(
        local in DAEMON_LOCALPARTS
        or local in _SYSTEM_LOCALPARTS
        or _SYSTEM_LOCAL.match(local)
        or local in ("postmaster", "")
        or _DAEMON_NAMES.search(name)
        or _LIST_MANAGER.search(local)
        or BOUNCE_SUBJECT.search(subject)
        or (return_path is not None and str(return_path).strip() in ("<>", ""))
        or msg.get("auto-submitted") is not None
    )


def list_of_manager(msg: Message) -> str | None:
    """The list a list manager's own address serves ("libs-owner@lists.x" -> "libs@lists.x")."""
    _, address = sender(msg)
    local, _, domain = address.partition("@")
    m = re.fullmatch(r"(.+)-(owner|admin|request|bounces)", local)
    return f"{m.group(1)}@{domain}" if m and domain else None


def json_body(msg: Message) -> str:
    """The first text part when it holds a JSON document (a service's notification), else ""."""
    for part in report_parts(msg):
        if part.get_content_type() in ("text/plain", "application/json"):
            data = part.get_payload(decode=True)
            if isinstance(data, bytes) and data.lstrip()[:1] in (b"{", b"["):
                return decode_bytes(data[: 512 * 1024], part.get_content_charset())
            return ""
    return ""


def looks_like_bounce(msg: Message, text: str) -> bool:
    """From a mail system, by who sent it, its subject, its headers and its opening words."""
    if msg.get("x-failed-recipients") is not None or msg.get("x-ms-exchange-message-is-ndr"):
        return True
    name, address = sender(msg)
    local = address.split("@", 1)[0]
    subject = header_text(msg, "subject")
    bounce_subject = bool(BOUNCE_SUBJECT.search(subject))
    reply = bool(_REPLY_SUBJECT.match(subject))
    phrase = not reply and bool(BODY_PHRASES.search(unquoted(text)[:20_000]))
    if _SUCCESS_SUBJECT.search(subject) and not _FAILURE_WORDS.search(text[:20_000]):
        return False  # a delivery or read receipt, from a mail system too
    if local in DAEMON_LOCALPARTS:
        return bounce_subject or phrase or not reply
    if is_oof_subject(subject) and not bounce_subject:
        return False  # an out-of-office reply may say "if your message could not be delivered"
    system = local in _SYSTEM_LOCALPARTS or _SYSTEM_LOCAL.match(local) or _DAEMON_NAMES.search(name)
    if system and (bounce_subject or phrase):
        return True
    return_path = msg.get("return-path")
    null_sender = return_path is not None and str(return_path).strip() in ("<>", "")
    machine = (
        local in ("postmaster", "")
        or null_sender
        or msg.get("auto-submitted") is not None
        or bool(_LIST_MANAGER.search(local))
    )
    if bounce_subject and machine:
        return True
    head = unquoted(text)[:20_000]
    if bounce_subject and phrase and (ADDRESS_IN_TEXT.search(head) or STATUS.search(head)):
        return True  # a report names whom it failed; a person writing about one need not
    # In any language: a mail system's notice quoting a refusal with its enhanced status code
    # ("Remote Server returned '550 5.1.1 ...'") for an address it names.
    if (machine or system) and _SMTP_REFUSAL.search(head) and ADDRESS_IN_TEXT.search(head):
        return True
    # No known sender or subject: a report's opening words, from no person (no From at all, a
    # null Return-Path, Auto-Submitted), in a mail nobody replied to.
    return phrase and not reply and machine


def is_challenge(msg: Message, text: str) -> bool:
    """A challenge-response or whitelist notice (the mail is held, not refused)."""
    if any(msg.get(h) is not None for h in ("x-boxbe-challenge", "x-challenge", "x-boxbe-id")):
        return True
    name, address = sender(msg)
    head = f"{name} {address} {header_text(msg, 'subject')}"
    if not (CHALLENGE_HEAD.search(head) or CHALLENGE_BODY.search(text[:3000])):
        return False
    # A mail system's failure report that happens to say "whitelist" is still a failure.
    return not BODY_PHRASES.search(unquoted(text)[:20_000])


def _own_addresses(msg: Message) -> set[str]:
    """Addresses a report names that are not recipients: its own sender and receiver."""
    own: set[str] = set()
    for header in ("from", "to", "cc", "reply-to", "return-path", "sender", "delivered-to"):
        for _, a in safe_getaddresses([header_text(msg, header)]):
            if a:
                own.add(a.lower())
    return own


def original_message(msg: Message) -> Message | None:
    """The returned original (attached message or headers), parsed; None when not returned."""
    for part in report_parts(msg):
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/global", "text/rfc822-headers",
                     "message/global-headers"):  # fmt: skip
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
            data = part.get_payload(decode=True)
            return parse_bytes(data[:_TEXT_LIMIT]) if isinstance(data, bytes) else None
    return None


def original_recipients(msg: Message, text_body: str = "") -> list[str]:
    """To and Cc of the returned original, attached or quoted after the report's text."""
    original = original_message(msg)
    if original is None and text_body:
        cut = ORIGINAL_FOLLOWS.search(text_body)
        if cut:
            # From the separator's line on; the separator itself ("--- Below this line...")
            # is dropped, a header line the cut stopped at ("Received: ...") kept.
            quoted = text_body[cut.start() : cut.start() + _TEXT_LIMIT].lstrip("\r\n")
            first, _, rest = quoted.partition("\n")
            if not _HEADER_LINE.match(first):
                quoted = rest.lstrip("\r\n")
            original = parse_bytes(quoted.encode("utf-8", "replace"))
    if original is None:
        return []
    values = [header_text(original, h) for h in ("to", "cc")]
    found = [a.lower() for _, a in safe_getaddresses(values) if a and "@" in a]
    return list(dict.fromkeys(found))


def original_senders(msg: Message) -> set[str]:
    original = original_message(msg)
    if original is None:
        return set()
    values = [header_text(original, h) for h in ("from", "sender", "reply-to", "return-path")]
    return {a.lower() for _, a in safe_getaddresses(values) if a}


def text_recipients(msg: Message, text: str) -> list[str]:
    """Failed addresses named in the report's prose, originals of aliases first.

    Every address in the text except the report's own parties, the returned mail's sender and
    quoted header lines; where the report expanded an alias, the alias it was expanded from.
    """
    own = _own_addresses(msg) | original_senders(msg)
    aliased: dict[str, str] = {}
    for pattern in _ALIAS:
        for m in pattern.finditer(text):
            final, original = clean_address(m.group(1)), clean_address(m.group(2))
            if original:
                aliased[final or m.group(1).lower()] = original
    found: list[str] = []
    for line in text.splitlines():
        if _SKIP_LINE.match(line):
            continue
        for m in ADDRESS_IN_TEXT.finditer(line[:2000]):
            start = m.start()
            before = line[max(0, start - 40) : start].lower()
            if before.endswith(("http://", "https:/", "www.", "/")) or _ID_BEFORE.search(before):
                continue  # a link, or a Message-ID quoted back ("Original message ID: <..>")
            if _HELP_BEFORE.search(before):
                continue  # "for assistance, contact helpdesk@..."
            address = clean_address(m.group(0).rstrip(".").strip("'\""))
            if not address or address in own:
                continue
            if _NOT_RECIPIENT_LOCAL.search(address.split("@", 1)[0]):
                continue
            found.append(aliased.get(address, address))
            if len(found) > _MAX_CANDIDATES:
                break
    originals = set(aliased.values())
    # An alias target named on its own (in a diagnostic) is the same failure as its alias.
    result = [a for a in dict.fromkeys(found) if a not in aliased or a in originals]
    return result


def status_permanence(text: str) -> bool | None:
    """True for a 5xx / 5.x.x in the text, False for only 4xx / 4.x.x, None without codes."""
    classes = {m.group(1) for m in STATUS.finditer(text)}
    classes |= {m.group(1) for m in _SMTP_REPLY.finditer(text)}
    if "5" in classes:
        return True
    return False if "4" in classes else None


def diagnostic_permanence(text: str) -> bool | None:
    """From the words: a warning or a passing condition (full, quota, greylisted) is
    temporary; then a missing address or domain is permanent; then a failed connection is
    temporary; the reporter's own "permanent error" counts last."""
    if _WARNING.search(text) or _PASSING_WHY.search(text):
        return False
    if _PERMANENT_WHY.search(text):
        return True
    if _TEMPORARY_WHY.search(text):
        return False
    if _PERMANENT_SAID.search(text):
        return True
    return None


def permanence(text: str) -> bool | None:
    """The status code decides; else the diagnostic (read in the report's first 20,000
    characters: a diagnostic further down is a quoted original's text, or an attack)."""
    text = text[:_DIAGNOSTIC_LIMIT]
    stated = status_permanence(text)
    return stated if stated is not None else diagnostic_permanence(text)
