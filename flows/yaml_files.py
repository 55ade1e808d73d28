"""Reading the content files (guides, forms, message templates): YAML, parsed by libyaml when PyYAML has it.

PyYAML's pure-Python parser took 0.2 s for the guides at every start; its C binding (in PyYAML's wheels) is
ten times faster and accepts the same safe subset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> Any:
    """The file's data (raises yaml.YAMLError on a syntax error, as yaml.safe_load does)."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)  # noqa: S506 (a safe loader)
