"""The program's records: libraries (with import/export), partnerships, show, propose,
match, report, and the demo. Queries and formatting live in mailflow/admin/."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from mailflow.cli import (
    check_choice,
    config_option,
    drain_outbox,
    echo_items,
    json_option,
    main,
    open_services,
)


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
    services = open_services(config, read_only=True)
    check_choice("--state", state, states(services, "library"))
    with services.db.unit_of_work() as session:
        items = admin.libraries(session, state, country)
    echo_items(items, as_json, admin.LIBRARY_COLUMNS)


def states(services, machine: str) -> list[str]:  # noqa: ANN001 - Services
    """The states a record can be in, as the loaded rules say (the initial one first)."""
    definition = services.workflow.machines[machine]
    return list(dict.fromkeys([definition.initial, *definition.states]))


@main.command()
@config_option
@json_option
@click.option("--state", help="Only partnerships in this state (proposed, offered, trial, ...).")
def partnerships(config: str | None, as_json: bool, state: str | None) -> None:
    """List partnerships: the pair, the state, the score and the dates that matter."""
    from mailflow import admin

    services = open_services(config, read_only=True)
    check_choice("--state", state, states(services, "partnership"))
    with services.db.unit_of_work() as session:
        items = admin.partnerships(session, state)
    echo_items(items, as_json, admin.PARTNERSHIP_COLUMNS)


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
    with open_services(config, read_only=True).db.unit_of_work() as session:
        try:
            doc = admin.show(session, kind, record_id)
        except LookupError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(doc, ensure_ascii=False) if as_json else admin.format_show(doc))


@main.command()
@config_option
@click.argument("activity_id", metavar="ACTIVITY", type=int)
@click.argument("n", type=int)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write it to this file (default: standard output).")  # fmt: skip
def attachment(config: str | None, activity_id: int, n: int, output: Path | None) -> None:
    """Attachment N (from 0, as `show` lists them) of activity ACTIVITY, as it was sent."""
    from mailflow import admin

    with open_services(config, read_only=True).db.unit_of_work() as session:
        try:
            meta, data = admin.attachment(session, activity_id, n)
        except LookupError as exc:
            raise click.ClickException(str(exc)) from exc
    if output is None:
        click.echo(data, nl=False)  # bytes: written to the binary stream as they are
        return
    output.write_bytes(data)
    click.echo(
        f"{output}: {meta['filename'] or '(no name)'}, {meta['content_type']}, {len(data)} bytes"
    )


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
    from mailflow.dispatch.turn import Cause, Turn

    services = open_services(config)
    with services.db.unit_of_work() as session:
        try:
            first, second = admin.find_library(session, a), admin.find_library(session, b)
        except LookupError as exc:
            raise click.ClickException(str(exc)) from exc
        turn = Turn(session, services.workflow, services.clock.now(), Cause("cli"))
        made, reason = make_proposal(turn, first, second)
        text = admin.format_proposal(made) if made is not None else None
    if text is None:
        click.echo(f"refused: {reason}", err=True)
        sys.exit(1)
    click.echo(text)
    drain_outbox(services)


@main.command()
@config_option
@click.option("--dry-run", is_flag=True, help="Show the pairs; propose nothing.")
@click.option("--json", "as_json", is_flag=True)
def match(config: str | None, dry_run: bool, as_json: bool) -> None:
    """Choose pairs for the whole pool of seeking libraries and propose them to staff."""
    from mailflow.runtime import Runtime

    services = open_services(config, read_only=dry_run)
    runtime = Runtime(services)
    chosen = runtime.match(dry_run=dry_run)
    if not dry_run and services.transport is not None:
        runtime.drain()
    reason = None if chosen else runtime.why_no_pair()
    if as_json:  # one JSON document, whatever the outcome
        pairs = [
            {"a": pair.a, "b": pair.b, "score": pair.score, "reasons": list(pair.reasons)}
            for pair in chosen
        ]
        doc = {"dry_run": dry_run, "pairs": pairs, "reason": reason}
        click.echo(json.dumps(doc, ensure_ascii=False))
        return
    for pair in chosen:
        click.echo(f"l{pair.a} + l{pair.b}: {pair.score:.2f}  " + "; ".join(pair.reasons))
    verb = "would propose" if dry_run else "proposed"
    click.echo(f"{verb} {len(chosen)} pair(s)" + (f": {reason}" if reason else ""))


@main.command()
@config_option
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write into: public/ (the list to publish) and staff/ (the dashboard).",
)
def report(config: str | None, out_dir: Path) -> None:
    """Write the public "Libraries Seeking Sisters" page and the staff dashboard (en, zh).

    Publish OUT/public/ only; OUT/staff/ holds the dashboard, which names contacts.
    """
    from mailflow.report import write_report

    services = open_services(config, read_only=True)
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
@click.option("--force", is_flag=True, help="Replace a demo already in the --out folder.")
def demo(out_dir: Path | None, force: bool) -> None:
    """Watch a whole program happen: libraries apply, are matched, introduced and sign MOUs.

    Everything goes through the real pipeline (SMTP in, parse, rules, outbox, SMTP out) with an
    embedded SQLite database and a clock that jumps ahead; nothing to set up.
    """
    from mailflow.demo.run import run_demo
    from mailflow.errors import ConfigError

    try:
        result = run_demo(out_dir, echo=click.echo, force=force)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
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
    from mailflow.admin.csv_import import import_rows, validate

    services = open_services(_group_config(config), read_only=dry_run)
    now = services.clock.now()
    with services.db.unit_of_work() as session:
        result = validate(session, services.workflow, file.read_bytes(), now)
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
    from mailflow.admin.csv_import import export_csv

    with open_services(_group_config(config), read_only=True).db.unit_of_work() as session:
        text, count = export_csv(session)
    data = ("\ufeff" + text).encode("utf-8")
    if file == "-":
        click.echo(data, nl=False)  # bytes: written to the binary stream as they are
    else:
        Path(file).write_bytes(data)
        click.echo(f"wrote {count} library(ies) to {file}", err=True)
