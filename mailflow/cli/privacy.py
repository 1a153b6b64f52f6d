"""Personal data and keys: forget, retention, secret rotate."""

from __future__ import annotations

import click

from mailflow.cli import config_option, load_settings, main, open_services
from mailflow.errors import ConfigError


@main.command()
@config_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.argument("library")
def forget(config: str | None, yes: bool, library: str) -> None:
    """Erase LIBRARY's personal data (l12, 12 or its exact name); keep anonymous counts.

    Contact addresses and names, the raw bytes of mail from or about it, notes, replies and
    the bodies of mail sent to it are erased; the library row stays with its state and country,
    named "forgotten library l12". It cannot be undone.
    """
    from mailflow.admin import find_library
    from mailflow.admin.privacy import forget_library

    services = open_services(config)
    with services.db.unit_of_work() as session:
        try:
            found = find_library(session, library)
        except LookupError as exc:
            raise click.ClickException(str(exc)) from exc
        if found.forgotten_at is not None:
            click.echo(f"l{found.id} was forgotten on {found.forgotten_at:%Y-%m-%d}; nothing to do")
            return
        if not yes:
            click.confirm(
                f"Erase every personal detail of l{found.id} {found.name!r} "
                f"({len(found.contacts)} contact(s))? This cannot be undone",
                abort=True,
            )
        report = forget_library(session, found, services.clock.now(), services.workflow.machines)
    for line in report.lines():
        click.echo(line)


@main.command()
@config_option
def retention(config: str | None) -> None:
    """Blank old raw mail now, as the daily job does (privacy.raw_mail_days; 0: keep all)."""
    from mailflow.admin.privacy import blank_old_mail

    services = open_services(config)
    days = int(services.settings["privacy.raw_mail_days"])
    with services.db.unit_of_work() as session:
        report = blank_old_mail(session, services.clock.now(), days, services.workflow.machines)
    click.echo(f"retention ({days} days): blanked {report.messages} received, {report.sent} sent")


@main.group()
def secret() -> None:
    """The token secret."""


@secret.command("rotate")
@config_option
def secret_rotate(config: str | None) -> None:
    """Retire the token secret and make a new one; the old one verifies for a grace period."""
    from datetime import UTC, datetime

    from mailflow.settings import rotate_secret

    settings = load_settings(config)
    try:
        path = rotate_secret(settings, datetime.now(UTC).date())
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    days = settings["program.retired_secret_days"]
    click.echo(f"new secret in {path}; the old one verifies for {days} more days")
    click.echo("restart `mailflow run` so that it signs with the new secret")
