"""The FAQ evaluation sets: the blind set (bench/data/blind/) split into DEV and TEST, and the older labelled set.

TEST is one writer's file (TEST_FILES), looked at once and then retired into DEV when a new writer's file takes its
place: writer F since 2026-12-01 03:45. DEV is everything else: writers A and B (whose 60% was the TEST part until
its twelfth look), C, D and E (the TEST part for one look). Nothing here prints an item.
"""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BLIND = ROOT / "bench" / "data" / "blind"
BLIND_FILES = ("blind_a.yaml", "blind_b.yaml", "blind_c.yaml", "blind_d.yaml", "blind_e.yaml", "blind_f.yaml")
TEST_FILES = frozenset({"blind_f.yaml"})  # the TEST part; every other file is DEV
TEST_LOOKS = ROOT / "bench" / "data" / "faq_blind_test_looks.log"
# Each TEST part's looks are counted on the lines that name it (the log also holds the retired A/B part's).
TEST_PART = "test=F"


def load_blind(directory: Path = BLIND) -> dict[str, list[dict]]:
    """{"dev": [...], "test": [...]}; each item: q, id (None when out of scope), lang, style, kind, writer."""
    split: dict[str, list[dict]] = {"dev": [], "test": []}
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
            split["test" if name in TEST_FILES else "dev"].append(item)
    return split


def load_labelled(path: Path) -> list[dict]:
    """The older set written alongside the guides (bench/data/faq_eval.yaml): a secondary report."""
    items = yaml.safe_load(path.read_text(encoding="utf-8"))["items"]
    for item in items:
        if item["split"] not in ("dev", "test"):
            raise SystemExit("bad split in bench/data/faq_eval.yaml")
        item.setdefault("kind", "oos" if not item["id"] else item.get("kind", "msa"))
    return items
