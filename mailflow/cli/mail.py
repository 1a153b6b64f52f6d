"""Mail in and its failures: run, parse, messages, deadletters, check-mail."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from sqlalchemy import select

from mailflow.cli import (
    OneLineUsageError,
    build_services,
    check_choice,
    config_option,
    load_settings,
    main,
    open_services,
)
from mailflow.errors import ConfigError, MailflowError


@main.command()
@config_option
@click.option("--once", is_flag=True, help="Take everything waiting, process it, and exit.")
@click.option("--now", help="Act as if it were this ISO 8601 time (with --once).")
def run(config: str | None, once: bool, now: str | None) -> None:
    """Run mailflow: inbound mail, processing and the scheduler, until SIGTERM."""
    if now and not once:
        raise OneLineUsageError("--now needs --once: a running service keeps the real time")
    settings = load_settings(config)
    guard: list = []
    try:
        _run(settings, once, now, guard)
    finally:
        for lock in guard:
            lock.release()


def _run(settings, once: bool, now: str | None, guard: list) -> None:  # noqa: ANN001 - Settings
    from mailflow.runtime import Runtime
    from mailflow.store.locks import SingleProcess, sqlite_path

    if not once:  # aiosmtpd (where check_port_free lives) is not loaded by `run --once`
        from mailflow.inbound.lmtp import check_port_free
    if not once and settings["inbound.listen"] != "off":
        try:  # before the database or the secret file is created
            check_port_free(settings["inbound.host"], settings["inbound.port"])
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
    web = settings.web_listen()
    if not once and web is not None:
        try:
            check_port_free(*web)
        except ConfigError as exc:
            raise click.ClickException(f"web.listen: {exc}") from exc
    # `run` is the one command that may start a program from nothing (the embedded default).
    # Migrations run in a child process: Alembic would stay in this one (~15 MB) for good.
    services = build_services(settings, now, create=True, migrate=False)
    if settings["database.auto_migrate"]:
        try:
            services.db.upgrade_apart()
        except ConfigError as exc:
            services.db.dispose()
            raise click.ClickException(str(exc)) from exc
    # SQLite is single-process: a second `run` on the same file is refused, not interleaved.
    path = sqlite_path(services.db.url)
    if path is not None:
        lock = SingleProcess(path)
        try:
            lock.acquire()
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
        guard.append(lock)
    runtime = Runtime(services)
    settings = services.settings
    if once:
        try:
            report = runtime.run_once()
        except MailflowError as exc:
            raise click.ClickException(str(exc)) from exc
        p = report.processed
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(p.kinds.items())) or "none"
        click.echo(
            f"stored {report.stored_imap} from IMAP; processed {p.total}: done {p.done}, "
            f"quarantined {p.quarantined}, dead {p.dead} (kinds: {kinds})"
        )
        if report.timers is not None:
            t = report.timers
            click.echo(f"timers: fired {t.fired}, stale {t.stale}, failed {t.failed}")
        if report.sent is not None:
            d = report.sent
            click.echo(f"outbox: sent {d.sent}, retrying {d.retried}, failed {d.failed}")
        return
    if settings["inbound.listen"] != "off":
        click.echo(
            f"mailflow: {settings['inbound.listen'].upper()} on {settings['inbound.host']}:"
            f"{settings['inbound.port']} for {settings.program_address}; "
            f"database {services.db.engine.url.render_as_string(hide_password=True)}"
        )
    if settings["imap.host"]:
        click.echo(f"mailflow: watching IMAP {settings['imap.user']}@{settings['imap.host']}")
    if web is not None:
        click.echo(f"mailflow: /healthz and /metrics on http://{web[0]}:{web[1]}/")
    click.echo("mailflow: running; Ctrl-C or SIGTERM stops it")
    runtime.serve_forever()
    click.echo(f"mailflow: stopped after processing {runtime.totals.total} messages")


def _echo_json_line(out: dict) -> None:
    """One JSON object on one line, in strict UTF-8 whatever the locale: a lone surrogate
    (from undecodable input or a file name) becomes U+FFFD, never invalid bytes."""
    line = _SURROGATE.sub("\ufffd", json.dumps(out, ensure_ascii=False))
    click.echo(line.encode("utf-8") + b"\n", nl=False)


_SURROGATE = re.compile(r"[\ud800-\udfff]")


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file, per line.")
@click.option("--program-address", default=None, help="Program address (default: settings).")
def parse(files: tuple[Path, ...], as_json: bool, program_address: str | None) -> None:
    """Parse mail files and print their facts. Needs no database and no config."""
    from mailflow.app import load_rules_only
    from mailflow.parse import parse_message

    settings = load_settings(None)
    address = (program_address or settings.program_address).lower()
    # Verify tokens only if a secret is at hand; never create one just to parse.
    try:
        secret = settings.verify_keys(datetime.now(UTC)) if settings.has_secret() else None
    except ConfigError:
        secret = None
    rules = load_rules_only(settings)  # the staff vocabulary is declared in the rules
    failed = False
    for path in files:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            click.echo(f"Error: {path}: {exc.strerror or exc}", err=True)
            failed = True
            continue
        try:
            facts = parse_message(
                raw, program_address=address, secret=secret, staff=[*settings.staff, *(m[0] for m in settings.staff_members())],
                commands=rules.command_words(), text_verbs=rules.text_verbs(),
            )  # fmt: skip
            out = {"file": str(path), **facts.to_json()}
        except Exception as exc:  # noqa: BLE001 - one bad file must not hide the others
            out = {"file": str(path), "error": f"{type(exc).__name__}: {exc}"}
            failed = True
        if as_json:
            _echo_json_line(out)
        else:
            _print_human(out)
    if failed:
        sys.exit(1)


def _print_human(out: dict) -> None:
    if "error" in out:
        click.echo(f"{out['file']}: error: {out['error']}")
        return
    click.echo(f"{out['file']}: {out['kind']} from {out['from']['address']}: {out['subject']!r}")
    for key in ("language", "intent", "token", "bounce", "fields", "defects"):
        if out.get(key):
            click.echo(f"  {key}: {out[key]}")


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True)
@click.option("--status", help="Only messages with this status (new, done, quarantined, dead).")
@click.option("--limit", default=100, show_default=True)
def messages(config: str | None, as_json: bool, status: str | None, limit: int) -> None:
    """List stored messages with their facts and status, newest first."""
    from mailflow.store.schema import DEAD, DONE, NEW, QUARANTINED, InboxMessage

    check_choice("--status", status, (NEW, DONE, QUARANTINED, DEAD))
    services = open_services(config, read_only=True)
    with services.db.unit_of_work() as session:
        query = select(InboxMessage).order_by(InboxMessage.id.desc()).limit(limit)
        if status:
            query = query.where(InboxMessage.status == status)
        for row in session.scalars(query):
            facts = row.facts
            item = {
                "id": row.id,
                "source": row.source,
                "mailbox": row.mailbox,
                "uid": row.uid,
                "message_id": row.message_id,
                "size": row.size,
                "received_at": row.received_at.isoformat(),
                "processed_at": row.processed_at.isoformat() if row.processed_at else None,
                "status": row.status,
                "error": row.error,
                "outcome": facts.outcome if facts else None,
                "facts": facts.data if facts else None,
            }
            if as_json:
                click.echo(json.dumps(item, ensure_ascii=False))
            else:
                kind = facts.kind if facts else "-"
                sender = facts.from_address if facts else "-"
                click.echo(
                    f"#{row.id:<5} {row.status:<11} {kind:<11} {sender:<30} "
                    f"{(facts.outcome if facts else row.error) or ''}"
                )


@main.group()
def deadletters() -> None:
    """Messages whose processing failed: list them, replay them."""


@deadletters.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True)
@click.option("--all", "show_all", is_flag=True, help="Include replayed ones.")
def deadletters_list(config: str | None, as_json: bool, show_all: bool) -> None:
    from mailflow.store.schema import DeadLetter

    services = open_services(config, read_only=True)
    with services.db.unit_of_work() as session:
        query = select(DeadLetter).order_by(DeadLetter.id)
        if not show_all:
            query = query.where(DeadLetter.replayed_at.is_(None))
        for letter in session.scalars(query):
            item = {
                "id": letter.id,
                "inbox_id": letter.inbox_id,
                "stage": letter.stage,
                "reason": letter.reason,
                "created_at": letter.created_at.isoformat(),
                "replayed_at": letter.replayed_at.isoformat() if letter.replayed_at else None,
            }
            if as_json:
                click.echo(json.dumps(item, ensure_ascii=False))
            else:
                click.echo(
                    f"#{letter.id} inbox #{letter.inbox_id} [{letter.stage}] {letter.reason}"
                )


@deadletters.command("replay")
@config_option
@click.argument("letter_id", type=int)
def deadletters_replay(config: str | None, letter_id: int) -> None:
    """Queue a dead-lettered message again and process it now."""
    from mailflow.dispatch import process_pending, replay
    from mailflow.dispatch.inbox import Processing

    services = open_services(config)
    try:
        row = replay(services.db, letter_id, services.clock.now())
    except LookupError as exc:
        raise click.ClickException(str(exc)) from exc
    report = process_pending(
        services.db, services.clock, services.workflow,
        processing=Processing.from_settings(services.settings),
    )  # fmt: skip
    click.echo(
        f"replayed dead letter #{letter_id} (inbox #{row.id}): done {report.done}, "
        f"quarantined {report.quarantined}, dead {report.dead}"
    )
    if report.dead:
        sys.exit(1)


@main.command("check-mail")
@config_option
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for the probes.")
def check_mail(config: str | None, timeout: float) -> None:
    """Send probes through the relay to the program address (plain and +sub-address) and say
    what arrives: sub-addressing, Authentication-Results, delivery time, what to change."""
    from mailflow.admin.mailcheck import check_mail as run_check

    services = open_services(config)
    smtp = services.settings["outbound.transport"] == "smtp"
    result = run_check(
        services.program, services.transport if smtp else None, services.imap_config(),
        services.db, timeout=timeout,
    )  # fmt: skip
    for line in result.lines():
        click.echo(line)
    if not result.ok:
        sys.exit(1)
