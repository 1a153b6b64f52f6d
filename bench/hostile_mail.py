"""Odd and hostile mail for `bench/hostile.py`, generated deterministically.

`mail_at(i, n, seed)` builds the i-th of n mails from `random.Random(f"{seed}/{i}")` alone, so
any mail can be rebuilt on its own (the raw-limit run and the mailflow run send the same bytes,
and a failure can be looked at with `python bench/hostile.py --write DIR`). The kinds and their
shares are in KINDS; the valid mail comes from bench/corpus.py.

Every mail carries a serial (`X-Bench-Serial`, or in the body when the kind forbids headers),
so no two are duplicates of each other.
"""

from __future__ import annotations

import base64
import io
import random
import zipfile
from dataclasses import dataclass
from email.utils import format_datetime

from corpus import PROGRAM, T0, corpus

STAFF = "coordinator@program.example"
PROGRAM_DOMAIN = PROGRAM.split("@")[1]

# kind, share of n (heavy kinds get at least one mail, and a fixed small count).
KINDS: tuple[tuple[str, float], ...] = (
    ("valid:application", 0.12),
    ("valid:reply", 0.08),
    ("valid:bounce", 0.03),
    ("valid:auto_reply", 0.03),
    ("valid:misc", 0.03),
    ("forged_bounce", 0.04),
    ("autoreply_no_rfc3834", 0.04),
    ("mime_fuzz", 0.12),
    ("bad_charset", 0.08),
    ("control_chars", 0.06),
    ("odd_ids", 0.06),
    ("intl_address", 0.06),
    ("nested_comments", 0.02),
    ("deep_mime", 0.02),
    ("degenerate", 0.04),
    ("staff_spoof", 0.02),
    ("odd_token", 0.02),
    ("odd_headers", 0.04),
    ("long_line", 0.003),
    ("junk_headers", 0.001),
    ("long_word", 0.001),
    ("nested_docx", 0.002),
    ("huge", 0.001),
)

CRLF = b"\r\n"
IDN_DOMAINS = ["图书馆.中国", "bücher.example.de", "библиотека.рф", "εκπαίδευση.gr", "ÿ.example"]
UNICODE_LOCALS = ["李明", "josé.garcía", "владимир", "δοκιμή", "मानक", "ü", "😀"]
CHARSETS_BAD = [
    "x-unknown", "utf-7", "utf-16", "utf-32", "gb2312", "bogus\"charset", "", "iso-8859-1",
    "windows-1258", "unicode-1-1-utf-7", "ks_c_5601-1987", "x-mac-roman", "cp65001",
    "utf-8\x00", "big5-hkscs", "iso-2022-kr", "hz-gb-2312", "ibm037", "koi8-u", "tis-620",
]  # fmt: skip
ENCODINGS = [b"base64", b"quoted-printable", b"8bit", b"7bit", b"binary", b"x-uuencode",
             b"bogus", b"BASE64 ", b"", b"quoted-printable; extra"]  # fmt: skip
CONTENT_TYPES = [b"text/plain", b"text/html", b"application/octet-stream", b"image/png",
                 b"text/calendar", b"application/pdf", b"text/enriched", b"message/delivery-status",
                 b"application/ms-tnef", b"text", b"/", b"multipart", b"text/plain/extra"]  # fmt: skip
APPLICATION_LINES = [
    "Library name: Biblioteca de {x}", "Type of library: Public", "Country: Spain",
    "City: {x}", "Contact person: Ana {x}", "Working languages: Spanish, English",
    "Interests: children's reading",
]  # fmt: skip


@dataclass(frozen=True)
class Mail:
    index: int
    kind: str  # "mime_fuzz" or "mime_fuzz/broken-boundary": the variant after the slash
    envelope_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes


def kinds_for(n: int, seed: int) -> list[str]:
    """Exactly the KINDS shares of n (heavy ones at least once), in a seeded order."""
    kinds: list[str] = []
    for kind, share in KINDS:
        kinds += [kind] * max(1, round(n * share))
    kinds = (kinds + ["valid:application"] * n)[:n]
    random.Random(seed).shuffle(kinds)
    return kinds


