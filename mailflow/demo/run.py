"""`mailflow demo`: a whole program in about a minute, through the real pipeline.

Twenty-odd libraries (mailflow/demo/libraries.yaml) apply by SMTP to mailflow's endpoint; mailflow
parses, decides and sends through a real SMTP relay (demo/world.py) into simulated mailboxes; the
libraries and a coordinator read their mail and answer as real clients do; a frozen clock jumps
ahead day by day. Everything is left on disk: the database, every mail as a file, the dashboard.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import smtplib
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select

from mailflow.app import Services, build
from mailflow.clock import FrozenClock
from mailflow.demo.clients import new_mail, reply_bytes
from mailflow.demo.world import Delivered, World, free_port
from mailflow.errors import ConfigError
from mailflow.inbound.lmtp import Endpoint
from mailflow.resources import default_rules, default_templates
from mailflow.runtime import Runtime
from mailflow.settings import load
from mailflow.store.schema import Activity, Contact, History, Library, Outbox, Partnership

DATA = Path(__file__).with_name("libraries.yaml")
START = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)  # a Monday morning
COORDINATOR = "Ruth Okafor <coordinator@program.example>"
PROGRAM = "sisters@program.example"
DAYS = 150  # application, matching, offers, a 95-day trial, MOUs signed or gone quiet
# What a demo leaves in its folder; its mailflow.toml (DEMO_MARK) says it is a demo's.
DEMO_ENTRIES = ("mailflow.toml", "mailflow-secret", "mailflow.sqlite3", "mailflow.sqlite3-wal",
                "mailflow.sqlite3-shm", "mail", "site")  # fmt: skip
DEMO_MARK = "# written by `mailflow demo`"
TICKS = (1, 9, 17)  # UTC hours: together they cover every time zone's working day


@dataclass
class Librarian:
    data: dict[str, Any]
    answered: set[str] = field(default_factory=set)  # what this library has already answered

    @property
    def address(self) -> str:
        return parseaddr(self.data["from"])[1].lower()


@dataclass
class DemoResult:
    folder: Path
    seconds: float
    states: dict[str, int]
    libraries: dict[str, int]
    mails_in: int
    mails_out: int
    pages: list[Path]


DEMO_MX = "mx.demo.example"  # the authserv-id of the (pretend) receiving host staff mail passes


class Demo:
    def __init__(self, folder: Path, echo: Callable[[str], None]) -> None:
        self.folder, self.echo = folder, echo
        self.librarians = [Librarian(d) for d in yaml.safe_load(DATA.read_text(encoding="utf-8"))]
        refused = {lib.address for lib in self.librarians if lib.data.get("bounce")}
        self.world = World(folder / "mail", refused).start()
        self.clock = FrozenClock(START)
        port = free_port()
        env = {
            "MAILFLOW_DATABASE_URL": f"sqlite:///{folder / 'mailflow.sqlite3'}",
            "MAILFLOW_PROGRAM_SECRET": secrets.token_urlsafe(32),
            "MAILFLOW_PROGRAM_ADDRESS": PROGRAM,
            "MAILFLOW_PROGRAM_STAFF": parseaddr(COORDINATOR)[1],
            # The demo's world plays the receiving host that vouches for the coordinator's mail.
            "MAILFLOW_STAFF_TRUSTED_AUTHSERV_IDS": DEMO_MX,
            "MAILFLOW_INBOUND_LISTEN": "smtp",
            "MAILFLOW_INBOUND_PORT": str(port),
            "MAILFLOW_OUTBOUND_TRANSPORT": "smtp",
            "MAILFLOW_SMTP_HOST": "127.0.0.1",
            "MAILFLOW_SMTP_PORT": str(self.world.port),
            "MAILFLOW_SMTP_SECURITY": "none",
            # The packaged rules and templates, whatever folder the demo runs in.
            "MAILFLOW_RULES_DIR": str(default_rules()),
            "MAILFLOW_TEMPLATES_DIR": str(default_templates()),
            "MAILFLOW_OUTBOX_RETRY_BASE_SECONDS": "600",
            "MAILFLOW_LOG_LEVEL": "WARNING",
        }
        self.services: Services = build(load(None, env=env), self.clock)
        self.runtime = Runtime(self.services)
        self.endpoint = Endpoint(self.services.db, self.clock, PROGRAM, protocol="smtp", port=port)
        self.endpoint.start()
        self.sent_in = 0

    # -- the pipeline ---------------------------------------------------------------------------
    def send(self, sender: str, raw: bytes, to: str = PROGRAM) -> None:
        with smtplib.SMTP("127.0.0.1", self.endpoint.port, local_hostname="localhost") as smtp:
            smtp.sendmail(parseaddr(sender)[1], [parseaddr(to)[1]], raw)
        self.sent_in += 1

    def tick(self) -> None:
        self.runtime.process()
        self.runtime.fire_timers()
        self.runtime.drain()

    def template_of(self, mail: Delivered) -> str:
        with self.services.db.unit_of_work() as s:
            return (
                s.scalar(
                    select(Outbox.template).where(
                        Outbox.message_id == str(mail.msg["Message-ID"]).strip("<>")
                    )
                )
                or ""
            )

    def answer(self, who: Librarian, mail: Delivered, body: str, client: str | None = None) -> None:
        raw = reply_bytes(original=mail.msg, original_text=mail.text, sender=who.data["from"], body=body,
                          date=self.clock.now(), client=client or who.data.get("client", "gmail"))  # fmt: skip
        self.send(who.data["from"], raw, to=str(mail.msg["Reply-To"] or PROGRAM))

    # -- people -----------------------------------------------------------------------------------
    def librarians_read_mail(self) -> None:
        for lib in self.librarians:
            for mail in self.world.unread(lib.address):
                template = self.template_of(mail)
                self.librarian_reacts(lib, template, mail)

    def librarian_reacts(self, lib: Librarian, template: str, mail: Delivered) -> None:
        d = lib.data
        if template == "library-confirm-address" and "confirm" not in lib.answered:
            # Every applicant answers the one confirmation mail; only then is it acted on.
            lib.answered.add("confirm")
            words = (
                "确认，是我们申请的。"
                if "请确认" in str(mail.msg["Subject"])
                else "Yes, I confirm."
            )
            self.answer(lib, mail, words)
        elif template == "library-missing" and d.get("complete") and "complete" not in lib.answered:
            lib.answered.add("complete")
            self.answer(lib, mail, d["complete"])
        elif template in ("library-offer", "library-offer-reminder"):
            if d.get("out_of_office") and "away" not in lib.answered:
                lib.answered.add("away")
                away = datetime.fromisoformat(d["out_of_office"])
                self.send(d["from"], new_mail(
                    sender=d["from"], to=str(mail.msg["Reply-To"]), subject=f"Automatic reply: {mail.msg['Subject']}",
                    body=f"I am out of the office until {away:%d %B %Y} and will answer when I am back.",
                    date=self.clock.now(), headers=[("Auto-Submitted", "auto-replied"), ("In-Reply-To", str(mail.msg["Message-ID"]))],
                ), to=str(mail.msg["Reply-To"]))  # fmt: skip
                return
            if d.get("out_of_office") and self.clock.now() < datetime.fromisoformat(
                d["out_of_office"]
            ).replace(tzinfo=UTC):
                return  # still away: the reminder waits in the inbox
            if d.get("offer_reply") and f"offer-{mail.msg['Reply-To']}" not in lib.answered:
                lib.answered.add(f"offer-{mail.msg['Reply-To']}")
                self.answer(lib, mail, d["offer_reply"])
        elif (
            template == "partnership-trial-checkin"
            and d.get("checkin_reply")
            and "checkin" not in lib.answered
        ):
            lib.answered.add("checkin")
            self.answer(lib, mail, d["checkin_reply"])
        elif template == "partnership-mou-request" and d.get("mou") and "mou" not in lib.answered:
            lib.answered.add("mou")
            self.answer(lib, mail, d["mou"])
        elif (
            template == "partnership-evaluation"
            and d.get("checkin_reply")
            and "story" not in lib.answered
        ):
            lib.answered.add("story")
            self.answer(
                lib,
                mail,
                d["checkin_reply"]
                + "\n\nOur success story: the children now write to each other every month.",
            )

    def coordinator_reads_mail(self) -> list[str]:
        said = []
        for mail in self.world.unread(parseaddr(COORDINATOR)[1]):
            template = self.template_of(mail)
            if template == "staff-proposal":
                self.answer_staff(mail, "approve")
                said.append(f"approves {mail.msg['Subject']}")
            elif template == "staff-escalation" and "neither library answered" in mail.text:
                self.answer_staff(
                    mail, "note Called both libraries: busy term, they will write in the spring."
                )
                said.append("adds a note to a stalled partnership")
        return said

    def answer_staff(self, mail: Delivered, body: str) -> None:
        domain = parseaddr(COORDINATOR)[1].rpartition("@")[2]
        verdict = ("Authentication-Results", f"{DEMO_MX}; dmarc=pass header.from={domain}")
        raw = reply_bytes(original=mail.msg, original_text=mail.text, sender=COORDINATOR, body=body,
                          date=self.clock.now(), client="outlook", extra_headers=[verdict])  # fmt: skip
        self.send(COORDINATOR, raw, to=str(mail.msg["Reply-To"] or PROGRAM))

    # -- narrative ---------------------------------------------------------------------------------
    def counts(self) -> tuple[dict[str, int], dict[str, int]]:
        with self.services.db.unit_of_work() as s:
            p = dict(
                s.execute(select(Partnership.state, func.count()).group_by(Partnership.state)).all()
            )
            lib = dict(s.execute(select(Library.state, func.count()).group_by(Library.state)).all())
        return p, lib

    # What a coordinator would want to hear about, by the state a partnership entered.
    MOMENTS = {
        "trial": "both said yes: one introduction to both, in their languages, mentor in copy",
        "declined": "one library said no thanks: the pair is closed, neither learns who declined",
        "lapsed": "no answer in 21 days: the offer lapsed, the mentor was told",
        "stalled": "two check-ins without a word: stalled, the mentor was told",
        "mou_sent": "trial over: both got the memorandum of understanding to fill in",
        "active": "both signed the MOU: active, the merged MOU went to both and to staff",
    }

    def say_moments(self, day: int, since: int) -> int:
        """One line per notable change of state since history row `since`; returns the last row."""
        with self.services.db.unit_of_work() as s:
            rows = s.execute(
                select(History.id, History.record_id, History.to_state)
                .where(
                    History.id > since,
                    History.record_type == "partnership",
                    History.from_state != History.to_state,
                )
                .order_by(History.id)
            ).all()
            names = {
                p.id: f"{p.library_a.name} + {p.library_b.name}"
                for p in s.scalars(select(Partnership))
            }
            last = s.scalar(select(func.max(History.id))) or since
        for _, pid, state in rows:
            if state in self.MOMENTS:
                self.echo(f"  day {day:>3} · {names[pid]}: {self.MOMENTS[state]}")
        return last

    def say_states(self, day: int) -> None:
        p, lib = self.counts()
        pl = ", ".join(f"{v} {k}" for k, v in sorted(p.items())) or "none yet"
        ll = ", ".join(f"{v} {k}" for k, v in sorted(lib.items()))
        self.echo(f"  day {day:>3} · libraries: {ll}")
        self.echo(f"          · partnerships: {pl}")

    def run(self) -> DemoResult:
        started = time.monotonic()
        self._write_config()  # first: it marks the folder as a demo's, even if this one fails
        echo = self.echo
        countries = {self._country(lib) for lib in self.librarians}
        echo(
            f"mailflow demo · {len(self.librarians)} libraries from {len(countries)} countries · {START:%d %B %Y}"
        )
        echo(f"  everything is kept in {self.folder}")
        echo("")
        echo(
            "Week 1 · applications arrive by e-mail (SMTP in), in English, Chinese, Spanish, French"
        )
        for lib in self.librarians:
            d = lib.data
            self.send(
                d["from"],
                new_mail(
                    sender=d["from"],
                    to=PROGRAM,
                    subject=d["subject"],
                    body=d["application"],
                    date=self.clock.now(),
                ),
            )
        self.tick()
        self.librarians_read_mail()
        self.tick()
        self.say_states(0)
        with self.services.db.unit_of_work() as s:
            failed = s.scalars(select(Contact).where(Contact.status == "failed")).all()
            for c in failed:
                echo(
                    f"  ! {c.email} bounced: the relay refused our confirmation mail; the application"
                    " lapsed unconfirmed and nothing more will go there"
                )
        self.clock.advance(timedelta(days=1))
        echo("")
        echo(
            "Matching · the whole pool at once (different countries, a shared language, best overall)"
        )
        for pair in self.runtime.match():
            echo(f"  proposed l{pair.a} + l{pair.b} (score {pair.score:.2f}): {pair.reasons[0]}")
        self.tick()
        events = self.coordinator_reads_mail()
        echo(f"  the coordinator replies from Outlook: {len(events)} × approve")
        self.tick()
        last_month = -1
        seen = self.say_moments(0, 0)
        for day in range(1, DAYS):
            for hour in TICKS:
                self.clock.set(START + timedelta(days=day, hours=hour))
                self.tick()
                self.librarians_read_mail()
                for line in self.coordinator_reads_mail():
                    if "note" in line:
                        echo(f"  day {day:>3} · the coordinator {line}")
                self.tick()
            if day % 7 == 0 and day <= 60:
                new = self.runtime.match()
                if new:
                    echo(
                        f"  day {day:>3} · weekly matching proposes {len(new)} more pair(s) for libraries freed by declines and lapses"
                    )
                    self.tick()
                    self.coordinator_reads_mail()
                    self.tick()
            seen = self.say_moments(day, seen)
            month = day // 30
            if month != last_month and day % 30 == 0:
                last_month = month
                self.say_states(day)
        self.runtime.digest()
        self.runtime.drain()
        pages = self._report()
        p, lib = self.counts()
        with self.services.db.unit_of_work() as s:
            activities = s.scalar(select(func.count()).select_from(Activity))
        mails_out = len(self.world.all_mail)
        echo("")
        echo("Summary")
        echo(f"  partnerships: {', '.join(f'{v} {k}' for k, v in sorted(p.items()))}")
        echo(f"  libraries:    {', '.join(f'{v} {k}' for k, v in sorted(lib.items()))}")
        echo(f"  mail: {self.sent_in} in, {mails_out} out; {activities} activities logged")
        echo("")
        echo("Where everything is")
        echo(f"  every mail mailflow sent, as files:  {self.folder / 'mail'}")
        echo(f"  the public list (to publish):        {self.folder / 'site' / 'public'}")
        echo(f"  the staff dashboard (not public):    {self.folder / 'site' / 'staff'}")
        echo(f"  the database:                        {self.folder / 'mailflow.sqlite3'}")
        echo(f"  look inside:  mailflow partnerships -c {self.folder / 'mailflow.toml'}")
        self.close()
        return DemoResult(
            self.folder, time.monotonic() - started, p, lib, self.sent_in, mails_out, pages
        )

    def _country(self, lib: Librarian) -> str:
        from mailflow.countries import country_key
        from mailflow.parse.forms import extract_fields

        return country_key(extract_fields(lib.data["application"]).get("country"))

    def _report(self) -> list[Path]:
        from mailflow.report import write_report

        s = self.services
        return write_report(
            s.db,
            s.workflow.machines,
            self.folder / "site",
            self.clock.now(),
            s.settings["program.name"],
        )

    def _write_config(self) -> None:
        (self.folder / "mailflow.toml").write_text(
            DEMO_MARK + "\n"
            '[database]\nurl = "sqlite:///mailflow.sqlite3"\n\n[program]\n'
            f'staff = ["{parseaddr(COORDINATOR)[1]}"]\n\n[inbound]\nlisten = "off"\n',
            encoding="utf-8",
        )
        secret = self.services.settings["program.secret"]
        (self.folder / "mailflow-secret").write_text(secret + "\n", encoding="utf-8")

    def close(self) -> None:
        self.endpoint.stop()
        self.world.stop()
        if self.services.transport is not None:
            self.services.transport.close()
        self.services.db.dispose()


def run_demo(
    folder: Path | None = None, echo: Callable[[str], None] = print, *, force: bool = False
) -> DemoResult:
    if folder is not None:
        clear_folder(folder, force)
    # The narrative tells what happens; log lines (a refused address...) would only interleave.
    logging.getLogger("mailflow").setLevel(logging.ERROR)
    folder = folder or Path(tempfile.mkdtemp(prefix="mailflow-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    return Demo(folder, echo).run()


def clear_folder(folder: Path, force: bool) -> None:
    """Refuse a folder that already holds a demo (ConfigError); with force, remove that demo.

    A second demo on top of the first would mix two programs in one database. Only a folder
    whose mailflow.toml a demo wrote is ever cleared: an operator's program is never touched.
    """
    present = [name for name in DEMO_ENTRIES if (folder / name).exists()]
    if not present:
        return
    if not force:
        raise ConfigError(
            f"{folder} already holds a demo ({', '.join(present)}); "
            "use --force to replace it, or another --out"
        )
    config = folder / "mailflow.toml"
    text = config.read_text(encoding="utf-8") if config.is_file() else ""
    if not text.startswith(DEMO_MARK):
        raise ConfigError(f"{folder} holds {', '.join(present)} but not a demo's mailflow.toml; "
                          "not replacing anything there")  # fmt: skip
    for name in present:
        path = folder / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
