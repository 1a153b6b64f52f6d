"""The public seeking list and the staff dashboard, built from a program run the way users run it."""

from __future__ import annotations

import email
import re
from collections.abc import Callable
from datetime import timedelta
from email.policy import default
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy import select

from mailflow.app import Services
from mailflow.dispatch.proposals import propose
from mailflow.dispatch.turn import Cause, Turn
from mailflow.inbound.intake import Incoming, store
from mailflow.report import write_report
from mailflow.runtime import Runtime
from mailflow.store.schema import Library, Outbox, Partnership
from tests.helpers import (
    APPLICATION_EN,
    APPLICATION_MISSING_CITY,
    APPLICATION_ZH,
    STAFF,
    T0,
    bounce_for,
    confirmation_replies,
    mail,
)

PROGRAM_NAME = "Sister Libraries"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")

# (library name, country, city) as the libraries wrote them.
SPANISH = [
    ("Biblioteca Municipal de Segovia", "Spain", "Segovia"),
    ("Biblioteca Pública de Valencia", "Spain", "Valencia"),
    ("Biblioteca Infanta Elena", "Spain", "Sevilla"),
    ("Biblioteca Central de Oaxaca", "Mexico", "Oaxaca"),
]
CHINESE = [
    ("杭州市西湖区图书馆", "中国", "杭州"),
    ("成都市少年儿童图书馆", "中国", "成都"),
    ("苏州市图书馆", "中国", "苏州"),
]


def _application(n: int, name: str, country: str, city: str, lang: str) -> bytes:
    """`tests.helpers.application(n)` with this library's own name and place filled in."""
    if lang == "zh":
        body = (
            APPLICATION_ZH.replace("杭州市西湖区图书馆", name)
            .replace("国家：中国", f"国家：{country}")
            .replace("城市：杭州", f"城市：{city}")
            .replace("wangli@", f"wangli{n}@")
            .replace("谢谢！", "公开列出：是\n\n谢谢！")  # consent to the public list
        )
        return mail(
            sender=f"王丽 <wangli{n}@library.example.cn>", subject="申请姐妹图书馆", body=body
        )
    body = (
        APPLICATION_EN.replace("Biblioteca Municipal de Segovia", name)
        .replace("Country: Spain", f"Country: {country}")
        .replace("City: Segovia", f"City: {city}")
        .replace("maria@", f"maria{n}@")
        .replace("Best regards,", "Public listing: yes\n\nBest regards,")
    )
    return mail(sender=f"Maria Lopez <maria{n}@biblioteca.example.es>", body=body)


