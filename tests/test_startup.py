"""A broken rules file or template stops start-up with the file and what is wrong in it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mailflow.app import DEFAULT_RULES
from mailflow.outbox.render import DEFAULT_TEMPLATES


def run_once(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mailflow", "run", "--once"],
        cwd=tmp_path,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "MAILFLOW_INBOUND_LISTEN": "off",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("    to: trial\n", "    to: triall\n", "to: unknown state 'triall'"),
        ("      - block-pair\n", "      - block-pairs\n", "do: unknown action 'block-pairs'"),
        ("    if: both-accepted\n", "    if: both-acepted\n", "if: unknown guard 'both-acepted'"),
        (
            "{template: library-offer, to: each}",
            "{template: library-ofer, to: each}",
            "unknown template 'library-ofer'",
        ),
        (
            "  - {name: offer-lapse, after: 21d}",
            "  - {name: offer-lapse, after: 3 weeks}",
            "is not a duration",
        ),
        (
            "  - from: offered\n    on: offer-lapse\n",
            "  - from: trial\n    on: offer-lapse\n",
            "offer-lapse: no transition handles it",
        ),
    ],
)
def test_broken_rules_stop_start_up_with_file_line_and_key(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES, rules)
    path = rules / "partnership.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    result = run_once(tmp_path, MAILFLOW_RULES_DIR=str(rules))
    assert result.returncode != 0
    assert expected in result.stderr
    assert str(path) in result.stderr
    assert not (tmp_path / "mailflow.sqlite3").exists()  # refused before touching anything


def test_a_rules_file_that_is_not_yaml_is_refused_with_its_line(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES, rules)
    (rules / "library.yaml").write_text("machine: library\nstates: [unclosed\n", encoding="utf-8")
    result = run_once(tmp_path, MAILFLOW_RULES_DIR=str(rules))
    assert result.returncode != 0 and f"{rules / 'library.yaml'}:" in result.stderr


def test_a_template_with_an_unknown_variable_is_refused(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    (templates / "en").mkdir(parents=True)
    original = (DEFAULT_TEMPLATES / "en" / "library-offer.txt.j2").read_text(encoding="utf-8")
    (templates / "en" / "library-offer.txt.j2").write_text(
        original + "\nYour coordinator: {{ coordinator.name }}\n", encoding="utf-8"
    )
    result = run_once(tmp_path, MAILFLOW_TEMPLATES_DIR=str(templates))
    assert result.returncode != 0
    assert "library-offer.txt.j2" in result.stderr and "coordinator" in result.stderr


def test_yes_and_no_in_rules_stay_strings() -> None:
    import yaml

    from mailflow.engine.loader import _Loader

    assert yaml.load("on: yes\nto: no\nx: true", Loader=_Loader) == {
        "on": "yes",
        "to": "no",
        "x": True,
        "__line__": 1,
    }
