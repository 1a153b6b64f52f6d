"""Where the default rules/ and templates/ are: the checkout's top level, or inside the wheel.

An operator edits `rules/` and `templates/` at the top of a program folder; the same folders at
the top of this repository are the defaults. A wheel carries them as `mailflow/_defaults/` (see
pyproject.toml), an editable install or a checkout reads them where they are.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CANDIDATES = (_PACKAGE / "_defaults", _PACKAGE.parent)


def _find(name: str) -> Path:
    for base in _CANDIDATES:
        if (base / name).is_dir():
            return base / name
    raise FileNotFoundError(f"the default {name}/ folder is missing from this installation")


def default_rules() -> Path:
    """The packaged rules/ folder (the defaults an operator's rules/ replaces)."""
    return _find("rules")


def default_templates() -> Path:
    """The packaged templates/ folder (an operator's templates/ overrides it file by file)."""
    return _find("templates")