class Program:
    """Mail in through intake, processed by the runtime, at a frozen time that moves forward."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.runtime = Runtime(services)
        self.clock = services.clock
        self.answered: set[str] = set()

    def at(self, days: float) -> None:
        self.clock.set(self.start + timedelta(days=days))  # type: ignore[attr-defined]

    def deliver(self, *raws: bytes) -> None:
        with self.services.db.unit_of_work() as session:
            for raw in raws:
                store(session, Incoming(raw=raw, source="file", mailbox="test"), self.clock.now())
        self.runtime.process()
        # Each new applicant answers the confirmation mail, as the pipeline asks of it.
        if replies := confirmation_replies(self.services, self.answered):
            self.deliver(*replies)

    def library(self, name: str) -> Library:
        with self.services.db.unit_of_work() as session:
            lib = session.scalar(select(Library).where(Library.name == name))
            assert lib is not None, name
            return lib

    def propose(self, a: str, b: str) -> int:
        with self.services.db.unit_of_work() as session:
            la = session.scalar(select(Library).where(Library.name == a))
            lb = session.scalar(select(Library).where(Library.name == b))
            p, why = propose(
                Turn(session, self.services.workflow, self.clock.now(), Cause("cli")), la, lb
            )
            assert p is not None, why
            return p.id

    def last_mail(self, template: str, pid: int, to: str) -> email.message.EmailMessage:
        with self.services.db.unit_of_work() as session:
            rows = session.scalars(
                select(Outbox)
                .where(Outbox.template == template, Outbox.record_id == pid)
                .order_by(Outbox.id.desc())
            ).all()
        for row in rows:
            if to in row.recipients:
                # Not sent here (no drain): rendered from its spec, as the drainer would.
                raw = row.raw or self.services.workflow.composer(row.spec, row.message_id).raw
                return email.message_from_bytes(raw, policy=default)
        raise AssertionError(f"no {template} to {to} for partnership #{pid}")

    def reply(self, template: str, pid: int, sender: str, body: str) -> None:
        """Answer the last `template` mail of partnership `pid` the way a mail client does."""
        original = self.last_mail(template, pid, sender)
        mid = str(original["Message-ID"])
        self.deliver(
            mail(
                sender=sender,
                to=str(original["Reply-To"] or original["From"]),
                subject="Re: " + str(original["Subject"]),
                body=body,
                headers={"In-Reply-To": mid, "References": mid},
                date=self.clock.now(),
            )
        )

    def partnership(self, pid: int) -> Partnership:
        with self.services.db.unit_of_work() as session:
            return session.get(Partnership, pid)


def run_program(services: Services) -> Program:
    """Eight libraries in Spain, Mexico, France and China (one incomplete from Kenya); four pairs
    that went four ways; a bounce, a stranger's reply and an activity report."""
    p = Program(services)
    p.start = p.clock.now()  # type: ignore[attr-defined]
    spanish = [_application(n, *lib, "en") for n, lib in enumerate(SPANISH, 1)]
    chinese = [_application(n, *lib, "zh") for n, lib in enumerate(CHINESE, 11)]
    lyon = _application(5, "Bibliothèque municipale de Lyon", "France", "Lyon", "en")
    p.deliver(*spanish, *chinese, lyon, mail(sender=KENYA, body=APPLICATION_MISSING_CITY))
    p.deliver(spanish[0])  # the same mail again (a client resent it): stored once
    seg, val, sev, oax = (lib[0] for lib in SPANISH)
    hz, cd, sz = (lib[0] for lib in CHINESE)
    p.at(2)
    pairs = [p.propose(seg, hz), p.propose(val, cd), p.propose(sev, sz)]
    p.at(3)
    for pid in pairs:
        p.reply("staff-proposal", pid, STAFF, "approve")
    p.at(5)
    p.reply("library-offer", pairs[0], "maria1@biblioteca.example.es", "Yes, we would love that!")
    p.reply("library-offer", pairs[0], "wangli11@library.example.cn", "好的，我们同意。")
    p.reply("library-offer", pairs[1], "wangli12@library.example.cn", "不用了，谢谢。")
    p.at(10)
    p.reply("partnership-introduction", pairs[0], "maria1@biblioteca.example.es", STORY)
    p.at(12)
    # Someone who is not a contact answers a forwarded offer: a person must look at it.
    offer = p.last_mail("library-offer", pairs[2], "maria3@biblioteca.example.es")
    p.deliver(
        mail(
            sender="Someone Else <someone@elsewhere.example>",
            to=str(offer["Reply-To"]),
            subject="Re: " + str(offer["Subject"]),
            body="Yes, sounds great",
        )
    )
    # Valencia's address bounces: the report returns the offer we sent it (its Message-ID).
    offer = p.last_mail("library-offer", pairs[1], "maria2@biblioteca.example.es")
    p.deliver(bounce_for("maria2@biblioteca.example.es", str(offer["Message-ID"])))
    p.at(25)
    p.runtime.fire_timers()  # the silent offer lapses
    pairs.append(p.propose(oax, cd))
    with services.db.unit_of_work() as session:  # Lyon did not confirm its listing in 30 days
        session.scalar(select(Library).where(Library.name.like("Biblioth%"))).hidden = True
    return p


KENYA = "John Mwangi <john@nairobi.example.ke>"
STORY = (
    "We exchanged ten picture books with Hangzhou and started a pen-pal class: 24 children in "
    "Segovia now write to children in Hangzhou every month, in English, with drawings. The "
    "families came to the library to read the first letters aloud, and the local paper wrote "
    "about it. Next we plan a joint exhibition of the drawings in both libraries."
)


