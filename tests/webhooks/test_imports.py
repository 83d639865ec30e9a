"""webhooks/ is signing, intake and ``webhooks listen``: none of it reaches into the engine
(apply's HTTP face, which does, is orchestrator/web/)."""

from __future__ import annotations

import ast
from pathlib import Path

import orchestrator.webhooks

PACKAGE = Path(orchestrator.webhooks.__file__).parent


def imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_module_of_webhooks_imports_the_engine_or_the_web_face() -> None:
    modules = sorted(PACKAGE.glob("*.py"))
    assert len(modules) >= 4  # __init__, intake, receiver, signing
    for module in modules:
        reaching = {
            name
            for name in imported(module)
            if name.startswith(("orchestrator.engine", "orchestrator.web"))
            and not name.startswith("orchestrator.webhooks")
        }
        assert reaching == set(), module.name
