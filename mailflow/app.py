"""Composition root: Settings -> Services. The only place that knows every part."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import time
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.exc import DBAPIError

from mailflow.clock import Clock, SystemClock
from mailflow.dispatch import Limits, ProgramContext, StaffMember, Workflow
from mailflow.dispatch.commands import HANDLERS
from mailflow.engine.check import check_rules
from mailflow.engine.definition import Rules
from mailflow.engine.loader import load_rules
from mailflow.errors import ConfigError
from mailflow.inbound.imap import ImapConfig
from mailflow.outbound.smtp import SmtpTransport
from mailflow.outbound.transport import MaildirTransport, Transport
from mailflow.outbox.render import DEFAULT_TEMPLATES, Renderer
from mailflow.outbox.samples import TEMPLATE_NAMES, sample_context
from mailflow.parse.authn import DnsFunc
from mailflow.resources import default_rules
from mailflow.settings import Settings, setting_default
from mailflow.store.db import Database

DEFAULT_RULES = default_rules()
# Mail the code sends outside the rules (needs-a-person, the digest, "could not understand").
CODE_TEMPLATES = (
    "staff-needs-person",
    "staff-escalation",
    "staff-notice",
    "staff-digest",
    "staff-merge-proposal",
    "staff-status",
    "staff-confirm",
    "library-confirm",
    "library-confirm-contact",
    "library-not-understood",
)


@dataclass
class Services:
    settings: Settings
    clock: Clock
    db: Database
    workflow: Workflow
    transport: Transport | None = field(default=None)

    @property
    def program(self) -> ProgramContext:
        return self.workflow.program

    def imap_config(self) -> ImapConfig | None:
        s = self.settings
        if not s["imap.host"]:
            return None
        if not s["imap.user"]:
            raise ConfigError("imap.host is set but imap.user is empty")
        security = s["imap.security"]
        port = s["imap.port"] or (993 if security == "tls" else 143)
        return ImapConfig(
            host=s["imap.host"],
            port=port,
            user=s["imap.user"],
            password=s.imap_password(),
            security=security,
            cafile=s["imap.cafile"] or None,
            folder=s["imap.folder"],
            processed_folder=s["imap.processed_folder"],
            quarantine_folder=s["imap.quarantine_folder"],
            batch_size=s["imap.batch_size"],
            batch_bytes=s["imap.batch_bytes"],
            idle=s["imap.idle"],
            idle_renew_seconds=s["imap.idle_renew_seconds"],
            poll_seconds=s["imap.poll_seconds"],
            timeout_seconds=s["imap.timeout_seconds"],
            backoff_max_seconds=s["imap.backoff_max_seconds"],
        )


def build(
    settings: Settings,
    clock: Clock | None = None,
    *,
    migrate: bool | None = None,
    transport: Transport | None = None,
    create: bool = True,
    read_only: bool = False,
    dnsfunc: DnsFunc | None = None,
) -> Services:
    """Everything a command needs.

    create: make the database when it is missing (`run`); otherwise a missing one is refused.
    read_only: for commands that only look: no database made, no secret file, no outgoing/.
    dnsfunc: the DNS lookup staff DKIM verification uses; dkimpy's resolver unless given.
    """
    # Rules and templates first, with a stand-in secret: a broken file stops us before
    # anything exists on disk.
    workflow = build_workflow(settings, secret=b"unsigned")
    db = open_database(settings, create=create and not read_only)
    if settings["database.auto_migrate"] if migrate is None else migrate:
        db.upgrade()
    if not read_only or settings.has_secret():
        workflow.program = replace(
            workflow.program, secret=settings.secret(), retired_secrets=settings.retired_secrets()
        )
    workflow.program = replace(workflow.program, dnsfunc=dnsfunc or dkim_dns)
    if transport is None and not read_only:
        transport = build_transport(settings)
    return Services(
        settings=settings,
        clock=clock or SystemClock(),
        db=db,
        workflow=workflow,
        transport=transport,
    )


def open_database(settings: Settings, *, create: bool) -> Database:
    """The database, checked to open; with create=False one that does not exist is refused."""
    url = database_url(settings)
    file = sqlite_file(url)
    where = str(file) if file else _safe_url(url)
    if not create and file is not None and not file.exists():
        raise ConfigError(missing_database(settings, where))  # connecting would create it
    db = Database(url)
    try:
        with db.engine.connect() as conn:
            empty = not inspect(conn).has_table("alembic_version")
    except DBAPIError as exc:
        db.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else exc
        raise ConfigError(f"cannot open the database at {where}: {reason}") from exc
    if empty and not create:
        db.dispose()
        raise ConfigError(missing_database(settings, where))
    return db


def missing_database(settings: Settings, where: str) -> str:
    if settings.source is None:
        return (
            f"no mailflow database at {where} and no mailflow.toml in {Path.cwd()}; "
            "run 'mailflow init DIR' or 'mailflow db upgrade' first"
        )
    return f"no mailflow database at {where}; run 'mailflow db upgrade' or 'mailflow run' first"


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and :memory:)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or ":memory:" in url:
        return None
    return Path(url[len(prefix) :].partition("?")[0])


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _folder(settings: Settings, name: str, default: Path) -> list[Path]:
    """The operator's folder first, if it holds anything, then the packaged defaults.

    A folder the operator set (other than the default name) must exist: a typo in the path
    would otherwise run the program on the packaged rules without a word.
    """
    path = settings.path(name)
    if not path.is_dir() and settings[name] != setting_default(name):
        raise ConfigError(f"{name}: {path} does not exist")
    return [path, default] if path.is_dir() and any(path.iterdir()) else [default]


def load_rules_only(settings: Settings) -> Rules:
    """The rules without templates or secrets (for `parse`, which needs the staff vocabulary)."""
    return load_rules(_folder(settings, "rules.dir", DEFAULT_RULES)[0])


def build_workflow(settings: Settings, *, secret: bytes | None = None) -> Workflow:
    """Rules and templates, checked together; any problem stops start-up with file and line.

    secret: for checks that send nothing (`rules check`), so no secret file is created.
    """
    renderer = Renderer(
        _folder(settings, "templates.dir", DEFAULT_TEMPLATES), settings["templates.default_locale"]
    )
    rules_dirs = _folder(settings, "rules.dir", DEFAULT_RULES)
    rules = load_rules(rules_dirs[0], renderer.has)
    problems = check_workflow(rules, renderer)
    if problems:
        # One problem reads best on one line; several, one a line.
        sep = "\n" if len(problems) > 1 else " "
        raise ConfigError("rules and templates:" + sep + "\n".join(problems))
    start, _, end = str(settings["schedule.working_hours"]).partition("-")
    try:
        work_start, work_end = time.fromisoformat(start.strip()), time.fromisoformat(end.strip())
    except ValueError as exc:
        raise ConfigError(
            f"schedule.working_hours: {settings['schedule.working_hours']!r} is not HH:MM-HH:MM"
        ) from exc
    threshold = str(settings["program.auto_approve_score"]).strip()
    program = ProgramContext(
        program_address=settings.program_address,
        secret=settings.secret() if secret is None else secret,
        staff=settings.staff,
        members=tuple(StaffMember(*member) for member in settings.staff_members()),
        staff_token_days=int(settings["staff.token_days"]),
        name=settings["program.name"],
        website=settings["program.website"],
        mentor=str(settings["program.mentor"]).lower(),
        mentor_name=str(settings["program.mentor_name"]),
        auto_approve_score=float(threshold) if threshold else None,
        work_start=work_start,
        work_end=work_end,
        default_timezone=settings["schedule.default_timezone"],
        default_locale=settings["templates.default_locale"],
        trusted_authserv_ids=tuple(settings["staff.trusted_authserv_ids"]),
        confirm_days=settings["staff.confirm_days"],
        contact_confirm_days=int(settings["program.contact_confirm_days"]),
        max_away_days=int(settings["schedule.max_away_days"]),
        token_grace_days=int(settings["program.token_grace_days"]),
        reply_token=settings["mail.reply_token"],
        verp=bool(settings["mail.verp"]),
        limits=Limits(
            mails_per_address_per_day=settings["limits.mails_per_address_per_day"],
            hold_after_messages=settings["limits.hold_after_messages"],
            hold_window_minutes=settings["limits.hold_window_minutes"],
            staff_notices_per_hour=settings["limits.staff_notices_per_hour"],
        ),
    )
    return Workflow(program=program, rules=rules, renderer=renderer)


def check_workflow(rules: Rules, renderer: Renderer) -> list[str]:
    """Everything `rules check` proves: connected rules, and every template there and sound."""
    problems = check_rules(rules, renderer.meta, set(HANDLERS))
    used = {
        a.args["template"] for m in rules for t in m.transitions for a in t.actions
        if "template" in a.args
    } | set(CODE_TEMPLATES)  # fmt: skip
    locales = renderer.available_locales()
    problems += renderer.check(sorted(used), locales)
    for name in sorted(n for n in used if n.startswith("staff-")):
        for locale in locales:  # staff mail goes out in the program's language, whichever it is
            if not renderer.exists(name, locale):
                problems.append(f"{name}: no staff template for locale {locale!r}")
    known = set(TEMPLATE_NAMES)
    for name in sorted(used & known):
        for locale in locales:
            try:  # a template that names a variable the engine does not give is refused now
                renderer.render(name, locale, sample_context(name, locale))
            except ConfigError as exc:
                problem = f"{exc} (cause: {exc.__cause__})" if exc.__cause__ else str(exc)
                if problem not in problems:  # a syntax error is already in check()'s list
                    problems.append(problem)
    return problems


def dkim_dns(name: bytes, timeout: int = 5) -> bytes | str | None:
    """dkimpy's DNS TXT lookup, imported at the first DKIM check: dkimpy and dnspython
    (~3 MB) stay out of a worker that never verifies a signature."""
    import dkim.dnsplug

    return dkim.dnsplug.get_txt(name, timeout=timeout)


def build_transport(settings: Settings) -> Transport:
    """The configured transport; DKIM-signing when `dkim.key_file` is set (the key checked first)."""
    if not settings["dkim.key_file"]:
        return _plain_transport(settings)
    # Only a signing deployment loads dkimpy in the worker.
    from mailflow.outbound.dkim import DkimSigner, SigningTransport

    domain = settings["dkim.domain"].strip().lower() or settings.program_address.rpartition("@")[2]
    signer = DkimSigner.from_file(
        settings.path("dkim.key_file"), settings["dkim.selector"].strip(), domain
    )
    return SigningTransport(_plain_transport(settings), signer)


def _plain_transport(settings: Settings) -> Transport:
    if settings["outbound.transport"] == "maildir":
        return MaildirTransport(settings.path("outbound.maildir"))
    security = settings["smtp.security"]
    port = settings["smtp.port"] or {"none": 25, "starttls": 587, "tls": 465}[security]
    return SmtpTransport(
        settings["smtp.host"],
        port,
        security,
        user=settings["smtp.user"] or None,
        password=settings.smtp_password() or None,
        cafile=settings["smtp.cafile"] or None,
        local_hostname=settings.helo_name,
        connections=settings["outbox.senders"],
    )


def database_url(settings: Settings) -> str:
    url = str(settings["database.url"])
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        # A relative SQLite path is relative to the config file's folder, not wherever we run.
        url = prefix + str((settings.base_dir / url[len(prefix) :]).resolve())
    return url
