"""`mailflow rules check` proves the rules, the commands and the templates form one whole."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailflow.app import DEFAULT_RULES
from mailflow.cli import main
from mailflow.outbox.render import DEFAULT_TEMPLATES


def check(tmp_path: Path, **env: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, ["rules", "check"], env={"MAILFLOW_PROGRAM_SECRET": "s3cret", **env}
    )
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes else "")


def copy_rules(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES, rules)
    return rules


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_shipped_rules_and_templates_pass(tmp_path: Path) -> None:
    code, out = check(tmp_path)
    assert code == 0, out
    assert "rules OK" in out


def test_default_locale_zh_passes(tmp_path: Path) -> None:
    code, out = check(tmp_path, MAILFLOW_TEMPLATES_DEFAULT_LOCALE="zh")
    assert code == 0, out


def test_an_event_nothing_produces_fails_with_file_and_line(tmp_path: Path) -> None:
    rules = copy_rules(tmp_path)
    path = rules / "partnership.yaml"
    # The reply table still says "no" means decline; the transition now waits for "declined".
    edit(path, "  - from: offered\n    on: decline\n", "  - from: offered\n    on: declined\n")
    code, out = check(tmp_path, MAILFLOW_RULES_DIR=str(rules))
    assert code == 1
    line = path.read_text().splitlines().index("    on: declined")  # 1-based: the `- from` line
    assert f"{path}:{line}: on: event 'declined' is produced by nothing" in out
    assert "no transition handles 'decline' in state offered" in out


def test_a_command_event_renamed_in_the_rules_fails(tmp_path: Path) -> None:
    rules = copy_rules(tmp_path)
    edit(rules / "partnership.yaml", "    on: staff-skip-mou\n", "    on: staff-skip-the-mou\n")
    code, out = check(tmp_path, MAILFLOW_RULES_DIR=str(rules))
    assert code == 1
    assert "event 'staff-skip-the-mou' is produced by nothing" in out
    assert "commands.skip-mou: no transition handles 'staff-skip-mou'" in out


def test_a_reply_a_template_invites_but_no_state_understands_fails(tmp_path: Path) -> None:
    rules = copy_rules(tmp_path)
    path = rules / "partnership.yaml"
    edit(path, "    replies: {yes: accept, no: decline}\n", "    replies: {yes: accept}\n")
    code, out = check(tmp_path, MAILFLOW_RULES_DIR=str(rules))
    assert code == 1
    assert "library-offer invites 'no', but state offered has no reply for it" in out
    assert str(path) in out


def test_a_locale_added_without_staff_mail_fails(tmp_path: Path) -> None:
    # An operator adds French library mail; staff mail in French is missing.
    templates = tmp_path / "templates"
    (templates / "fr").mkdir(parents=True)
    shutil.copy(DEFAULT_TEMPLATES / "en" / "_macros.txt.j2", templates / "fr" / "_macros.txt.j2")
    offer = (DEFAULT_TEMPLATES / "en" / "library-offer.txt.j2").read_text(encoding="utf-8")
    (templates / "fr" / "library-offer.txt.j2").write_text(
        offer.replace('"en/_macros.txt.j2"', '"fr/_macros.txt.j2"'), encoding="utf-8"
    )
    code, out = check(tmp_path, MAILFLOW_TEMPLATES_DIR=str(templates))
    assert code == 1
    assert "staff-escalation: no staff template for locale 'fr'" in out
    assert "staff-digest: no staff template for locale 'fr'" in out


def test_a_template_syntax_error_is_a_clear_line_not_a_traceback(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(DEFAULT_TEMPLATES, templates)
    path = templates / "zh" / "library-offer.txt.j2"
    path.write_text(path.read_text(encoding="utf-8") + "\n{% if %}\n", encoding="utf-8")
    code, out = check(tmp_path, MAILFLOW_TEMPLATES_DIR=str(templates))
    assert code == 1
    assert "Traceback" not in out
    assert f"{path}:" in out


@pytest.mark.parametrize("name", ["rules.dir", "templates.dir"])
def test_a_folder_that_is_set_but_missing_fails(tmp_path: Path, name: str) -> None:
    var = "MAILFLOW_" + name.upper().replace(".", "_")
    code, out = check(tmp_path, **{var: str(tmp_path / "nowhere")})
    assert code == 1
    assert f"{name}: {tmp_path / 'nowhere'} does not exist" in out


def test_commands_declare_words_the_parser_reads(tmp_path: Path) -> None:
    from mailflow.engine.loader import load_rules

    rules = load_rules(DEFAULT_RULES)
    words = rules.command_words()
    assert "非正式" in words["skip-mou"] and "批准" in words["approve"]
    assert rules.commands["skip-mou"].event == "staff-skip-mou"
