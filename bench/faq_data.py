"""The FAQ evaluation sets: the blind set (bench/data/blind/) split into DEV and TEST, and the older labelled set.

The blind split is deterministic and stratified: items are grouped by writer, style (msa, gulf, en) and kind
(in_scope, out_of_scope, near_miss); within a group they are ordered by a hash of their text and the first 40%
(rounded) go to DEV. Files in DEV_ONLY (writer C, added after TEST had been looked at) go to DEV whole, so TEST
stays exactly the A/B items it was. Nothing here prints an item.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BLIND = ROOT / "bench" / "data" / "blind"
BLIND_FILES = ("blind_a.yaml", "blind_b.yaml", "blind_c.yaml", "blind_d.yaml")
DEV_ONLY = frozenset({"blind_c.yaml", "blind_d.yaml"})  # every item of these files is DEV
TEST_LOOKS = ROOT / "bench" / "data" / "faq_blind_test_looks.log"
DEV_SHARE = 0.4


def _hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def load_blind(directory: Path = BLIND) -> dict[str, list[dict]]:
    """{"dev": [...], "test": [...]}; each item: q, id (None when out of scope), lang, style, kind, writer."""
    groups: dict[tuple[str, str, str], list[dict]] = {}
    dev_only: list[dict] = []
    for name in BLIND_FILES:
        data = yaml.safe_load((directory / name).read_text(encoding="utf-8"))
        for raw in data["items"]:
            expect = raw["expect"]
            item = {
                "q": str(raw["q"]),
                "id": None if expect in (None, "none") else str(expect),
                "lang": raw["lang"],
                "style": raw["style"],
                "kind": raw["kind"],
                "writer": data.get("writer", name),
            }
            if name in DEV_ONLY:
                dev_only.append(item)
            else:
                groups.setdefault((item["writer"], item["style"], item["kind"]), []).append(item)
    split: dict[str, list[dict]] = {"dev": [], "test": []}
    for key in sorted(groups):
        members = sorted(groups[key], key=lambda item: _hash(item["q"]))
        cut = round(len(members) * DEV_SHARE)
        split["dev"] += members[:cut]
        split["test"] += members[cut:]
    split["dev"] += dev_only
    return split


def load_labelled(path: Path) -> list[dict]:
    """The older set written alongside the guides (bench/data/faq_eval.yaml): a secondary report."""
    items = yaml.safe_load(path.read_text(encoding="utf-8"))["items"]
    for item in items:
        if item["split"] not in ("dev", "test"):
            raise SystemExit("bad split in bench/data/faq_eval.yaml")
        item.setdefault("kind", "oos" if not item["id"] else item.get("kind", "msa"))
    return items
