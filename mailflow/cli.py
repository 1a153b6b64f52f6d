"""Command line. Thin: parse arguments, build services, call one function, print."""

from __future__ import annotations

import json
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from sqlalchemy import select

from mailflow import log
from mailflow.errors import ConfigError, MailflowError
from mailflow.settings import Settings, load, render_toml

DEFAULTS = Path(__file__).with_name("defaults")


def _settings(config: str | None) -> Settings:
    try:
        return load(Path(config) if config else _default_config())
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _default_config() -> Path | None:
    path = Path("mailflow.toml")
    return path if path.exists() else None


def _services(config: str | None, now: str | None = None):  # noqa: ANN202
    from mailflow.app import build
    from mailflow.clock import FrozenClock

    settings = _settings(config)
    log.configure(settings["log.level"])
    clock = FrozenClock(_parse_now(now)) if now else None
    try:
        return build(settings, clock)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _parse_now(value: str) -> datetime:
    try:
        at = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time") from exc
    return at if at.tzinfo else at.replace(tzinfo=UTC)


config_option = click.option(
    "--config", "-c", envvar="MAILFLOW_CONFIG", help="mailflow.toml (default: ./mailflow.toml)."
)


@click.group()
@click.version_option(package_name="mailflow")
def main() -> None:
    """mailflow: a Sister Libraries program run from one mailbox."""


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def init(directory: Path) -> None:
    """Write a commented mailflow.toml and the default templates/ and rules/ into DIRECTORY."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "mailflow.toml"
    if config.exists():
        raise click.ClickException(f"{config} exists; not overwriting it")
    config.write_text(render_toml(), encoding="utf-8")
    for name in ("templates", "rules"):
        source = DEFAULTS / name
        if source.is_dir():
            shutil.copytree(source, directory / name, dirs_exist_ok=True)
    click.echo(f"wrote {config}")
    click.echo(f"next: cd {directory} && mailflow run")


@main.group()
def db() -> None:
    """Database administration."""


@db.command("upgrade")
@config_option
def db_upgrade(config: str | None) -> None:
    """Apply the Alembic migrations up to the newest."""
    from mailflow.app import database_url
    from mailflow.store.db import Database

    settings = _settings(config)
    database = Database(database_url(settings))
    database.upgrade()
    click.echo(f"database at head: {database.engine.url.render_as_string(hide_password=True)}")


@main.command()
@config_option
@click.option("--once", is_flag=True, help="Take everything waiting, process it, and exit.")
@click.option("--now", help="Act as if it were this ISO 8601 time (with --once).")
def run(config: str | None, once: bool, now: str | None) -> None:
    """Run mailflow: inbound mail, processing and the scheduler, until SIGTERM."""
    from mailflow.runtime import Runtime

    services = _services(config, now)
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
    click.echo("mailflow: running; Ctrl-C or SIGTERM stops it")
    runtime.serve_forever()
    click.echo(f"mailflow: stopped after processing {runtime.totals.total} messages")


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file, per line.")
@click.option("--program-address", default=None, help="Program address (default: settings).")
def parse(files: tuple[Path, ...], as_json: bool, program_address: str | None) -> None:
    """Parse mail files and print their facts. Needs no database and no config."""
    from mailflow.parse import parse_message

    settings = load(_default_config())
    address = (program_address or settings.program_address).lower()
    # Verify tokens only if a secret is at hand; never create one just to parse.
    try:
        secret = settings.secret() if _secret_available(settings) else None
    except ConfigError:
        secret = None
    for path in files:
        try:
            raw = path.read_bytes()
            facts = parse_message(raw, program_address=address, secret=secret, staff=settings.staff)
            out = {"file": str(path), **facts.to_json()}
        except Exception as exc:  # noqa: BLE001 - one bad file must not hide the others
            out = {"file": str(path), "error": f"{type(exc).__name__}: {exc}"}
        if as_json:
            click.echo(json.dumps(out, ensure_ascii=False))
        else:
            _print_human(out)


def _secret_available(settings: Settings) -> bool:
    if settings["program.secret"]:
        return True
    name = settings["program.secret_file"]
    return bool(name) and settings.path("program.secret_file").exists()


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
    from mailflow.store.schema import InboxMessage

    services = _services(config)
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

    services = _services(config)
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

    services = _services(config)
    try:
        row = replay(services.db, letter_id, services.clock.now())
    except LookupError as exc:
        raise click.ClickException(str(exc)) from exc
    report = process_pending(services.db, services.clock, services.workflow)
    click.echo(
        f"replayed dead letter #{letter_id} (inbox #{row.id}): done {report.done}, "
        f"quarantined {report.quarantined}, dead {report.dead}"
    )
    if report.dead:
        sys.exit(1)


# -- operator commands: queries and formatting live in mailflow/admin.py ------------------------
json_option = click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")


def _echo_items(items: list[dict], as_json: bool, columns: tuple[str, ...]) -> None:
    from mailflow.admin import render

    text = render(items, as_json, columns)
    if text:
        click.echo(text)


def _drain(services) -> None:  # noqa: ANN001 - Services; imported lazily like everywhere here
    from mailflow.runtime import Runtime

    report = Runtime(services).drain()
    click.echo(f"outbox: sent {report.sent}, retrying {report.retried}, failed {report.failed}")


# A group that still lists when called alone, so `libraries import/export` can live under it.
@main.group(invoke_without_command=True)
@config_option
@json_option
@click.option("--state", help="Only libraries in this state (seeking, incomplete, ...).")
@click.option("--country", help="Only libraries in this country (as they wrote it).")
@click.pass_context
def libraries(
    ctx: click.Context, config: str | None, as_json: bool, state: str | None, country: str | None
) -> None:
    """List libraries with their contacts and what their application still lacks.

    Subcommands: `import FILE.csv` and `export [FILE.csv|-]` (the committee's spreadsheet).
    """
    from mailflow import admin

    if ctx.invoked_subcommand is not None:
        return
    with _services(config).db.unit_of_work() as session:
        items = admin.libraries(session, state, country)
    _echo_items(items, as_json, admin.LIBRARY_COLUMNS)


@main.command()
@config_option
@json_option
@click.option("--state", help="Only partnerships in this state (proposed, offered, trial, ...).")
def partnerships(config: str | None, as_json: bool, state: str | None) -> None:
    """List partnerships: the pair, the state, the score and the dates that matter."""
    from mailflow import admin

    with _services(config).db.unit_of_work() as session:
        items = admin.partnerships(session, state)
    _echo_items(items, as_json, admin.PARTNERSHIP_COLUMNS)


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.argument("record")
def show(config: str | None, as_json: bool, record: str) -> None:
    """One record's story: fields, history with causes and rule traces, timers, mail.

    RECORD is l12 or library:12 for a library, p3 or partnership:3 for a partnership; a bare
    number (12) means a library. Answers "why did this mail go out, or why not".
    """
    from mailflow import admin

    try:
        kind, record_id = admin.parse_ref(record)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="RECORD") from exc
    with _services(config).db.unit_of_work() as session:
        try:
            doc = admin.show(session, kind, record_id)
        except LookupError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(doc, ensure_ascii=False) if as_json else admin.format_show(doc))


@main.group("outbox")
def outbox_group() -> None:
    """Mail waiting to go out, sent, or given up on: list it, retry it."""


@outbox_group.command("list")
@config_option
@json_option
@click.option("--status", type=click.Choice(["pending", "sent", "failed"]))
@click.option("--limit", default=100, show_default=True)
def outbox_list(config: str | None, as_json: bool, status: str | None, limit: int) -> None:
    """List outbox rows, newest first."""
    from mailflow import admin

    with _services(config).db.unit_of_work() as session:
        items = admin.outbox(session, status, limit)
    _echo_items(items, as_json, admin.OUTBOX_COLUMNS)


@outbox_group.command("retry")
@config_option
@click.argument("ids", nargs=-1, type=int)
@click.option("--all-failed", is_flag=True, help="Retry every failed row.")
def outbox_retry(config: str | None, ids: tuple[int, ...], all_failed: bool) -> None:
    """Put rows (IDs, or --all-failed) back to pending, due now; then drain the outbox once.

    Attempts are kept, so a row already at outbox.max_attempts gets exactly one more try.
    last_error is kept until that try replaces it. Sent rows are never resent. Exits 1 if a
    retried row failed again.
    """
    from mailflow import admin

    if bool(ids) == all_failed:
        raise click.UsageError("give outbox ids or --all-failed (not both)")
    services = _services(config)
    with services.db.unit_of_work() as session:
        try:
            retried = admin.retry(session, ids, all_failed, services.clock.now())
        except LookupError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"retrying {', '.join(f'#{i}' for i in retried) or 'nothing'} (attempts kept)")
    _drain(services)
    with services.db.unit_of_work() as session:
        lines, failed = admin.retry_outcome(session, retried)
    click.echo("\n".join(lines))
    if failed:
        sys.exit(1)


@main.command()
@config_option
@click.argument("a")
@click.argument("b")
def propose(config: str | None, a: str, b: str) -> None:
    """Propose a partnership between libraries A and B (ids like 12 or #12, or exact names).

    The rules decide what follows (usually a proposal mail to staff, sent at once). A pair the
    hard rules refuse (same country, no shared language, proposed or declined before) exits 1.
    """
    from mailflow import admin
    from mailflow.dispatch.proposals import propose as make_proposal
    from mailflow.dispatch.workflow import Cause

    services = _services(config)
    with services.db.unit_of_work() as session:
        try:
            first, second = admin.find_library(session, a), admin.find_library(session, b)
        except LookupError as exc:
            raise click.ClickException(str(exc)) from exc
        now = services.clock.now()
        made, reason = make_proposal(session, services.workflow, first, second, now, Cause("cli"))
        text = admin.format_proposal(made) if made is not None else None
    if text is None:
        click.echo(f"refused: {reason}", err=True)
        sys.exit(1)
    click.echo(text)
    _drain(services)


@main.group()
def rules() -> None:
    """The rules files: check them, draw them. Needs no database."""


@rules.command("check")
@config_option
def rules_check(config: str | None) -> None:
    """Load the rules and templates exactly as start-up does; report problems with file:line."""
    from mailflow import admin
    from mailflow.app import build_workflow

    try:
        workflow = build_workflow(_settings(config))
    except ConfigError as exc:
        click.echo(f"rules check failed:\n{exc}", err=True)
        sys.exit(1)
    locales = workflow.renderer.available_locales() if workflow.renderer else []
    click.echo(admin.rules_summary(workflow.machines, locales))


@rules.command("graph")
@config_option
@click.option("--machine", default="partnership", type=click.Choice(["partnership", "library"]))
@click.option("--format", "fmt", default="mermaid", type=click.Choice(["mermaid", "dot"]))
def rules_graph(config: str | None, machine: str, fmt: str) -> None:
    """Print a state machine as a Mermaid (default) or Graphviz DOT diagram."""
    from mailflow import admin
    from mailflow.app import build_workflow
    from mailflow.engine.loader import mermaid

    try:
        definition = build_workflow(_settings(config)).machines[machine]
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(mermaid(definition) if fmt == "mermaid" else admin.dot(definition), nl=False)


@main.command()
@config_option
@click.option("--dry-run", is_flag=True, help="Show the pairs; propose nothing.")
@click.option("--json", "as_json", is_flag=True)
def match(config: str | None, dry_run: bool, as_json: bool) -> None:
    """Choose pairs for the whole pool of seeking libraries and propose them to staff."""
    from mailflow.runtime import Runtime

    services = _services(config)
    runtime = Runtime(services)
    chosen = runtime.match(dry_run=dry_run)
    if not dry_run and services.transport is not None:
        runtime.drain()
    for pair in chosen:
        if as_json:
            click.echo(
                json.dumps(
                    {"a": pair.a, "b": pair.b, "score": pair.score, "reasons": list(pair.reasons)},
                    ensure_ascii=False,
                )
            )
        else:
            click.echo(f"l{pair.a} + l{pair.b}: {pair.score:.2f}  " + "; ".join(pair.reasons))
    if not as_json:
        verb = "would propose" if dry_run else "proposed"
        click.echo(f"{verb} {len(chosen)} pair(s)")


@main.command()
@config_option
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write the public list and the dashboard into.",
)
def report(config: str | None, out_dir: Path) -> None:
    """Write the public "Libraries Seeking Sisters" page and the staff dashboard (en, zh)."""
    from mailflow.report import write_report

    services = _services(config)
    paths = write_report(services.db, services.workflow.machines, out_dir, services.clock.now(),
                         services.settings["program.name"])  # fmt: skip
    for path in paths:
        click.echo(str(path))


@main.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder to keep everything in (default: a new temporary folder).",
)
def demo(out_dir: Path | None) -> None:
    """Watch a whole program happen: libraries apply, are matched, introduced and sign MOUs.

    Everything goes through the real pipeline (SMTP in, parse, rules, outbox, SMTP out) with an
    embedded SQLite database and a clock that jumps ahead; nothing to set up.
    """
    from mailflow.demo.run import run_demo

    result = run_demo(out_dir, echo=click.echo)
    click.echo(f"done in {result.seconds:.0f} s")


def _group_config(config: str | None) -> str | None:
    # `mailflow libraries -c FILE import ...` gives the option to the group, not the subcommand.
    parent = click.get_current_context().parent
    return config or (parent.params.get("config") if parent else None)


@libraries.command("import")
@config_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Only check the file; show what would be created.")
def libraries_import(config: str | None, file: Path, dry_run: bool) -> None:
    """Create libraries from the committee's spreadsheet (CSV, UTF-8 or GB18030/GBK).

    One row per library, a header row naming the columns in English or Chinese (Library name /
    图书馆名称, Country / 国家, Contact email / 电子邮件 ...; see `export` for every column).
    Optional columns: state (seeking, incomplete, hidden, withdrawn, unreachable; default
    seeking, and a row lacking required fields must say incomplete), created (ISO date) and
    contacts (email:status; ...). Every row is checked first; if any row is wrong nothing is
    imported and every problem is listed (exit 1). No acknowledgement mail is sent: imported
    libraries are already known to the committee. Seeking libraries are asked to confirm their
    listing later, counted from their created date, like everyone else.
    """
    from mailflow.dispatch.importer import import_rows, validate

    services = _services(_group_config(config))
    now = services.clock.now()
    with services.db.unit_of_work() as session:
        result = validate(session, file.read_bytes(), now)
        if result.encoding:
            click.echo(f"{file.name}: {result.encoding}, delimiter {result.delimiter!r}", err=True)
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
        if not result.ok:
            for error in result.errors:
                click.echo(error, err=True)
            click.echo(f"{file.name}: {len(result.errors)} problem(s); nothing imported", err=True)
            sys.exit(1)
        for row in result.rows:
            contacts = ", ".join(address for address, _ in row.contacts)
            click.echo(f"row {row.row}: {row.name} ({row.country}) -> {row.state}; {contacts}")
        if dry_run:
            click.echo(f"dry run: would import {len(result.rows)} library(ies); nothing written")
            return
        created = import_rows(session, services.workflow, result.rows, now, file.name)
    ids = ", ".join(f"#{library.id}" for library in created)
    click.echo(f"imported {len(created)} library(ies): {ids or 'none'}")


@libraries.command("export")
@config_option
@click.argument("file", default="-", type=click.Path(dir_okay=False, allow_dash=True))
def libraries_export(config: str | None, file: str) -> None:
    """Write every library as CSV to FILE (default: standard output); `import` reads it back.

    UTF-8 with a byte-order mark, so Excel shows Chinese correctly. Columns: id, state,
    created, the application fields (English keys) and contacts (email:status; ...).
    """
    from mailflow.dispatch.importer import export_csv

    with _services(_group_config(config)).db.unit_of_work() as session:
        text, count = export_csv(session)
    data = ("\ufeff" + text).encode("utf-8")
    if file == "-":
        click.get_binary_stream("stdout").write(data)
    else:
        Path(file).write_bytes(data)
        click.echo(f"wrote {count} library(ies) to {file}", err=True)
