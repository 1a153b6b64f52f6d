"""`mailflow demo` runs the whole program through the real pipeline and leaves it on disk."""

from __future__ import annotations

import email
import re
from email.policy import default
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from mailflow.cli import main
from mailflow.store.db import Database
from mailflow.store.schema import Activity, Contact, Library, MessageFacts, Partnership


def test_demo_tells_the_story_and_leaves_mail_database_and_dashboard(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = result.output
    assert "applications arrive" in text and "Summary" in text and "Where everything is" in text
    assert re.search(r"\d+ libraries from (1[2-9]|[2-9]\d) countries", text)

    db = Database(f"sqlite:///{out / 'mailflow.sqlite3'}")
    with db.unit_of_work() as s:
        states = dict(
            s.execute(select(Partnership.state, func.count()).group_by(Partnership.state)).all()
        )
        assert states.get("active", 0) >= 2  # signed MOUs
        assert states.get("declined", 0) >= 1 and states.get("lapsed", 0) >= 1
        assert states.get("stalled", 0) >= 1
        assert (
            s.scalar(select(func.count()).select_from(Contact).where(Contact.status == "failed"))
            == 1
        )
        assert (
            s.scalar(
                # its confirmation mail bounced: it never confirmed, so it lapsed
                select(func.count()).select_from(Library).where(Library.state == "lapsed")
            )
            == 1
        )
        assert s.scalar(select(func.count()).select_from(Activity)) >= 3
        kinds = dict(
            s.execute(select(MessageFacts.kind, func.count()).group_by(MessageFacts.kind)).all()
        )
        assert kinds.get("auto_reply", 0) >= 1 and kinds.get("command", 0) >= 3
        # every pair crosses a border
        for p in s.scalars(select(Partnership)):
            assert p.library_a.country != p.library_b.country
    db.dispose()

    files = sorted((out / "mail").glob("*.eml"))
    assert len(files) > 50
    subjects = [
        str(email.message_from_bytes(f.read_bytes(), policy=default)["Subject"]) for f in files
    ]
    assert any(
        "寻找姐妹图书馆" in s for s in subjects
    )  # Chinese libraries are written to in Chinese
    dashboard = (out / "site" / "staff" / "dashboard.html").read_text(encoding="utf-8")
    public = (out / "site" / "public" / "index.html").read_text(encoding="utf-8")
    assert "active" in dashboard.lower() and "<svg" in dashboard
    assert not re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", re.sub(r"<[^>]+>", " ", public))