class Valid:
    """Valid program mail from bench/corpus.py, built once per run (it is small)."""

    def __init__(self, kinds: list[str], seed: int) -> None:
        wanted = {k.split(":")[1]: kinds.count(k) for k in set(kinds) if k.startswith("valid:")}
        self.pool: dict[str, list[bytes]] = {}
        # corpus() draws its own mix; ask for enough mail that each kind has what it needs.
        size = max(50, 4 * max(wanted.values(), default=0))
        from corpus import kinds_for as corpus_kinds

        for kind, raw in zip(corpus_kinds(size, seed), corpus(size, seed), strict=True):
            self.pool.setdefault(kind, []).append(raw)
        self.taken: dict[str, int] = {}

    def take(self, kind: str) -> bytes:
        pool = self.pool[kind]
        at = self.taken.get(kind, 0)
        self.taken[kind] = at + 1
        raw = pool[at % len(pool)]
        return raw if at < len(pool) else raw.replace(b"Message-ID: <", b"Message-ID: <%d." % at)


class Generator:
    def __init__(self, n: int, seed: int = 9) -> None:
        self.n, self.seed = n, seed
        self.kinds = kinds_for(n, seed)
        self._valid: Valid | None = None
        self._valid_cache: dict[int, bytes] = {}

    def __len__(self) -> int:
        return self.n

    def valid(self) -> Valid:
        if self._valid is None:
            self._valid = Valid(self.kinds, self.seed)
            # Fixed per index: whoever asks first, mail i is always the same bytes.
            for i, kind in enumerate(self.kinds):
                if kind.startswith("valid:"):
                    self._valid_cache[i] = self._valid.take(kind.split(":")[1])
        return self._valid

    def mail(self, i: int) -> Mail:
        kind = self.kinds[i]
        rng = random.Random(f"{self.seed}/{i}")
        if kind.startswith("valid:"):
            self.valid()
            raw = self._valid_cache[i]
            sender = _envelope_of(raw)
            return Mail(i, kind, sender, (PROGRAM,), raw)
        build = getattr(Builder(rng, i), kind)
        variant, sender, rcpts, raw = build()
        return Mail(i, f"{kind}/{variant}" if variant else kind, sender, rcpts, raw)


def _envelope_of(raw: bytes) -> str:
    head = raw.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"return-path:"):
            return line.split(b":", 1)[1].strip().strip(b"<>").decode()
    return "someone@example.org"


def b64_lines(data: bytes, width: int = 76) -> bytes:
    encoded = base64.b64encode(data)
    return CRLF.join(encoded[i : i + width] for i in range(0, len(encoded), width))


def fold(value: bytes, width: int = 900) -> bytes:
    """Fold a long header value at spaces or, failing that, anywhere (keeps SMTP lines short)."""
    out, line = [], b""
    for word in value.split(b" "):
        while len(word) > width:
            if line:
                out.append(line)
            out.append(word[:width])
            line, word = b"", word[width:]
        if len(line) + len(word) + 1 > width and line:
            out.append(line)
            line = word
        else:
            line = line + b" " + word if line else word
    out.append(line)
    return b"\r\n ".join(out)


