"""The guides (FAQ content) as data: loading content/guides/*.yaml and checking it before start-up."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml

from flows.yaml_files import read_yaml

ACTIONS = frozenset({"apply", "status", "human", "volunteer", "complaint"})
LANGUAGES = ("ar", "en")

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_GUIDE_KEYS = frozenset({"guide", "title", "entries"})
_ENTRY_KEYS = frozenset({"id", "section", "questions", "answer", "action", "sample"})
_TOPIC_KEYS = frozenset({"id", "about", "questions"})
# The file of topics the guides do not answer (decoys), beside the guides: see content/guides/README.md.
NOT_COVERED_FILE = "not_covered.yaml"
NOT_COVERED_GUIDE = "not_covered"


class GuideError(ValueError):
    """A guide file is not valid; the message names the file and the entry so the admin can fix it."""

    def __init__(self, file: str, entry: str | None, problem: str) -> None:
        self.file = file
        self.entry = entry
        where = f"{file}, entry '{entry}'" if entry else file
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class FaqEntry:
    id: str
    guide: str
    guide_title: dict[str, str]
    section: dict[str, str]
    questions: dict[str, list[str]]
    answer: dict[str, str]
    action: str | None
    sample: bool
    file: str
    # False for a topic the guides do not answer: ranked like an entry so that a question about it is not
    # answered with the closest guide entry, but never answered, suggested or looked up itself.
    covered: bool = True

    def __hash__(self) -> int:
        return hash(self.id)


Fail = Callable[[str], NoReturn]


def _bilingual_text(value: Any, what: str, fail: Fail) -> dict[str, str]:
    if not isinstance(value, dict):
        fail(f"'{what}' must have an 'ar' and an 'en' text")
    unknown = set(value) - set(LANGUAGES)
    if unknown:
        fail(f"'{what}' has an unknown language {sorted(unknown)}; use 'ar' and 'en'")
    texts: dict[str, str] = {}
    for lang in LANGUAGES:
        if lang not in value:
            fail(f"'{what}' is missing the '{lang}' language")
        text = value[lang]
        if not isinstance(text, str) or not text.strip():
            fail(f"'{what}' in '{lang}' is empty")
        texts[lang] = text.strip()
    return texts


def _questions(value: Any, fail: Fail) -> dict[str, list[str]]:
    if value is None:
        fail("'questions' is missing")
    if not isinstance(value, dict):
        fail("'questions' must have an 'ar' and an 'en' list")
    unknown = set(value) - set(LANGUAGES)
    if unknown:
        fail(f"'questions' has an unknown language {sorted(unknown)}; use 'ar' and 'en'")
    out: dict[str, list[str]] = {}
    for lang in LANGUAGES:
        if lang not in value:
            fail(f"'questions' is missing the '{lang}' language")
        items = value[lang]
        if isinstance(items, str):
            items = [items]
        if not isinstance(items, list) or not items:
            fail(f"'questions' in '{lang}' has no question")
        cleaned = []
        for item in items:
            if not isinstance(item, str) or not item.strip():
                fail(f"'questions' in '{lang}' has an empty question")
            cleaned.append(item.strip())
        out[lang] = cleaned
    return out


def _read(path: Path) -> Any:
    try:
        return read_yaml(path)
    except yaml.YAMLError as exc:
        raise GuideError(path.name, None, f"is not valid YAML: {exc}") from exc


def _items(
    name: str, items: list[Any], keys: frozenset[str], seen: dict[str, str], example: str
) -> Iterator[tuple[dict[str, Any], str, Fail]]:
    """Each entry (or topic) of a file that is a mapping of known keys with a new, well-formed id; with the
    `fail` that names it. `seen` (id -> file) spans every file."""
    for position, raw in enumerate(items, start=1):
        label = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else f"#{position}"

        def fail(problem: str, label: str = label) -> NoReturn:
            raise GuideError(name, label, problem)

        if not isinstance(raw, dict):
            fail("must be a mapping")
        unknown = set(raw) - keys
        if unknown:
            fail(f"unknown key(s) {sorted(unknown)}")
        item_id = raw.get("id")
        if not isinstance(item_id, str) or not _ID.match(item_id):
            fail(f"'id' must be a lower-case id such as '{example}'")
        if item_id in seen:
            fail(f"duplicate id, already used in {seen[item_id]}")
        seen[item_id] = name
        yield raw, item_id, fail


def _load_file(path: Path, seen: dict[str, str], guides: dict[str, str]) -> list[FaqEntry]:
    name = path.name

    def fail_file(problem: str) -> NoReturn:
        raise GuideError(name, None, problem)

    data = _read(path)
    if not isinstance(data, dict):
        fail_file("must be a mapping with 'guide', 'title' and 'entries'")
    unknown = set(data) - _GUIDE_KEYS
    if unknown:
        fail_file(f"unknown key(s) {sorted(unknown)}")
    guide = data.get("guide")
    if not isinstance(guide, str) or not _ID.match(guide):
        fail_file("'guide' must be a lower-case id such as 'social_research'")
    if guide in guides:
        fail_file(f"guide id '{guide}' is already used by {guides[guide]}")
    guides[guide] = name
    title = _bilingual_text(data.get("title"), "title", fail_file)
    raw_entries = data.get("entries")
    if not isinstance(raw_entries, list) or not raw_entries:
        fail_file("'entries' must be a non-empty list")

    entries = []
    for raw, entry_id, fail in _items(name, raw_entries, _ENTRY_KEYS, seen, "committee-timeline"):
        section = _bilingual_text(raw.get("section"), "section", fail)
        questions = _questions(raw.get("questions"), fail)
        if raw.get("answer") is None:
            fail("'answer' is missing")
        answer = _bilingual_text(raw.get("answer"), "answer", fail)
        action = raw.get("action")
        if action is not None and action not in ACTIONS:
            fail(f"unknown action '{action}'; use one of {', '.join(sorted(ACTIONS))}")
        sample = raw.get("sample", False)
        if not isinstance(sample, bool):
            fail("'sample' must be true or false")
        entries.append(
            FaqEntry(
                id=entry_id,
                guide=guide,
                guide_title=title,
                section=section,
                questions=questions,
                answer=answer,
                action=action,
                sample=sample,
                file=name,
            )
        )
    return entries


def _load_topics(path: Path, seen: dict[str, str]) -> list[FaqEntry]:
    """The topics the guides do not answer: `topics:`, each with an id, what it is `about` and questions."""
    name = path.name

    def fail_file(problem: str) -> NoReturn:
        raise GuideError(name, None, problem)

    data = _read(path)
    if not isinstance(data, dict) or set(data) != {"topics"} or not isinstance(data["topics"], list):
        fail_file("must be a mapping with a 'topics' list")
    topics = []
    for raw, topic_id, fail in _items(name, data["topics"], _TOPIC_KEYS, seen, "housing-aid"):
        about = _bilingual_text(raw.get("about"), "about", fail)
        topics.append(
            FaqEntry(
                id=topic_id,
                guide=NOT_COVERED_GUIDE,
                guide_title=about,
                section=about,
                questions=_questions(raw.get("questions"), fail),
                answer=about,
                action=None,
                sample=False,
                file=name,
                covered=False,
            )
        )
    return topics


def load_guides(directory: Path) -> list[FaqEntry]:
    """Load and check every guide file, then the topics they do not answer (`not_covered.yaml`, optional,
    entries with `covered` False); raises GuideError on the first problem found."""
    directory = Path(directory)
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    guide_files = [path for path in files if path.name != NOT_COVERED_FILE]
    if not guide_files:
        raise GuideError(str(directory), None, "no guide files (*.yaml) found")
    seen: dict[str, str] = {}
    guides: dict[str, str] = {}
    entries: list[FaqEntry] = []
    for path in guide_files:
        entries.extend(_load_file(path, seen, guides))
    if (directory / NOT_COVERED_FILE).is_file():
        entries.extend(_load_topics(directory / NOT_COVERED_FILE, seen))
    return entries
