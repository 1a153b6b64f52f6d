"""The `mailflow parse --json` contract (docs/parse.md): every key, in order, with its type,
on real-looking mail through the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailflow.cli import main

DATA = Path(__file__).parent / "data"
KEYS = [
    "file", "message_id", "from", "to", "cc", "reply_to", "subject", "date", "kind", "text",
    "body_charset", "reply_text", "language", "attachments", "bounce", "auto_reply", "token",
    "in_reply_to", "fields", "intent", "defects",
]  # fmt: skip
# A spread of real-looking mail: golden MIME, messy MIME, replies, bounces, auto-replies.
MAILS = [
    *sorted((DATA / "mime").glob("*.eml")),
    *sorted((DATA / "mime" / "messy").glob("*.eml")),
    *sorted((DATA / "replies").glob("*.eml"))[:10],
    *sorted((DATA / "bounces").glob("*.eml"))[:10],
    *sorted((DATA / "autoreplies").glob("*.eml"))[:10],
]


def messy(name: str) -> Path:
    (path,) = (DATA / "mime" / "messy").glob(f"[0-9][0-9]-{name}.eml")
    return path


def _named(value: object) -> bool:
    return (
        isinstance(value, dict)
        and list(value) == ["address", "name"]
        and all(isinstance(v, str) for v in value.values())
    )


def check_types(out: dict) -> None:
    assert list(out) == KEYS, out.get("file")
    assert out["message_id"] is None or isinstance(out["message_id"], str)
    assert _named(out["from"])
    for key in ("to", "cc", "reply_to"):
        assert isinstance(out[key], list) and all(_named(a) for a in out[key]), key
        assert all("@" in a["address"] and a["address"] == a["address"].lower() for a in out[key])
    for key in ("subject", "kind", "text", "body_charset", "reply_text"):
        assert isinstance(out[key], str), key
    assert out["body_charset"] == out["body_charset"].lower()
    assert out["date"] is None or isinstance(out["date"], str)
    assert out["language"] is None or isinstance(out["language"], str)
    for a in out["attachments"]:
        assert list(a) == ["filename", "content_type", "size"]
        assert isinstance(a["filename"], str) and a["filename"]
        assert isinstance(a["content_type"], str) and isinstance(a["size"], int)
    if out["bounce"] is not None:
        assert isinstance(out["bounce"]["recipients"], list)
        assert out["bounce"]["permanent"] in (True, False, None)
    assert isinstance(out["auto_reply"], bool)
    assert out["token"] is None or isinstance(out["token"], str)
    assert isinstance(out["fields"], dict)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in out["fields"].items())
    assert out["intent"] is None or isinstance(out["intent"], str)
    assert isinstance(out["defects"], list) and all(isinstance(d, str) for d in out["defects"])


def run_parse(monkeypatch: pytest.MonkeyPatch, tmp: Path, files: list[Path]) -> list[dict]:
    monkeypatch.chdir(tmp)
    result = CliRunner().invoke(main, ["parse", "--json", *map(str, files)])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_every_key_and_type_on_real_mail(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert len(MAILS) >= 80
    lines = run_parse(monkeypatch, tmp_path, MAILS)
    assert [line["file"] for line in lines] == [str(p) for p in MAILS]
    for out in lines:
        check_types(out)
    # Not only empty lists: the named lists and the charset carry values on this corpus.
    assert sum(bool(out["cc"]) for out in lines) >= 2
    assert sum(bool(out["reply_to"]) for out in lines) >= 2
    assert len({out["body_charset"] for out in lines}) >= 8


def test_names_and_charset_as_the_mail_gives_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    flowed, lists, no_type, ks = run_parse(
        monkeypatch,
        tmp_path,
        [
            DATA / "mime" / "flowed_reply.eml",
            messy("to-cc-reply-to-named"),
            messy("no-content-type-latin1"),
            messy("ks-c-5601-body"),
        ],
    )
    assert flowed["to"] == [{"address": "sisters@program.example", "name": "Sister Libraries"}]
    assert flowed["cc"] == [
        {"address": "leitung@stadtbib.example.de", "name": "Leitung"},
        {"address": "a.weber@stadtbib.example.de", "name": "Weber, Anna"},
    ]
    assert flowed["reply_to"] == [{"address": "partnerschaft@stadtbib.example.de", "name": ""}]
    assert lists["to"] == [
        {"address": "sisters@program.example", "name": "Programa Irmãs"},
        {"address": "rui@bib.example.pt", "name": "Costa, Rui"},
    ]
    assert lists["cc"] == [
        {"address": "wangfang@lib.example.cn", "name": "王芳"},
        {"address": "bare@lib.example.cn", "name": ""},
    ]
    assert lists["reply_to"] == [{"address": "geral@bib.example.pt", "name": "Biblioteca"}]
    assert no_type["body_charset"] == ""
    assert ks["body_charset"] == "ks_c_5601-1987"
    assert ks["from"] == {"address": "kim@lib.example.kr", "name": "김민수"}


def test_the_installed_command_prints_the_same_contract(tmp_path: Path) -> None:
    """The real process (locale, stdout encoding), not only click's runner."""
    mail = messy("att-rfc2231-continuations")
    done = subprocess.run(
        [sys.executable, "-m", "mailflow", "parse", "--json", str(mail)],
        capture_output=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "LANG": "C"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.decode("utf-8"))
    check_types(out)
    assert out["attachments"][0]["filename"] == "姐妹图书馆申请表.pdf"