class Builder:
    def __init__(self, rng: random.Random, i: int) -> None:
        self.rng, self.i = rng, i

    # -- pieces ---------------------------------------------------------------------------------
    def addr(self) -> str:
        return f"user{self.i}.{self.rng.randrange(10**6)}@lib{self.rng.randrange(500)}.example.org"

    def date(self) -> bytes:
        return format_datetime(T0).encode()

    def head(
        self,
        sender: bytes,
        subject: bytes = b"Hello",
        message_id: bytes | None = None,
        extra: bytes = b"",
        mime: bytes = b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n",
    ) -> bytes:
        mid = message_id if message_id is not None else b"<h.%d@client.example>" % self.i
        return (
            b"Return-Path: <bench@example.org>\r\n"
            b"From: " + sender + CRLF + b"To: " + PROGRAM.encode() + CRLF
            + b"Subject: " + subject + CRLF + b"Date: " + self.date() + CRLF
            + (b"Message-ID: " + mid + CRLF if mid else b"")
            + b"X-Bench-Serial: %d\r\n" % self.i + extra + mime
        )  # fmt: skip

    def application_text(self) -> str:
        x = f"Ciudad{self.i}"
        lines = [line.format(x=x) for line in APPLICATION_LINES]
        self.rng.shuffle(lines)
        return "Dear program team,\n\n" + "\n".join(lines) + "\n\nRegards\n"

    def text(self, words: int = 30) -> str:
        vocab = ["library", "books", "partner", "yes", "no", "reading", "图书馆", "合作", "été",
                 "Bibliothek", "库", "😀", "\u200b", "\u202e", "ok", "MOU", "accept", "decline"]  # fmt: skip
        return " ".join(self.rng.choice(vocab) for _ in range(words))

    def plain(self, sender: str, body: bytes, subject: bytes = b"Hello", **kw: bytes) -> bytes:
        return self.head(sender.encode(), subject, **kw) + CRLF + body

    def ret(self, variant: str, raw: bytes, sender: str | None = None, rcpts=(PROGRAM,)):  # noqa: ANN001, ANN201
        return variant, sender if sender is not None else "bench@example.org", tuple(rcpts), raw

    # -- kinds ----------------------------------------------------------------------------------
    def forged_bounce(self):  # noqa: ANN201
        rng = self.rng
        failed = self.addr()
        variant = rng.choice(["ours-id", "random-id", "no-report", "from-person", "broken-report"])
        ours = f"<mf.{rng.getrandbits(40):010x}@{PROGRAM_DOMAIN}>"
        mid = ours if variant == "ours-id" else f"<x{rng.getrandbits(30)}@elsewhere.example>"
        status = rng.choice(["5.1.1", "4.2.2", "5.7.1", "9.9.9", "5.1.1 extra", ""])
        report = (
            f"Reporting-MTA: dns; mx.evil.example\r\n\r\nFinal-Recipient: rfc822; {failed}\r\n"
            f"Action: failed\r\nStatus: {status}\r\n"
        )
        if variant == "broken-report":
            report = report.replace("\r\n\r\n", "\r\n") + "Final-Recipient: ;;;\r\n\r\n\r\n"
        boundary = f"b{self.i}"
        sender = "MAILER-DAEMON@mx.evil.example" if variant != "from-person" else self.addr()
        if variant == "no-report":
            body = (
                f"Your message to {failed} could not be delivered.\r\n"
                f"Message-ID: {mid}\r\nUser unknown\r\n"
            )
            raw = self.plain(sender, body.encode(), b"Undelivered Mail Returned to Sender")
        else:
            body = (
                f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
                f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n{report}"
                f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
                f"From: {PROGRAM}\r\nTo: {failed}\r\nMessage-ID: {mid}\r\n\r\n--{boundary}--\r\n"
            )
            mime = (
                b"MIME-Version: 1.0\r\nContent-Type: multipart/report; "
                b'report-type=delivery-status; boundary="' + boundary.encode() + b'"\r\n'
            )
            raw = self.head(sender.encode(), b"Delivery Status Notification (Failure)", mime=mime)
            raw += CRLF + body.encode()
        return self.ret(variant, raw, sender="" if "MAILER" in sender else sender)

    def autoreply_no_rfc3834(self):  # noqa: ANN201
        rng = self.rng
        sender = self.addr()
        subject = rng.choice([
            "Out of office", "Automatic reply: Application", "Re: Your application",
            "Abwesenheitsnotiz", "自动回复：申请", "I am away", "Vacation",
        ])  # fmt: skip
        body = rng.choice([
            "I am out of the office until Monday. For urgent matters call the library.",
            "Thank you for your mail. I will answer when I am back on 3 December.",
            "Ich bin bis 5.12. nicht im Büro.", "我正在休假，12月5日返回。",
        ])  # fmt: skip
        return self.ret("", self.plain(sender, body.encode(), _ew(subject)), sender)

    def mime_fuzz(self):  # noqa: ANN201
        rng = self.rng
        variant = rng.choice(["tree", "broken-boundary", "no-close", "boundary-in-body",
                              "empty-boundary", "rfc822-inside", "bad-cte", "odd-params"])  # fmt: skip
        depth = rng.randrange(1, 8)
        body = self.part_tree(depth, variant)
        head, sep, rest = body.partition(b"\r\n\r\n")
        sender = self.addr()
        mime = b"MIME-Version: 1.0\r\n" + head + CRLF
        raw = self.head(sender.encode(), b"Fuzz " + variant.encode(), mime=mime) + CRLF + rest
        return self.ret(variant, raw, sender)

    def part_tree(self, depth: int, variant: str) -> bytes:
        """A MIME entity: headers, blank line, body. Broken in the way `variant` says."""
        rng = self.rng
        if depth <= 0 or rng.random() < 0.3:
            return self.leaf(variant)
        boundary = f"=_b{self.i}_{depth}_{rng.randrange(1000)}".encode()
        if variant == "empty-boundary" and rng.random() < 0.5:
            boundary = b""
        subtype = rng.choice([b"mixed", b"alternative", b"related", b"signed", b"x-weird",
                              b"report", b"digest"])  # fmt: skip
        head = b"Content-Type: multipart/" + subtype + b'; boundary="' + boundary + b'"\r\n'
        if variant == "odd-params":
            head = (
                b"Content-Type: multipart/"
                + subtype
                + b"; boundary="
                + boundary
                + (b"; boundary=\"other\"; charset*=utf-8''%FF%00; name*0*=x; name*2=y\r\n")
            )
        parts = []
        for _ in range(rng.randrange(0, 4)):
            if variant == "rfc822-inside" and rng.random() < 0.4:
                inner = self.head(self.addr().encode(), b"inner", mime=b"") + CRLF
                inner += self.part_tree(depth - 1, "tree")
                parts.append(b"Content-Type: message/rfc822\r\n\r\n" + inner)
            else:
                parts.append(self.part_tree(depth - 1, variant))
        delimiter = b"--" + boundary
        if variant == "broken-boundary" and rng.random() < 0.5:
            delimiter = b"--" + boundary[:-1]  # the parts never start
        body = b"This is a multi-part message.\r\n"
        for part in parts:
            body += delimiter + CRLF + part + CRLF
            if variant == "boundary-in-body":
                body += (
                    b"text that mentions --" + boundary + b" mid-line\r\n--" + boundary + b"x\r\n"
                )
        if variant != "no-close" or rng.random() < 0.3:
            body += delimiter + b"--\r\n"
        return head + CRLF + body

    def leaf(self, variant: str) -> bytes:
        rng = self.rng
        ctype = rng.choice(CONTENT_TYPES)
        charset = rng.choice(["utf-8", "us-ascii", "gb18030", *CHARSETS_BAD[:6]]).encode()
        cte = (
            rng.choice(ENCODINGS)
            if variant == "bad-cte"
            else rng.choice([b"base64", b"quoted-printable", b"8bit"])
        )
        text = (self.application_text() if rng.random() < 0.3 else self.text()).encode()
        if cte.strip().lower() == b"base64":
            payload = b64_lines(text)
            if variant == "bad-cte":
                payload = payload[: len(payload) - rng.randrange(1, 4)] + b"!!=="
        elif cte.lower().startswith(b"quoted"):
            payload = text.replace(b"=", b"=3D")
            if variant == "bad-cte":
                payload += b"=\r\n=ZZ=4=\r\n=="
        else:
            payload = text
        head = b"Content-Type: " + ctype + b"; charset=" + charset + CRLF
        head += b"Content-Transfer-Encoding: " + cte + CRLF
        if rng.random() < 0.3:
            name = rng.choice([b"form.txt", b"=?utf-8?q?f=C3=A9?=.txt", b"\xe6\x96\x87.txt",
                               b"a\x00b.txt", b"../../etc/passwd", b"x" * 300])  # fmt: skip
            head += b'Content-Disposition: attachment; filename="' + name + b'"\r\n'
        return head + CRLF + payload

    def bad_charset(self):  # noqa: ANN201
        rng = self.rng
        variant = rng.choice(["body", "encoded-word", "raw-8bit-header", "mislabelled"])
        charset = rng.choice(CHARSETS_BAD)
        sender = self.addr()
        body = self.application_text()
        if variant == "body":
            data = body.encode("utf-8") + bytes(rng.randrange(128, 256) for _ in range(40))
            mime = b'MIME-Version: 1.0\r\nContent-Type: text/plain; charset="%s"\r\n' % (
                charset.encode("utf-8", "replace")
            )
            return self.ret(variant, self.head(sender.encode(), mime=mime) + CRLF + data, sender)
        if variant == "encoded-word":
            words = [
                b"=?" + charset.encode("utf-8", "replace") + b"?B?5p2O5piO?=",
                b"=?utf-8?Q?unterminated", b"=?utf-8?B?not base64!?=", b"=?utf-8?X?x?=",
                b"=?gb2312?B?" + base64.b64encode("申请".encode("gb18030")) + b"?=",
                b"=?utf-16?B?AP8A?=", b"=?utf-8*zh?Q?=E7=94=B3?=", b"=??B??=",
            ]  # fmt: skip
            subject = b" ".join(rng.sample(words, 3))
            name = rng.choice(words)
            raw = self.head(name + b" <" + sender.encode() + b">", subject)
            return self.ret(variant, raw + CRLF + body.encode(), sender)
        if variant == "raw-8bit-header":
            enc = rng.choice(["latin-1", "gb18030", "utf-8", "shift_jis", "cp1251"])
            subject = "Solicitud de biblioteca – ñandú 申请".encode(enc, "replace")
            name = "José Müller 王".encode(enc, "replace")
            raw = self.head(name + b" <" + sender.encode() + b">", subject)
            return self.ret(variant, raw + CRLF + body.encode(enc, "replace"), sender)
        # Declared one charset, written in another.
        real = rng.choice(["gb18030", "utf-16", "latin-1", "big5"])
        data = ("图书馆名称：测试图书馆\n城市：杭州\n" + body).encode(real, "replace")
        mime = b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        mime += b"Content-Transfer-Encoding: base64\r\n"
        raw = self.head(sender.encode(), b"=?utf-8?B?55Sz6K+3?=", mime=mime) + CRLF
        return self.ret(variant, raw + b64_lines(data), sender)

    def control_chars(self):  # noqa: ANN201
        rng = self.rng
        controls = [b"\x00", b"\x01", b"\x07", b"\x08", b"\x0b", b"\x0c", b"\x1b", b"\x7f",
                    b"\r", b"\xc2\x85", b"\xc2\x9b", b"\xe2\x80\xa8", b"\xef\xbf\xbf"]  # fmt: skip

        def sprinkle(value: bytes) -> bytes:
            out = bytearray()
            for byte in value:
                out.append(byte)
                if rng.random() < 0.15:
                    out += rng.choice(controls)
            return bytes(out)

        variant = rng.choice(["subject", "from", "message-id", "body", "all", "filename"])
        sender = self.addr()
        name = b'"Ana Lopez"'
        subject, mid = b"Application: sister library", b"<c.%d@client.example>" % self.i
        body = self.application_text().encode()
        if variant in ("subject", "all"):
            subject = sprinkle(subject)
        if variant in ("from", "all"):
            name = sprinkle(name)
        if variant in ("message-id", "all"):
            mid = sprinkle(mid)
        if variant in ("body", "all"):
            body = sprinkle(body)
        mime = b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        if variant == "filename":
            mime = b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="f"\r\n'
            body = (
                b"--f\r\nContent-Type: text/plain\r\n\r\n" + body + b"\r\n--f\r\n"
                b'Content-Type: text/plain; name="a\x00\x1b.txt"\r\nContent-Disposition: '
                b"attachment; filename*=utf-8''%00%07evil.txt\r\n\r\nLibrary name: X\x00\r\n--f--\r\n"
            )
        raw = self.head(name + b" <" + sender.encode() + b">", subject, mid, mime=mime)
        raw = raw.replace(b"\r\r\n", b"\r\n")  # keep header lines intact for the SMTP client
        return self.ret(variant, raw + CRLF + body, sender)

    def odd_ids(self):  # noqa: ANN201
        rng = self.rng
        i = self.i
        choices = [
            f"申请.{i}@图书馆.中国", f"no-brackets-{i}@x", "", "<>", "<<>>", f"a b c {i} @ x",
            f"<{'y' * 1500}@x>", f"<x{i}@[127.0.0.1]>", f"<mf.{rng.getrandbits(40):010x}@program.example>",
            f"(comment) <c{i}@x>", f"<x{i}@x> <second@x>", f"<\xe9\xe8{i}@x>", f"<{i}@>", f"<@{i}>",
            f"<x{i}@x", f"x{i}@x>",
        ]  # fmt: skip
        variant = rng.choice(["message-id", "references", "in-reply-to", "duplicate", "missing"])
        sender = self.addr()
        mid = rng.choice(choices).encode("utf-8", "surrogateescape")
        extra = b""
        if variant == "references":
            refs = b" ".join(rng.choice(choices).encode() for _ in range(rng.randrange(1, 400)))
            extra = b"References: " + fold(refs) + CRLF
        elif variant == "in-reply-to":
            extra = b"In-Reply-To: " + fold(rng.choice(choices).encode()) + CRLF
        elif variant == "duplicate":
            extra = b"Message-ID: <dup%d@x>\r\nMessage-ID: <dup2.%d@x>\r\n" % (self.i, self.i)
        if variant == "missing":
            mid = b""
        elif variant != "message-id":
            mid = b"<o.%d@client.example>" % self.i
        raw = self.head(sender.encode(), b"Re: Application", fold(mid) if mid else mid, extra)
        body = (self.application_text() if rng.random() < 0.5 else "Yes, we accept.").encode()
        return self.ret(variant, raw + CRLF + body, sender)

    def intl_address(self):  # noqa: ANN201
        rng = self.rng
        local = rng.choice(UNICODE_LOCALS)
        domain = rng.choice(IDN_DOMAINS)
        variant = rng.choice(["utf8-local", "idn-domain", "a-label", "bad-a-label", "group",
                              "many", "no-address", "quoted-local"])  # fmt: skip
        envelope = f"{local}{self.i}@{domain}"
        if variant == "utf8-local":
            header = f"{local} <{local}{self.i}@{domain}>"
        elif variant == "idn-domain":
            envelope = f"ascii{self.i}@{domain}"
            header = f"Ascii <{envelope}>"
        elif variant == "a-label":
            envelope = f"a{self.i}@" + "图书馆.中国".encode("idna").decode()
            header = envelope
        elif variant == "bad-a-label":
            envelope = f"b{self.i}@xn--zz--.xn--"
            header = f"Bad <{envelope}>"
        elif variant == "group":
            header = f"Libraries: {local}{self.i}@{domain}, other@x.example;"
        elif variant == "many":
            header = ", ".join(f"{local}{k}.{self.i}@{domain}" for k in range(rng.randrange(2, 60)))
        elif variant == "quoted-local":
            envelope = f"q{self.i}@example.org"
            header = f'"john..doe {self.i}"@example.org'
        else:
            header = "undisclosed-recipients:;"
            envelope = f"n{self.i}@example.org"
        body = self.application_text().replace("Ana", local)
        body += f"Contact email: {envelope}\n"
        subject = "申请姐妹图书馆".encode()
        raw = self.head(fold(header.encode()), subject, b"<i.%d@%s>" % (self.i, domain.encode()))
        return self.ret(variant, raw + CRLF + body.encode(), envelope)

    def nested_comments(self):  # noqa: ANN201
        rng = self.rng
        levels = rng.choice([40, 100, 500, 1000, 3000])
        variant = rng.choice(["balanced", "unclosed", "in-address", "escaped"])
        opening = CRLF.join(b" " + b"(a" * 30 for _ in range(levels // 30)) + b"(a" * (levels % 30)
        closing = b"" if variant == "unclosed" else CRLF + b" " + b")" * min(levels, 900)
        if variant == "escaped":
            opening = opening.replace(b"(a", b"(\\(")
        sender = self.addr()
        if variant == "in-address":
            value = b"Ana <" + sender.encode().replace(b"@", b"@" + opening) + closing + b">"
        else:
            value = b"Ana" + opening + closing + b" <" + sender.encode() + b">"
        body = self.application_text().encode()
        return self.ret(variant, self.head(value, b"Application") + CRLF + body, sender)

    def deep_mime(self):  # noqa: ANN201
        rng = self.rng
        levels = rng.choice([30, 45, 100, 300])
        variant = rng.choice(["multipart", "rfc822"])
        if variant == "multipart":
            opening = b"".join(
                b'Content-Type: multipart/mixed; boundary="d%d"\r\n\r\n--d%d\r\n' % (k, k)
                for k in range(levels)
            )
            closing = b"".join(b"\r\n--d%d--\r\n" % k for k in reversed(range(levels)))
        else:
            opening = b"Content-Type: message/rfc822\r\n\r\nSubject: in\r\n" * levels
            closing = b""
        body = opening + b"Content-Type: text/plain\r\n\r\n" + self.application_text().encode()
        sender = self.addr()
        raw = self.head(sender.encode(), b"Deep", mime=b"MIME-Version: 1.0\r\n")
        return self.ret(f"{variant}-{levels}", raw + body + closing, sender)

    def degenerate(self):  # noqa: ANN201
        rng = self.rng
        variant = rng.choice(["empty", "headers-only", "no-headers", "garbage", "bare-lf",
                              "no-colon", "mbox-from", "dots", "bad-date", "long-subject",
                              "continuation-first"])  # fmt: skip
        sender = self.addr()
        serial = b"serial %d\r\n" % self.i
        if variant == "empty":
            raw = b"X-Bench-Serial: %d\r\n\r\n" % self.i
        elif variant == "headers-only":
            raw = self.head(sender.encode())
        elif variant == "no-headers":
            raw = CRLF + self.application_text().encode() + serial
        elif variant == "garbage":
            raw = bytes(rng.randrange(256) for _ in range(rng.randrange(10, 3000))).replace(
                b"\n", b"\r\n"
            ).replace(b"\r\r", b"\r") + CRLF + serial  # fmt: skip
            raw = b"\r\n".join(raw[k : k + 500] for k in range(0, len(raw), 500))
        elif variant == "bare-lf":
            raw = self.plain(sender, self.application_text().encode()).replace(CRLF, b"\n")
        elif variant == "no-colon":
            raw = b"From " + sender.encode() + b"\r\nthis is not a header\r\n" + serial
            raw += CRLF + b"body"
        elif variant == "mbox-from":
            raw = b"From " + sender.encode() + b" Sat Nov 21 09:00:00 2026\r\n"
            raw += self.plain(sender, self.application_text().encode())
        elif variant == "dots":
            raw = self.plain(sender, b".\r\n..\r\n.x\r\n" * 50)
        elif variant == "bad-date":
            raw = self.plain(sender, b"Hello").replace(
                self.date(), rng.choice([b"Sat, 99 Nov 99999 99:99:99 -9999", b"yesterday", b""])
            )
        elif variant == "long-subject":
            subject = fold(("Application " * rng.randrange(100, 5000)).encode())
            raw = self.plain(sender, self.application_text().encode(), subject)
        else:
            raw = b" continued\r\n" + self.plain(sender, b"Hello")
        return self.ret(variant, raw, sender)

    def staff_spoof(self):  # noqa: ANN201
        rng = self.rng
        command = rng.choice(["approve p1", "pair 1 2", "status", "merge 1 2", "decline p1",
                              "contact 1 evil@x.example", "hold 1", "approve n1", "c123"])  # fmt: skip
        extra = b""
        if rng.random() < 0.5:  # a forged verdict from an untrusted host
            extra = (
                b"Authentication-Results: evil.example; dmarc=pass header.from=program.example\r\n"
            )
        raw = self.plain(
            f"Coordinator <{STAFF}>", command.encode() + CRLF, b"Re: [SL]", extra=extra
        )
        return self.ret(command.split()[0], raw, STAFF)

    def odd_token(self):  # noqa: ANN201
        rng = self.rng
        local, domain = PROGRAM.split("@")
        token = rng.choice(["p1.AAAA", "x" * 200, "%00", "p1.%s" % ("A" * 40), "n1.zz", "..", "+"])
        rcpt = f"{local}+{token}@{domain}"
        sender = self.addr()
        body = rng.choice([b"Yes, we accept.", b"No.", b"approve", b"Library name: X\r\n"])
        raw = self.head(
            sender.encode(), b"Re: Proposed partnership", extra=b"To: %s\r\n" % rcpt.encode()
        )
        return self.ret("", raw + CRLF + body, sender, rcpts=(rcpt, "stranger@elsewhere.example"))

    def odd_headers(self):  # noqa: ANN201
        rng = self.rng
        variant = rng.choice(["many-to", "huge-header", "auth-results", "list-headers",
                              "precedence", "dup-from", "no-from", "empty-from"])  # fmt: skip
        sender = self.addr()
        body = self.application_text().encode()
        if variant == "many-to":
            extra = b"Cc: " + fold(b", ".join(b"c%d@x.example" % k for k in range(2000))) + CRLF
            raw = self.head(sender.encode(), extra=extra)
        elif variant == "huge-header":
            extra = b"X-Junk: " + fold(b"a " * rng.randrange(10_000, 200_000)) + CRLF
            raw = self.head(sender.encode(), extra=extra)
        elif variant == "auth-results":
            extra = b"Authentication-Results: " + fold(b"x; dkim=pass " * 200) + CRLF
            extra += b"DKIM-Signature: v=1; a=rsa-sha256; d=x; s=y; b=AAAA; bh=BBBB\r\n"
            raw = self.head(sender.encode(), extra=extra)
        elif variant == "list-headers":
            extra = (
                b"List-Id: <libs.lists.example>\r\nPrecedence: list\r\nList-Unsubscribe: <x>\r\n"
            )
            raw = self.head(sender.encode(), extra=extra)
        elif variant == "precedence":
            extra = b"Precedence: bulk\r\nAuto-Submitted: auto-generated\r\n"
            raw = self.head(sender.encode(), extra=extra)
        elif variant == "dup-from":
            raw = self.head(sender.encode(), extra=b"From: other%d@x.example\r\n" % self.i)
        elif variant == "no-from":
            raw = self.head(sender.encode()).replace(b"From: " + sender.encode() + CRLF, b"")
        else:
            raw = self.head(b"")
        return self.ret(variant, raw + CRLF + body, sender)

    def long_line(self):  # noqa: ANN201
        """Unencoded lines past SMTP's 1,000 octets: what the endpoint does with them is counted."""
        length = self.rng.choice([1200, 5000, 70_000])
        sender = self.addr()
        body = self.application_text().encode() + b"x" * length + CRLF
        return self.ret(str(length), self.plain(sender, body), sender)

    def junk_headers(self):  # noqa: ANN201
        sender = self.addr()
        junk = b"".join(
            b"X-Junk-%d: %08x\r\n" % (k, self.rng.getrandbits(32)) for k in range(30_000)
        )
        raw = self.head(sender.encode(), b"Application", extra=junk)
        return self.ret("30000", raw + CRLF + self.application_text().encode(), sender)

    def long_word(self):  # noqa: ANN201
        rng = self.rng
        word = bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(300_000))
        variant = rng.choice(["plain-b64", "html-qp", "subject-and-body"])
        sender = self.addr()
        if variant == "html-qp":
            html = b"<html><body><p>" + word + b"</p></body></html>"
            mime = b"MIME-Version: 1.0\r\nContent-Type: text/html\r\n"
            mime += b"Content-Transfer-Encoding: quoted-printable\r\n"
            payload = b"=\r\n".join(html[k : k + 75] for k in range(0, len(html), 75))
        else:
            mime = b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            mime += b"Content-Transfer-Encoding: base64\r\n"
            payload = b64_lines(self.application_text().encode() + word)
        subject = fold(word[:50_000]) if variant == "subject-and-body" else b"Application"
        raw = self.head(sender.encode(), subject, mime=mime) + CRLF + payload
        return self.ret(variant, raw, sender)

    def nested_docx(self):  # noqa: ANN201
        rng = self.rng
        variant = rng.choice(["nested-paragraphs", "nested-tables", "bomb", "not-a-zip"])
        levels = rng.choice([1000, 5000, 20_000])
        if variant == "nested-paragraphs":
            xml = (
                b"<w:p><w:r>" * levels + b"<w:t>Library name: Docx</w:t>" + b"</w:r></w:p>" * levels
            )
        elif variant == "nested-tables":
            xml = b"<w:tbl><w:tr><w:tc>" * levels + b"<w:p><w:t>x</w:t></w:p>"
            xml += b"</w:tc></w:tr></w:tbl>" * levels
        else:
            xml = (
                b"<w:p><w:r><w:t>"
                + b"Library " * rng.choice([2_000_000, 6_000_000])
                + b"</w:t></w:r></w:p>"
            )
        document = (
            b'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.'
            b'openxmlformats.org/wordprocessingml/2006/main"><w:body>'
            + xml
            + b"</w:body></w:document>"
        )
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("[Content_Types].xml", "<Types/>")
            archive.writestr("word/document.xml", document)
        data = buffer.getvalue() if variant != "not-a-zip" else b"PK\x03\x04" + b"\x00" * 300
        sender = self.addr()
        body = (
            b'--x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nOur application is attached.\r\n'
            b"--x\r\nContent-Type: application/vnd.openxmlformats-officedocument."
            b'wordprocessingml.document; name="application.docx"\r\n'
            b"Content-Transfer-Encoding: base64\r\n"
            b'Content-Disposition: attachment; filename="application.docx"\r\n\r\n'
            + b64_lines(data) + b"\r\n--x--\r\n"
        )  # fmt: skip
        mime = b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="x"\r\n'
        raw = self.head(sender.encode(), b"Application (docx)", mime=mime) + CRLF + body
        return self.ret(f"{variant}-{len(document) // 1000}kB", raw, sender)

    def huge(self):  # noqa: ANN201
        """Large but within the endpoint's 32 MiB: an attachment or a huge text part."""
        rng = self.rng
        megabytes = rng.choice([2, 5, 10, 20])
        variant = rng.choice(["attachment", "text"])
        sender = self.addr()
        if variant == "attachment":
            blob = b64_lines(rng.randbytes(megabytes * 1_000_000))
            part = (
                b'--h\r\nContent-Type: application/pdf; name="scan.pdf"\r\n'
                b"Content-Transfer-Encoding: base64\r\n\r\n" + blob + b"\r\n"
            )
        else:
            line = self.text(12).encode() + CRLF
            blob = line * (megabytes * 1_000_000 // len(line))
            part = b"--h\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + blob
        body = (
            b"--h\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            + self.application_text().encode() + b"\r\n" + part + b"--h--\r\n"
        )  # fmt: skip
        mime = b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="h"\r\n'
        raw = self.head(sender.encode(), b"Application with scan", mime=mime) + CRLF + body
        return self.ret(f"{variant}-{megabytes}MB", raw, sender)


def _ew(text: str) -> bytes:
    return (
        text.encode() if text.isascii() else b"=?utf-8?B?" + base64.b64encode(text.encode()) + b"?="
    )