class _Text(HTMLParser):
    """The text a reader sees (not attributes, not the style sheet)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self._skip += tag in ("style", "script")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("style", "script")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def text_of(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


@pytest.fixture
def site(
    make_services: Callable[..., Services], tmp_path: Path
) -> tuple[Services, Path, list[Path]]:
    services = make_services(
        MAILFLOW_PROGRAM_NAME=PROGRAM_NAME,
    )
    run_program(services)
    out = tmp_path / "site"
    written = write_report(
        services.db, services.workflow.machines, out, services.clock.now(), PROGRAM_NAME
    )
    return services, out, written


def test_both_pages_are_written_in_both_locales(site: tuple[Services, Path, list[Path]]) -> None:
    _, out, written = site
    # The public list and the staff dashboard never share a folder: public/ is what gets
    # published, and the dashboard names contacts.
    assert sorted(p.relative_to(out).as_posix() for p in written) == [
        "public/index.html", "public/zh/index.html", "staff/dashboard.html", "staff/zh/dashboard.html",
    ]  # fmt: skip
    for path in written:
        html = path.read_text(encoding="utf-8")
        lang = "zh" if path.parent.name == "zh" else "en"
        assert f'<html lang="{lang}">' in html
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
        assert (
            "@media print" in html
            and "<script" not in html
            and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
        )
        assert "16 December 2026" in html or "2026年12月16日" in html  # as of: day 25
    en = (out / "public" / "index.html").read_text(encoding="utf-8")
    zh = (out / "public" / "zh" / "index.html").read_text(encoding="utf-8")
    assert 'href="zh/index.html"' in en and 'href="../index.html"' in zh
    assert "dashboard" not in en and "dashboard" not in zh  # no way from the public page to staff
    # The dashboard links to the public page across the folders, in the reader's language.
    staff_en = out / "staff" / "dashboard.html"
    staff_zh = out / "staff" / "zh" / "dashboard.html"
    assert 'href="../public/index.html"' in staff_en.read_text(encoding="utf-8")
    assert 'href="../../public/zh/index.html"' in staff_zh.read_text(encoding="utf-8")
    for page in (staff_en, staff_zh):
        for href in re.findall(r'href="([^"#]+)"', page.read_text(encoding="utf-8")):
            assert (page.parent / href).resolve().is_file(), (page, href)


def test_the_public_list_shows_seeking_libraries_and_no_contact(
    site: tuple[Services, Path, list[Path]],
) -> None:
    _, out, _ = site
    en = text_of((out / "public" / "index.html").read_text(encoding="utf-8"))
    zh = text_of((out / "public" / "zh" / "index.html").read_text(encoding="utf-8"))
    # Seeking now: Sevilla (Spain), Oaxaca (Mexico), Chengdu and Suzhou (China).
    assert "4 libraries in 3 countries are looking for a sister library." in en
    assert "共有 3 个国家的 4 所图书馆正在寻找姐妹图书馆。" in zh
    for name in ("Biblioteca Infanta Elena", "Biblioteca Central de Oaxaca", "成都市少年儿童图书馆", "苏州市图书馆"):  # fmt: skip
        assert name in en and name in zh
    for country in ("China (2)", "Mexico (1)", "Spain (1)"):
        assert country in en
    for country in ("中国 (2)", "墨西哥 (1)", "西班牙 (1)"):
        assert country in zh
    assert en.index("China (2)") < en.index("Mexico (1)") < en.index("Spain (1)")  # by country
    assert "Spanish, English" in en and "Chinese, English" in en and "public library" in en
    assert "西班牙语、英语" in zh and "公共图书馆" in zh and "儿童阅读，地方文献" in zh
    # Partnered, bounced (unreachable), hidden and incomplete libraries are not listed.
    for gone in ("Segovia", "杭州", "Valencia", "Lyon", "France", "Nairobi", "Kenya"):
        assert gone not in en, gone
    # No e-mail address, nor anything that looks like one, nor the word "@", anywhere a reader sees.
    for page in (en, zh):
        assert "@" not in page and not EMAIL.search(page)
        assert "maria" not in page and "wangli" not in page and "Maria Lopez" not in page
    assert "Write to the Sister Libraries program" in en


def test_the_dashboard_shows_the_programs_figures(site: tuple[Services, Path, list[Path]]) -> None:
    services, out, _ = site
    html = (out / "staff" / "dashboard.html").read_text(encoding="utf-8")
    text = text_of(html)
    rows = {
        m.group(1): re.findall(r'<td class="num">(\d+)</td>', m.group(2))
        for m in re.finditer(r'<tr data-state="(\w+)">(.*?)</tr>', html)
    }
    # Reached / now: 4 proposed (one still waiting), 3 offered, 1 in trial; 1 lapsed, 1 declined.
    assert rows["proposed"] == ["4", "1"] and rows["offered"] == ["3", "0"]
    assert rows["trial"] == ["1", "1"] and rows["mou_sent"] == ["0", "0"]
    assert rows["active"] == ["0", "0"]
    assert rows["lapsed"] == ["1"] and rows["declined"] == ["1"] and rows["stalled"] == ["0"]
    assert re.search(r'id="tile-libraries"><span class="n">9</span>', html)  # 8 + Kenya
    assert re.search(r'id="tile-seeking"><span class="n">5</span>', html)  # + hidden Lyon
    assert re.search(r'id="tile-bounced"><span class="n">1</span>', html)
    # Open items of the needs-a-person queue: the stranger's reply, the lapsed offer, the
    # library whose every address bounces.
    assert re.search(r'id="tile-needs_person"><span class="n">3</span>', html)
    # Application -> offer 3 days (6 libraries), -> introduction 5 days (2); replies in 48 hours.
    assert re.search(r'id="timing-to_offer">.*?>3\.0<.*?>6<', html)
    assert re.search(r'id="timing-to_trial">.*?>5\.0<.*?>2<', html)
    assert re.search(r'id="response-libraries">.*?>48\.0<.*?>4<', html)
    for fact in (
        "Libraries by country",
        "Spain: 3",
        "Mexico: 1",
        "China: 3",
        "France: 1",
        "Kenya: 1",
        "public library: 9",
        "2026-12: 1",  # one activity logged in December
        "maria2@biblioteca.example.es",  # the bounced contact (staff page)
        "someone@elsewhere.example",  # the message that needs a person
        "Biblioteca Infanta Elena – 苏州市图书馆",  # the lapsed pair
        "24 children in Segovia",  # a long report is a success story
    ):
        assert fact in html, fact
    assert "Stalled and lapsed pairs (1)" in text and "Open items that need a person (3)" in text
    # The state machine, drawn from rules/: every partnership state, no script, no network.
    svg = re.search(r'<svg class="machine".*?</svg>', html, re.S).group()
    for state in services.workflow.machines["partnership"].states:
        assert f'data-state="{state}"' in svg and f">{state}<" in svg, state
    assert "staff-approve" in svg and "<title>" in svg
    zh = text_of((out / "staff" / "zh" / "dashboard.html").read_text(encoding="utf-8"))
    assert "项目仪表板" in zh and "合作进展漏斗" in zh and "中国" in zh and "西班牙" in zh


def test_data_is_escaped(make_services: Callable[..., Services], tmp_path: Path) -> None:
    services = make_services()
    evil = _application(1, "<script>alert(1)</script> Library", "Spain", "Toledo <b>", "en")
    evil = evil.replace(
        b"Interests: children's reading",
        b"Interests: mail me at evil@x.example or +34 911 222 333,",
    )
    Program(services).deliver(evil)
    out = tmp_path / "site"
    write_report(services.db, services.workflow.machines, out, T0, "Sisters <&>", locales=("en",))
    html = (out / "public" / "index.html").read_text(encoding="utf-8")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Sisters &lt;&amp;&gt;" in html and "Toledo &lt;b&gt;" in html
    assert "@" not in text_of(html) and "911 222 333" not in html
    assert not (out / "public" / "zh").exists() and not (out / "staff" / "zh").exists()


def test_a_dashboard_left_beside_the_public_page_is_removed(
    make_services: Callable[..., Services], tmp_path: Path
) -> None:
    """Earlier versions wrote dashboard.html beside index.html, in the folder people publish."""
    services = make_services()
    out = tmp_path / "site"
    (out / "zh").mkdir(parents=True)
    for stale in (out / "dashboard.html", out / "zh" / "dashboard.html"):
        stale.write_text("<p>contact@library.example</p>", encoding="utf-8")
    written = write_report(services.db, services.workflow.machines, out, T0, "Sisters")
    assert not (out / "dashboard.html").exists() and not (out / "zh" / "dashboard.html").exists()
    assert sorted(p.relative_to(out).parts[0] for p in written) == [
        "public", "public", "staff", "staff"
    ]  # fmt: skip
