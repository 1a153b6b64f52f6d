"""Composition root: Settings -> Services. The only place that knows every part."""

from __future__ import annotations

from dataclasses import dataclass

from mailflow.clock import Clock, SystemClock
from mailflow.dispatch import ProgramContext
from mailflow.errors import ConfigError
from mailflow.inbound.imap import ImapConfig
from mailflow.settings import Settings
from mailflow.store.db import Database


@dataclass
class Services:
    settings: Settings
    clock: Clock
    db: Database
    program: ProgramContext

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
            idle=s["imap.idle"],
            idle_renew_seconds=s["imap.idle_renew_seconds"],
            poll_seconds=s["imap.poll_seconds"],
            timeout_seconds=s["imap.timeout_seconds"],
            backoff_max_seconds=s["imap.backoff_max_seconds"],
        )


def build(
    settings: Settings, clock: Clock | None = None, *, migrate: bool | None = None
) -> Services:
    db = Database(_database_url(settings))
    if settings["database.auto_migrate"] if migrate is None else migrate:
        db.upgrade()
    program = ProgramContext(
        program_address=settings.program_address,
        secret=settings.secret(),
        staff=settings.staff,
    )
    return Services(settings=settings, clock=clock or SystemClock(), db=db, program=program)


def _database_url(settings: Settings) -> str:
    url = str(settings["database.url"])
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        # A relative SQLite path is relative to the config file's folder, not wherever we run.
        url = prefix + str((settings.base_dir / url[len(prefix) :]).resolve())
    return url
