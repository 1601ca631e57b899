"""The layers hold: authoring never imports delivery, only the stores speak Redis, and the
command line imports delivery code only inside the commands that need it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imports(path: Path, *, top_level_only: bool = False) -> set[str]:
    """The modules a file imports (at its top level only, when asked)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize(
    "path",
    [p for p in modules("campaign") if "cli" not in p.parts],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_authoring_never_imports_delivery(path: Path) -> None:
    assert not {m for m in imports(path) if m.split(".")[0] == "workers"}


@pytest.mark.parametrize("path", modules("campaign/cli"), ids=lambda p: p.name)
def test_the_command_line_imports_delivery_only_inside_commands(path: Path) -> None:
    top = imports(path, top_level_only=True)
    assert not {m for m in top if m.split(".")[0] in ("workers", "redis", "celery", "requests")}


@pytest.mark.parametrize(
    "path",
    [p for p in modules("campaign") + modules("workers") if p.parent.name != "store"],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_only_the_stores_speak_redis(path: Path) -> None:
    assert not {m for m in imports(path) if m.split(".")[0] == "redis"}


def test_no_variable_of_the_tests_or_benchmarks_takes_the_settings_prefix() -> None:
    # Every CAMPAIGN_* name is a setting: a test's own variable there would make every command
    # refuse to start ("unknown settings") in the shell that set it.
    from workers.settings import PREFIX, Settings

    known = {f"{PREFIX}{field.upper()}" for field in Settings.model_fields}
    known.add(f"{PREFIX}REDIS_ULR")  # misspelt on purpose: a test that it is refused
    named = {
        name
        for path in [*modules("tests"), *modules("bench")]
        for name in re.findall(rf"\b{PREFIX}[A-Z_]+\b", path.read_text(encoding="utf-8"))
    }
    assert named - known == set()
