"""House rule: flows/ is channel-neutral. It imports nothing from handlers/, bot/, telegram, httpx or starlette."""

from __future__ import annotations

import ast
from pathlib import Path

FORBIDDEN = {"handlers", "bot", "telegram", "httpx", "starlette", "uvicorn"}
FLOWS = Path(__file__).resolve().parent.parent / "flows"


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_flows_imports_no_channel_or_wiring_code():
    files = sorted(FLOWS.rglob("*.py"))
    assert len(files) >= 8
    offenders = {str(p.relative_to(FLOWS)): sorted(imported_roots(p) & FORBIDDEN) for p in files}
    assert {name: bad for name, bad in offenders.items() if bad} == {}


def test_storage_imports_no_flows_channel_or_wiring_code():
    storage = FLOWS.parent / "storage"
    files = sorted(storage.rglob("*.py"))
    offenders = {
        str(p.relative_to(storage)): sorted(imported_roots(p) & (FORBIDDEN | {"flows"})) for p in files
    }
    assert {name: bad for name, bad in offenders.items() if bad} == {}


def test_the_checker_does_catch_a_forbidden_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom telegram import Bot\nfrom handlers.console import x\n")
    assert imported_roots(sample) & FORBIDDEN == {"telegram", "handlers"}
