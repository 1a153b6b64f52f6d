"""Command line. Thin: parse arguments, build services, call one function, print.

`main` is the click group; the commands live by area in mail.py (run, parse, messages,
deadletters), program.py (libraries, partnerships, show, attachment, propose, match, report,
demo), admin.py (init, db, rules, outbox) and privacy.py (forget, retention, secret), imported
at the end so they register on `main`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import click

from mailflow import log
from mailflow.errors import ConfigError
from mailflow.settings import Settings, load


def load_settings(config: str | None) -> Settings:
    try:
        return load(Path(config) if config else default_config())
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def default_config() -> Path | None:
    path = Path("mailflow.toml")
    return path if path.exists() else None


def open_services(
    config: str | None, now: str | None = None, *, create: bool = False, read_only: bool = False
):  # noqa: ANN201 - Services, imported lazily to keep `mailflow --help` fast
    """Services for a command. Only `run` may create the database (create=True); commands
    that only look (read_only=True) also create no secret file and no outgoing/ folder."""
    return build_services(load_settings(config), now, create=create, read_only=read_only)


def build_services(
    settings: Settings,
    now: str | None = None,
    *,
    create: bool = False,
    read_only: bool = False,
    migrate: bool | None = None,
):  # noqa: ANN201 - Services
    from mailflow.app import build
    from mailflow.clock import FrozenClock

    log.configure(settings["log.level"], settings["log.format"])
    clock = FrozenClock(_parse_now(now)) if now else None
    try:
        return build(settings, clock, create=create, read_only=read_only, migrate=migrate)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _parse_now(value: str) -> datetime:
    try:
        at = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time") from exc
    return at if at.tzinfo else at.replace(tzinfo=UTC)


class OneLineUsageError(click.UsageError):
    """A usage mistake told in one line, without the usage text click would print before it."""

    def show(self, file=None) -> None:  # noqa: ANN001 - click's signature
        click.echo(f"Error: {self.format_message()}", err=True, file=file)


def check_choice(option: str, value: str | None, valid: Iterable[str]) -> None:
    """Refuse a filter value that can match nothing, naming the values that can."""
    valid = list(valid)
    if value is not None and value not in valid:
        raise OneLineUsageError(f"{option} {value!r} is not one of: {', '.join(valid)}")


config_option = click.option(
    "--config", "-c", envvar="MAILFLOW_CONFIG", help="mailflow.toml (default: ./mailflow.toml)."
)


@click.group()
@click.version_option(package_name="mailflow")
def main() -> None:
    """mailflow: a Sister Libraries program run from one mailbox."""


json_option = click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")


def echo_items(items: list[dict], as_json: bool, columns: tuple[str, ...]) -> None:
    from mailflow.admin import render

    text = render(items, as_json, columns)
    if text:
        click.echo(text)


def drain_outbox(services) -> None:  # noqa: ANN001 - Services; imported lazily like everywhere here
    from mailflow.runtime import Runtime

    report = Runtime(services).drain()
    click.echo(f"outbox: sent {report.sent}, retrying {report.retried}, failed {report.failed}")


# The commands register themselves on `main` when their modules are imported.
from mailflow.cli import admin, mail, privacy, program  # noqa: E402, F401
