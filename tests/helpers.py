"""Fixtures and builders shared by the mailflow tests (the servers live in tests/servers)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path

import pytest
import sqlalchemy as sa

from mailflow.app import Services, build
from mailflow.clock import FrozenClock
from mailflow.settings import load
from mailflow.store.db import Database

T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
SECRET = "test-secret-long-enough-for-32-bytes-of-hmac-key"
PROGRAM = "sisters@program.example"
STAFF = "coordinator@program.example"
# The receiving host the tests' program trusts (staff.trusted_authserv_ids), and the verdict it
# writes on staff mail: mail() and program.reply() add it to staff mail unless told not to.
TRUSTED_MX = "mx.program.example"
STAFF_VERDICT = f"{TRUSTED_MX}; dmarc=pass header.from=program.example"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'mailflow.sqlite3'}"
        return
    base = request.getfixturevalue("postgres_url")
    schema = "t_" + uuid.uuid4().hex[:12]
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    # Each test gets its own schema: search_path makes it the default for every table.
    yield f"{base}?options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    database.upgrade()
    yield database
    database.dispose()


@pytest.fixture
def make_services(db_url: str, tmp_path: Path) -> Iterator[Callable[..., Services]]:
    """Services on the parametrised database with a frozen clock; extra settings by env names."""
    made: list[Services] = []

    def make(**env: str) -> Services:
        values = {
            "MAILFLOW_DATABASE_URL": db_url,
            "MAILFLOW_PROGRAM_SECRET": SECRET,
            "MAILFLOW_PROGRAM_ADDRESS": PROGRAM,
            "MAILFLOW_PROGRAM_STAFF": STAFF,
            "MAILFLOW_STAFF_TRUSTED_AUTHSERV_IDS": TRUSTED_MX,
            "MAILFLOW_INBOUND_LISTEN": "off",
            "MAILFLOW_OUTBOUND_MAILDIR": str(tmp_path / "outgoing"),
            **env,
        }
        settings = load(None, env=values)
        services = build(settings, FrozenClock(T0))
        made.append(services)
        return services

    yield make
    for services in made:
        services.db.dispose()


def mail(
    *,
    sender: str = "Maria Lopez <maria@biblioteca.example.es>",
    to: str = PROGRAM,
    subject: str = "Application: sister library",
    body: str = "Hello",
    html: str | None = None,
    headers: dict[str, str] | None = None,
    date: datetime = T0,
    message_id: str | None = None,
    authenticated: bool | None = None,
) -> bytes:
    """A plain (optionally multipart/alternative) message as a mail client would send it.

    authenticated: the trusted receiving host's dmarc=pass on top; by default for staff mail.
    """
    msg = EmailMessage()
    if authenticated or (authenticated is None and is_staff_sender(sender)):
        msg["Authentication-Results"] = STAFF_VERDICT
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id or make_msgid(domain="client.example")
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg.as_bytes(policy=SMTP)  # CRLF, as mail travels on the wire


def is_staff_sender(sender: str) -> bool:
    return parseaddr(sender)[1].lower() in STAFF.lower().split(",")


APPLICATION_EN = """Dear program team,

We would like to find a sister library abroad. Our details:

Library name: Biblioteca Municipal de Segovia
Type of library: Public
Country: Spain
City: Segovia
Contact person: Maria Lopez
Contact email: maria@biblioteca.example.es
Working languages: Spanish, English
Population served: 52,000
Interests: children's reading, local history, book exchange
Communication preferences: e-mail, monthly
Commitment level: pen pals and book exchange
Website: https://biblioteca.example.es
Time zone: Europe/Madrid

Best regards,
Maria
"""

APPLICATION_ZH = """您好！

我们希望寻找一所国外的姐妹图书馆。

图书馆名称：杭州市西湖区图书馆
图书馆类型：公共图书馆
国家：中国
城市：杭州
联系人：王丽
电子邮件：wangli@library.example.cn
工作语言：中文，英语
服务人口：80万
合作兴趣：儿童阅读，地方文献

谢谢！
"""

APPLICATION_MISSING_CITY = """Hello,

Library name: Nairobi Community Library
Type of library: public
Country: Kenya
Contact person: John Mwangi
Working languages: English, Swahili

