"""The request form as data: loaded from content/forms/*.yaml and checked before the assistant starts."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import yaml

from flows.validators import ATTACHMENT_VALIDATORS, VALIDATORS


class FieldKind(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    CHOICE = "choice"
    ATTACHMENT = "attachment"


class FormDefinitionError(ValueError):
    """A mistake in a form definition; the message names the file and the field."""


@dataclass(frozen=True)
class Choice:
    id: str
    label: str


@dataclass(frozen=True)
class FormField:
    name: str
    prompt: str
    label: str
    validator: str
    required: bool
    kind: FieldKind
    choices: tuple[Choice, ...] = ()


@dataclass(frozen=True)
class FormDefinition:
    name: str
    declaration_version: str
    declaration_text: str
    fields: tuple[FormField, ...]

    def field(self, name: str) -> FormField | None:
        return next((f for f in self.fields if f.name == name), None)

    def next_after(self, name: str | None) -> FormField | None:
        names = [f.name for f in self.fields]
        if name is None:
            return self.fields[0]
        index = names.index(name) + 1
        return self.fields[index] if index < len(names) else None

    def message_keys(self) -> set[str]:
        keys = {self.declaration_text}
        for f in self.fields:
            keys |= {f.prompt, f.label} | {c.label for c in f.choices}
        return keys


_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_CHOICE_ID = re.compile(r"^[a-z0-9_]{1,24}$")


def load_form(path: Path, has_key: Callable[[str], bool] | None = None) -> FormDefinition:
    """Load and check a form. `has_key(key)` says whether a message key has both Arabic and English text."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise FormDefinitionError(f"{path}: cannot read the form: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("fields"), list) or not raw["fields"]:
        raise FormDefinitionError(f"{path}: the form needs a non-empty 'fields' list")
    declaration = raw.get("declaration") or {}
    if not isinstance(declaration, dict) or not declaration.get("version") or not declaration.get("text"):
        raise FormDefinitionError(f"{path}: 'declaration' needs a version and a text key")

    fields: list[FormField] = []
    seen: set[str] = set()
    for position, item in enumerate(raw["fields"], start=1):
        where = f"{path}: field {item.get('name', f'#{position}') if isinstance(item, dict) else f'#{position}'!r}"
        if not isinstance(item, dict):
            raise FormDefinitionError(f"{where}: must be a mapping")
        missing = [k for k in ("name", "prompt", "label", "validator", "required", "kind") if k not in item]
        if missing:
            raise FormDefinitionError(f"{where}: missing {', '.join(missing)}")
        name = str(item["name"])
        if not _NAME.match(name):
            raise FormDefinitionError(f"{where}: the name must be lowercase letters, digits and _")
        if name in seen:
            raise FormDefinitionError(f"{where}: the name is used twice")
        seen.add(name)
        try:
            kind = FieldKind(item["kind"])
        except ValueError:
            kinds = ", ".join(k.value for k in FieldKind)
            raise FormDefinitionError(f"{where}: unknown kind {item['kind']!r} (one of: {kinds})") from None
        if not isinstance(item["required"], bool):
            raise FormDefinitionError(f"{where}: 'required' must be true or false")
        validator_name = str(item["validator"])
        if validator_name not in VALIDATORS:
            raise FormDefinitionError(f"{where}: unknown validator {validator_name!r}")
        if (kind == FieldKind.ATTACHMENT) != (validator_name in ATTACHMENT_VALIDATORS):
            raise FormDefinitionError(
                f"{where}: validator {validator_name!r} does not fit kind {kind.value!r}"
            )
        choices: tuple[Choice, ...] = ()
        if kind == FieldKind.CHOICE:
            raw_choices = item.get("choices")
            if not isinstance(raw_choices, list) or not raw_choices:
                raise FormDefinitionError(f"{where}: a choice field needs a non-empty 'choices' list")
            choices = tuple(Choice(str(c.get("id", "")), str(c.get("label", ""))) for c in raw_choices)
            ids = [c.id for c in choices]
            bad = [i for i in ids if not _CHOICE_ID.match(i)]
            if bad or len(set(ids)) != len(ids):
                raise FormDefinitionError(f"{where}: choice ids must be unique short ASCII names (got {ids})")
        elif "choices" in item:
            raise FormDefinitionError(f"{where}: only a choice field has choices")
        field = FormField(
            name=name,
            prompt=str(item["prompt"]),
            label=str(item["label"]),
            validator=validator_name,
            required=item["required"],
            kind=kind,
            choices=choices,
        )
        if has_key is not None:
            for key in (field.prompt, field.label, *(c.label for c in choices)):
                if not has_key(key):
                    raise FormDefinitionError(f"{where}: message key {key!r} has no Arabic or English text")
        fields.append(field)

    form = FormDefinition(
        name=str(raw.get("form", path.stem)),
        declaration_version=str(declaration["version"]),
        declaration_text=str(declaration["text"]),
        fields=tuple(fields),
    )
    if has_key is not None and not has_key(form.declaration_text):
        raise FormDefinitionError(
            f"{path}: declaration key {form.declaration_text!r} has no Arabic or English text"
        )
    return form
