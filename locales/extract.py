"""A Babel extractor for the message keys named in content/forms/*.yaml (prompts, labels, choices)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

import yaml


def extract_form_keys(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Any
) -> Iterator[tuple[int, str | None, str, list[str]]]:
    data = yaml.safe_load(fileobj.read().decode("utf-8")) or {}

    def keys(value: Any) -> bool:  # an inline {ar, en} text is not a message key
        return isinstance(value, str) and bool(value)

    declaration = data.get("declaration") or {}
    if keys(declaration.get("text")):
        yield 1, None, str(declaration["text"]), ["form declaration"]
    if keys(data.get("title")):
        yield 1, None, str(data["title"]), ["form title"]
    submit = data.get("submit") or {}
    for key in ("notice", "notice_anonymous"):
        if keys(submit.get(key)):
            yield 1, None, str(submit[key]), [f"form submit {key}"]
    for field in data.get("fields") or []:
        name = field.get("name", "?")
        for key in ("prompt", "label"):
            if keys(field.get(key)):
                yield 1, None, str(field[key]), [f"form field {name}: {key}"]
        for choice in field.get("choices") or []:
            if keys(choice.get("label")):
                yield 1, None, str(choice["label"]), [f"form field {name}: choice {choice.get('id')}"]