Thank you
"""


def application(n: int, *, lang: str = "en", public: bool = False) -> bytes:
    """The n-th distinct application mail (distinct sender and Message-ID).

    Libraries of the same name are in different cities (a branch each), except the first
    English and the second Chinese one: the same name and city would be a proposed merge.
    public: the form consents to the public listing (without it the library is not listed).
    """
    if lang == "zh":
        body = APPLICATION_ZH.replace("wangli@", f"wangli{n}@")
        if public:
            body = body.replace("合作兴趣：", "公开列出：是\n合作兴趣：")
        if n != 2:
            body = body.replace("城市：杭州\n", f"城市：杭州{n}\n")
        return mail(
            sender=f"王丽 <wangli{n}@library.example.cn>", subject="申请姐妹图书馆", body=body
        )
    body = APPLICATION_EN.replace("maria@", f"maria{n}@")
    if public:
        body = body.replace("Time zone:", "Public listing: yes\nTime zone:")
    if n != 1:
        body = body.replace("City: Segovia\n", f"City: Segovia {n}\n")
    return mail(sender=f"Maria Lopez <maria{n}@biblioteca.example.es>", body=body)


CONFIRM_TEMPLATE = "library-confirm-address"
CONTACT_TEMPLATE = "library-confirm-contact"  # an address a library's mail named as its contact
# What an applicant writes back to the confirmation mail, in its language.
CONFIRM_WORDS = {"en": "Yes, I confirm. This is our address.", "zh": "确认，是我们申请的。"}


def confirmation_replies(services: Services, answered: set[str] | None = None) -> list[bytes]:
    """The applicants' replies to every confirmation mail not answered yet (`answered` keeps the
    Message-IDs already answered), shaped by a real client's reply builder: quoting the mail,
    To its Reply-To (the library's token), In-Reply-To its Message-ID.

    New applications are acted on only after such a reply (rules/library.yaml, `unconfirmed`);
    tests about something else confirm with this the way an applicant would.
    """
    from email import message_from_bytes
    from email.policy import default

    from mailflow.demo.clients import reply_bytes
    from mailflow.store.schema import Contact, Library, Outbox

    answered = answered if answered is not None else set()
    replies = []
    with services.db.unit_of_work() as s:
        rows = s.scalars(
            sa.select(Outbox)
            .where(Outbox.template.in_([CONFIRM_TEMPLATE, CONTACT_TEMPLATE]))
            .order_by(Outbox.id)
        ).all()
        for row in rows:
            if row.template == CONTACT_TEMPLATE:
                named = s.scalar(sa.select(Contact).where(Contact.email == row.recipients[0]))
                waiting = named is not None and named.status == "unconfirmed"
            else:
                library = s.get(Library, row.record_id) if row.record_id else None
                waiting = library is not None and library.state == "unconfirmed"
            if row.message_id in answered or not waiting:
                continue
            answered.add(row.message_id)
            # Not drained yet: rendered from its spec, as the drainer would send it.
            raw = row.raw or services.workflow.composer(row.spec, row.message_id).raw
            original = message_from_bytes(raw, policy=default)
            locale = row.locale or ((row.spec or {}).get("locales") or ["en"])[0]
            replies.append(
                reply_bytes(
                    original=original,
                    original_text=original.get_body(("plain",)).get_content(),
                    sender=row.recipients[0],
                    body=CONFIRM_WORDS.get(locale, CONFIRM_WORDS["en"]),
                    date=services.clock.now(),
                    client="gmail" if locale != "zh" else "qq",
                )  # fmt: skip
            )
    return replies


def confirm_stored(services: Services) -> int:
    """Answer the confirmation mails (see confirmation_replies) as stored mail, and process it."""
    from mailflow.inbound.intake import Incoming, store
    from mailflow.runtime import Runtime

    replies = confirmation_replies(services)
    with services.db.unit_of_work() as s:
        for raw in replies:
            store(s, Incoming(raw=raw, source="file", mailbox="test"), services.clock.now())
    Runtime(services).process()
    return len(replies)


def bounce_for(address: str, message_id: str, status: bytes = b"5.1.1") -> bytes:
    """A real Postfix DSN (tests/data/bounces), rewritten: `address` failed for the mail whose
    Message-ID is `message_id` (returned in the DSN's attached original, as Postfix does).
    """
    raw = (Path(__file__).parent / "data" / "bounces" / "postfix_dsn_user_unknown.eml").read_bytes()
    for old in (b"Old.Contact@Library.Example.org", b"old.contact@library.example.org"):
        raw = raw.replace(old, address.encode())
    raw = raw.replace(b"mf.outbox.101@program.example", message_id.strip("<>").encode())
    # CRLF, as on the wire: smtplib sends bytes as they are, and bare LFs make one long line.
    return raw.replace(b"5.1.1", status).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
