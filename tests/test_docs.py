"""The docs cannot drift from the code: every name the rules language has is in docs/rules.md.

The registries are read from the code, the tags from the code's questions and the shipped rules,
so a new action, guard, signal, tag or key without a line in the docs fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from mailflow.dispatch.apply import STAMPS
from mailflow.dispatch.commands import HANDLERS
from mailflow.dispatch.turn import Outcomes
from mailflow.engine.actions import ACTIONS, RECIPIENTS, RECORD_KINDS, REVIEW_FROM
from mailflow.engine.definition import (
    COMMAND_NEEDS,
    GLOBAL_SIGNALS,
    REPLY_SIGNALS,
    SYSTEM_EVENTS,
)
from mailflow.engine.guards import GUARDS
from mailflow.engine.loader import (
    ANCHORS,
    COMMAND_KEYS,
    STATE_KEYS,
    TIMER_KEYS,
    TRANSITION_KEYS,
)
from mailflow.outbox.render import META_KEYS

ROOT = Path(__file__).resolve().parents[1]
RULES_DOC = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
ARCHITECTURE_DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")


def _row(name: str, description: str) -> str:
    return f"| `{name}` | {description} |"


def test_every_action_is_documented_with_its_description() -> None:
    missing = [n for n, a in ACTIONS.items() if _row(n, a.description) not in RULES_DOC]
    assert not missing, f"docs/rules.md lacks (or words differently) the actions {missing}"


def test_every_guard_is_documented_with_its_description() -> None:
    missing = [n for n, g in GUARDS.items() if _row(n, g.description) not in RULES_DOC]
    assert not missing, f"docs/rules.md lacks (or words differently) the guards {missing}"


def test_every_reply_signal_is_documented() -> None:
    missing = [s for s, d in REPLY_SIGNALS.items() if _row(s, d) not in RULES_DOC]
    missing += [s for s, d in GLOBAL_SIGNALS.items() if f"| `{s}` | {d} |" not in RULES_DOC]
    assert not missing, f"docs/rules.md lacks the reply signals {missing}"


def test_every_system_event_is_documented() -> None:
    missing = [
        f"{machine}.{event}"
        for machine, events in SYSTEM_EVENTS.items()
        for event, description in events.items()
        if f"| {machine} | `{event}` | {description} |" not in RULES_DOC
    ]
    assert not missing, f"docs/rules.md lacks the system events {missing}"


def _tags_the_code_asks_for() -> set[str]:
    asked = set(STAMPS)
    for path in (ROOT / "mailflow").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        asked |= set(re.findall(r"\.states\(\s*\"\w+\",\s*\"([\w-]+)\"\s*\)", text))
    return asked


def _tags_the_rules_declare() -> set[str]:
    tags: set[str] = set()
    for path in (ROOT / "rules").glob("*.yaml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for state in (data.get("states") or {}).values():
            if isinstance(state, dict):
                tags |= set(state.get("tags") or [])
    return tags


def test_every_tag_is_documented() -> None:
    asked = _tags_the_code_asks_for()
    assert {"listed", "proposable", "pending", "live"} <= asked  # the scan still finds them
    tags = asked | _tags_the_rules_declare()
    missing = sorted(t for t in tags if f"`{t}`" not in RULES_DOC)
    assert not missing, f"docs/rules.md lacks the tags {missing}"


@pytest.mark.parametrize(
    "names",
    [
        pytest.param(STATE_KEYS, id="state keys"),
        pytest.param(TIMER_KEYS, id="timer keys"),
        pytest.param(TRANSITION_KEYS, id="transition keys"),
        pytest.param(COMMAND_KEYS, id="command keys"),
        pytest.param(COMMAND_NEEDS, id="command needs"),
        pytest.param(ANCHORS, id="timer anchors"),
        pytest.param(RECIPIENTS, id="send recipients"),
        pytest.param(RECORD_KINDS, id="record kinds"),
        pytest.param(REVIEW_FROM, id="review-date from"),
        pytest.param(tuple(HANDLERS), id="command handlers"),
        pytest.param(META_KEYS, id="template front matter"),
    ],
)
def test_every_key_of_the_language_is_documented(names: tuple[str, ...]) -> None:
    missing = [n for n in names if f"`{n}`" not in RULES_DOC]
    assert not missing, f"docs/rules.md lacks {missing}"


def test_every_outcome_code_is_in_the_architecture() -> None:
    missing = [str(c) for c in Outcomes if f"| `{c}` |" not in ARCHITECTURE_DOC]
    assert not missing, f"docs/architecture.md lacks the outcome codes {missing}"


_LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize(
    "doc",
    [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))],
    ids=lambda p: p.relative_to(ROOT).as_posix(),
)
def test_links_stay_inside_the_repository_and_resolve(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    problems = []
    for target in _LINK.findall(text):
        if target.startswith("#"):
            continue
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("/"):
            problems.append(f"{target}: not a relative link inside the repository")
            continue
        path = (doc.parent / target.partition("#")[0]).resolve()
        if not path.is_relative_to(ROOT):
            problems.append(f"{target}: outside the repository")
        elif not path.exists():
            problems.append(f"{target}: no such file")
    assert not problems, f"{doc.name}: " + "; ".join(problems)


def test_rules_files_point_to_the_rules_doc() -> None:
    for path in (ROOT / "rules").glob("*.yaml"):
        head = "".join(path.read_text(encoding="utf-8").splitlines(keepends=True)[:3])
        assert "docs/rules.md" in head, f"{path.name}: its opening comment names docs/rules.md"
