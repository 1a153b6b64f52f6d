"""DESIGN.md's import rules: data flows one way, and parse/ and engine/ do no I/O."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mailflow"
IO_LIBRARIES = {
    "imapclient",
    "smtplib",
    "sqlalchemy",
    "aiosmtpd",
    "apscheduler",
    "socket",
    "requests",
}


def imports(area: str) -> dict[str, set[str]]:
    """module path -> the modules it imports (mailflow.* and top-level third-party names)."""
    found: dict[str, set[str]] = {}
    for path in (
        (PACKAGE / area).rglob("*.py") if (PACKAGE / area).is_dir() else [PACKAGE / f"{area}.py"]
    ):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(PACKAGE))] = names
    return found


def areas(names: set[str]) -> set[str]:
    return {n.split(".")[1] for n in names if n.startswith("mailflow.") and n.count(".") >= 1}


def test_parse_and_engine_do_no_io_and_know_no_store() -> None:
    for area in ("parse", "engine"):
        for module, names in imports(area).items():
            assert not areas(names) & {
                "store",
                "inbound",
                "outbound",
                "outbox",
                "schedule",
                "dispatch",
            }, module
            assert not {n.split(".")[0] for n in names} & IO_LIBRARIES, module


def test_inbound_writes_only_through_store() -> None:
    for module, names in imports("inbound").items():
        assert not areas(names) & {"engine", "dispatch", "outbox", "outbound"}, module


def test_only_dispatch_and_the_composition_root_join_engine_and_store() -> None:
    # report/ reads the database and draws the machine from the rules: read-only, never decides.
    allowed = {"dispatch", "app.py", "runtime.py", "cli", "demo", "report", "admin"}
    for area in [
        p.name
        for p in PACKAGE.iterdir()
        if (p.is_dir() and not p.name.startswith("_")) or p.suffix == ".py"
    ]:
        if area in allowed or area.endswith(".py") and area in allowed:
            continue
        for module, names in imports(area.removesuffix(".py")).items():
            both = {"engine", "store"} <= areas(names)
            assert not both, f"{module} imports both engine and store"


def test_outbox_and_outbound_know_nothing_of_decisions() -> None:
    for area in ("outbox", "outbound"):
        for module, names in imports(area).items():
            assert not areas(names) & {"engine", "dispatch", "inbound"}, module
