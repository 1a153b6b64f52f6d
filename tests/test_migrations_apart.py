"""Database.at_head reads the migration files without Alembic and agrees with Alembic;
upgrade_apart migrates a real SQLite file in a child process, so Alembic stays out of the
calling process (`mailflow run`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory

from mailflow.errors import ConfigError
from mailflow.store.db import Database, alembic_config, migration_heads


def test_heads_read_from_the_files_are_alembics() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert migration_heads() == set(script.get_heads())


def test_at_head_only_when_the_database_is(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    db = Database(url)
    try:
        assert not db.at_head()  # no alembic_version table yet
        db.upgrade()
        assert db.at_head()
        script = ScriptDirectory.from_config(alembic_config(url))
        (head,) = script.get_heads()
        previous = script.get_revision(head).down_revision
        command.downgrade(alembic_config(url), str(previous))
        assert not db.at_head()
    finally:
        db.dispose()


def test_upgrade_apart_migrates_in_a_child_and_never_imports_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    code = (
        "import sys; from mailflow.store.db import Database; "
        f"db = Database({url!r}); db.upgrade_apart(); "
        "print(db.at_head(), any(m.split('.')[0] == 'alembic' for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]


def test_a_failed_migration_is_a_config_error_with_the_childs_reason(tmp_path: Path) -> None:
    path = tmp_path / "not-a-database.sqlite3"
    path.write_bytes(b"this is not an SQLite file, " * 200)
    db = Database(f"sqlite:///{path}")
    try:
        with pytest.raises(ConfigError, match="migrating the database failed: .*not a database"):
            db.upgrade_apart()
    finally:
        db.dispose()
