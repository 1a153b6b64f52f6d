"""Setting up and operating: init, db, rules, outbox."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click

from mailflow.cli import (
    check_choice,
    config_option,
    drain_outbox,
    echo_items,
    json_option,
    load_settings,
    main,
    open_services,
)
from mailflow.errors import ConfigError
from mailflow.resources import default_rules, default_templates
from mailflow.settings import render_toml

DEFAULTS = {"templates": default_templates, "rules": default_rules}


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def init(directory: Path) -> None:
    """Write a commented mailflow.toml and the default templates/ and rules/ into DIRECTORY."""
    config = directory / "mailflow.toml"
    if config.exists():
        raise click.ClickException(f"{config} exists; not overwriting it")
    made = [p for p in (directory, *directory.parents) if not p.exists()]
    try:
        directory.mkdir(parents=True, exist_ok=True)
        config.write_text(render_toml(), encoding="utf-8")
        for name in ("templates", "rules"):
            source = DEFAULTS[name]()
            if source.is_dir():
                shutil.copytree(source, directory / name, dirs_exist_ok=True)
    except OSError as exc:
        # Half a program folder is worse than none: take back what this command made.
        if made:
            shutil.rmtree(made[-1], ignore_errors=True)
        else:
            config.unlink(missing_ok=True)
        raise click.ClickException(
            f"cannot write {exc.filename or directory}: {exc.strerror or exc}"
        ) from exc
    click.echo(f"wrote {config}")
    click.echo(f"next: cd {directory} && mailflow run")


@main.group()
def db() -> None:
    """Database administration."""


@db.command("upgrade")
@config_option
def db_upgrade(config: str | None) -> None:
    """Apply the Alembic migrations up to the newest."""
    from mailflow.app import open_database

    try:
        database = open_database(load_settings(config), create=True)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    database.upgrade()
    click.echo(f"database at head: {database.engine.url.render_as_string(hide_password=True)}")


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
def status(config: str | None, as_json: bool) -> None:
    """Queues, ages, failures, IMAP contact and the workers with their heartbeats."""
    import json
    from datetime import UTC, datetime

    from mailflow.admin.status import format_status, snapshot
    from mailflow.store.workers import stale_after_seconds

    services = open_services(config, read_only=True)
    stale_after = stale_after_seconds(services.settings["workers.heartbeat_seconds"])
    with services.db.unit_of_work() as session:
        figures = snapshot(session, services.clock.now(), datetime.now(UTC), stale_after)
    click.echo(json.dumps(figures, indent=2) if as_json else format_status(figures))


@main.group("outbox")
def outbox_group() -> None:
    """Mail waiting to go out, sent, or given up on: list it, retry it."""


@outbox_group.command("list")
@config_option
@json_option
@click.option("--status", help="Only rows with this status (pending, sent, failed).")
@click.option("--limit", default=100, show_default=True)
def outbox_list(config: str | None, as_json: bool, status: str | None, limit: int) -> None:
    """List outbox rows, newest first."""
    from mailflow import admin

    check_choice("--status", status, ("pending", "sent", "failed"))
    with open_services(config, read_only=True).db.unit_of_work() as session:
        items = admin.outbox(session, status, limit)
    echo_items(items, as_json, admin.OUTBOX_COLUMNS)


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
    services = open_services(config)
    with services.db.unit_of_work() as session:
        try:
            retried = admin.retry(session, ids, all_failed, services.clock.now())
        except LookupError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"retrying {', '.join(f'#{i}' for i in retried) or 'nothing'} (attempts kept)")
    drain_outbox(services)
    with services.db.unit_of_work() as session:
        lines, failed = admin.retry_outcome(session, retried)
    click.echo("\n".join(lines))
    if failed:
        sys.exit(1)


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
        workflow = build_workflow(load_settings(config), secret=b"rules-check")
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
        definition = build_workflow(load_settings(config), secret=b"rules-graph").machines[machine]
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(mermaid(definition) if fmt == "mermaid" else admin.dot(definition), nl=False)
