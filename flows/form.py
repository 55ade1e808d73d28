"""Forms as data: loaded from content/forms/*.yaml and checked before the assistant starts.

A form declares its fields, its declaration (optional), what happens on submit (which record, which staff card,
which notice) and its reference prefix. A text (prompt, label, choice, notice) is a message key from locales/,
or an inline mapping {ar: …, en: …} so that a new form needs no programmer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

import flows.volunteer  # noqa: F401  (registers the guardian's approval and the `minor` test)
from flows.field_validators import CONDITION_TESTS
from flows.validators import ATTACHMENT_VALIDATORS, VALIDATORS
from flows.yaml_files import read_yaml
from locales import N_


class FieldKind(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    CHOICE = "choice"
    ATTACHMENT = "attachment"
    MULTI_CHOICE = "multi_choice"  # pick several, then «تم»
    DATE = "date"  # Hijri or Gregorian typed; year then month as buttons where the channel has them
    EMAIL = "email"
    YES_NO = "yes_no"


CHOICE_KINDS = frozenset({FieldKind.CHOICE, FieldKind.MULTI_CHOICE})
BUTTON_KINDS = CHOICE_KINDS | {FieldKind.YES_NO}  # answered by pressing (or typing the number of) an option
# The validator a kind uses when the form names none.
DEFAULT_VALIDATORS = {
    FieldKind.CHOICE: "choice",
    FieldKind.MULTI_CHOICE: "choices",
    FieldKind.DATE: "date",
    FieldKind.EMAIL: "email",
    FieldKind.YES_NO: "yes_no",
}


DEFAULT_NOTICE = N_("form.submitted")  # the thank-you of a form that names none


class FormDefinitionError(ValueError):
    """A mistake in a form definition; the message names the file and the field."""


@dataclass(frozen=True)
class Choice:
    id: str
    label: str


@dataclass(frozen=True)
class Condition:
    """Ask a field only when an earlier answer is `equals` (or, with `test`, when a named check holds)."""

    field: str
    equals: Any = None
    test: str | None = None


@dataclass(frozen=True)
class FormField:
    name: str
    prompt: str
    label: str
    validator: str
    required: bool
    kind: FieldKind
    choices: tuple[Choice, ...] = ()
    when: Condition | None = None
    sensitive: bool = False  # masked on staff cards and exports unless full access


@dataclass(frozen=True)
class Submit:
    """What happens on submit. record: `request` (the support request's own table and desk card) or
    `submission` (the generic table, a card named by `staff_card`). notice: the thank-you's message key."""

    record: str = "request"
    reference_prefix: str = "R"
    notice: str = ""
    notice_anonymous: str = ""  # the thank-you when the person stayed anonymous (no reply is possible)
    staff_card: str = "generic"
    reply_due: bool = False  # a reply is promised within BOT_FEEDBACK_DAYS


@dataclass(frozen=True)
class FormDefinition:
    name: str
    declaration_version: str
    declaration_text: str
    fields: tuple[FormField, ...]
    submit: Submit = Submit()
    title: str = ""  # a message key or inline text: the menu entry of a form that has no fixed one
    consent: bool = True  # ask the data-use consent before the first field
    texts: dict = field(default_factory=dict, hash=False, compare=False)  # inline {key: {ar, en}}

    def field(self, name: str) -> FormField | None:
        return next((f for f in self.fields if f.name == name), None)

    def next_after(self, name: str | None) -> FormField | None:
        names = [f.name for f in self.fields]
        if name is None:
            return self.fields[0]
        index = names.index(name) + 1
        return self.fields[index] if index < len(names) else None

    def message_keys(self) -> set[str]:
        keys = {self.declaration_text} if self.declaration_text else set()
        for f in self.fields:
            keys |= {f.prompt, f.label} | {c.label for c in f.choices}
        keys |= {key for key in (self.submit.notice, self.submit.notice_anonymous) if key}
        if self.title:
            keys.add(self.title)
        return keys - set(self.texts)

    def text(self, key: str, lang: str) -> str | None:
        """An inline text of this form, or None when `key` is a catalog key."""
        inline = self.texts.get(key)
        return None if inline is None else inline.get(lang) or inline.get("ar")


_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_CHOICE_ID = re.compile(r"^[a-z0-9_]{1,24}$")
_PREFIX = re.compile(r"^[A-Z]{1,3}$")


class _Texts:
    """Collects inline {ar, en} texts under generated keys."""

    def __init__(self, form_name: str) -> None:
        self.form_name = form_name
        self.items: dict[str, dict[str, str]] = {}

    def key(self, value: Any, where: str, generated: str) -> str:
        if isinstance(value, dict):
            if not all(isinstance(value.get(lang), str) and value[lang].strip() for lang in ("ar", "en")):
                raise FormDefinitionError(f"{where}: an inline text needs both 'ar' and 'en'")
            key = f"inline.{self.form_name}.{generated}"
            self.items[key] = {"ar": value["ar"].strip(), "en": value["en"].strip()}
            return key
        return str(value)


def _condition(raw: Any, names: set[str], where: str) -> Condition | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or str(raw.get("field", "")) not in names:
        raise FormDefinitionError(f"{where}: 'when' must name an earlier field")
    test = raw.get("test")
    if test is not None and str(test) not in CONDITION_TESTS:
        raise FormDefinitionError(f"{where}: unknown test {test!r} (one of: {', '.join(CONDITION_TESTS)})")
    return Condition(str(raw["field"]), raw.get("equals"), str(test) if test is not None else None)


def load_form(path: Path, has_key: Callable[[str], bool] | None = None) -> FormDefinition:
    """Load and check a form. `has_key(key)` says whether a message key has both Arabic and English text."""
    try:
        raw = read_yaml(path)
    except (OSError, yaml.YAMLError) as exc:
        raise FormDefinitionError(f"{path}: cannot read the form: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("fields"), list) or not raw["fields"]:
        raise FormDefinitionError(f"{path}: the form needs a non-empty 'fields' list")
    form_name = str(raw.get("form", path.stem))
    texts = _Texts(form_name)
    declaration = raw.get("declaration")
    if declaration is not None and (
        not isinstance(declaration, dict) or not declaration.get("version") or not declaration.get("text")
    ):
        raise FormDefinitionError(f"{path}: 'declaration' needs a version and a text key")
    if declaration is None and form_name == "support_request":
        raise FormDefinitionError(f"{path}: 'declaration' needs a version and a text key")

    fields: list[FormField] = []
    seen: set[str] = set()
    for position, item in enumerate(raw["fields"], start=1):
        where = f"{path}: field {item.get('name', f'#{position}') if isinstance(item, dict) else f'#{position}'!r}"
        if not isinstance(item, dict):
            raise FormDefinitionError(f"{where}: must be a mapping")
        kind_value = item.get("kind")
        needed = ["name", "prompt", "label", "required", "kind"]
        if kind_value not in {k.value for k in DEFAULT_VALIDATORS}:
            needed.insert(3, "validator")
        missing = [k for k in needed if k not in item]
        if missing:
            raise FormDefinitionError(f"{where}: missing {', '.join(missing)}")
        name = str(item["name"])
        if not _NAME.match(name):
            raise FormDefinitionError(f"{where}: the name must be lowercase letters, digits and _")
        if name in seen:
            raise FormDefinitionError(f"{where}: the name is used twice")
        try:
            kind = FieldKind(item["kind"])
        except ValueError:
            kinds = ", ".join(k.value for k in FieldKind)
            raise FormDefinitionError(f"{where}: unknown kind {item['kind']!r} (one of: {kinds})") from None
        if not isinstance(item["required"], bool):
            raise FormDefinitionError(f"{where}: 'required' must be true or false")
        validator_name = str(item.get("validator") or DEFAULT_VALIDATORS[kind])
        if validator_name not in VALIDATORS:
            raise FormDefinitionError(f"{where}: unknown validator {validator_name!r}")
        if (kind == FieldKind.ATTACHMENT) != (validator_name in ATTACHMENT_VALIDATORS):
            raise FormDefinitionError(
                f"{where}: validator {validator_name!r} does not fit kind {kind.value!r}"
            )
        choices: tuple[Choice, ...] = ()
        if kind in CHOICE_KINDS:
            raw_choices = item.get("choices")
            if not isinstance(raw_choices, list) or not raw_choices:
                raise FormDefinitionError(f"{where}: a choice field needs a non-empty 'choices' list")
            choices = tuple(
                Choice(
                    str(c.get("id", "")),
                    texts.key(c.get("label", ""), where, f"{name}.{c.get('id', '')}"),
                )
                for c in raw_choices
            )
            ids = [c.id for c in choices]
            bad = [i for i in ids if not _CHOICE_ID.match(i)]
            if bad or len(set(ids)) != len(ids):
                raise FormDefinitionError(f"{where}: choice ids must be unique short ASCII names (got {ids})")
        elif "choices" in item:
            raise FormDefinitionError(f"{where}: only a choice field has choices")
        form_field = FormField(
            name=name,
            prompt=texts.key(item["prompt"], where, f"{name}.prompt"),
            label=texts.key(item["label"], where, f"{name}.label"),
            validator=validator_name,
            required=item["required"],
            kind=kind,
            choices=choices,
            when=_condition(item.get("when"), seen, where),
            sensitive=bool(item.get("sensitive", False)),
        )
        seen.add(name)
        if has_key is not None:
            for key in (form_field.prompt, form_field.label, *(c.label for c in choices)):
                if key not in texts.items and not has_key(key):
                    raise FormDefinitionError(f"{where}: message key {key!r} has no Arabic or English text")
        fields.append(form_field)

    submit_raw = raw.get("submit") or {}
    if not isinstance(submit_raw, dict):
        raise FormDefinitionError(f"{path}: 'submit' must be a mapping")
    record = str(submit_raw.get("record", "request" if form_name == "support_request" else "submission"))
    if record not in ("request", "submission"):
        raise FormDefinitionError(f"{path}: submit.record must be 'request' or 'submission'")
    prefix = str(submit_raw.get("reference_prefix", "R" if record == "request" else "S"))
    if not _PREFIX.match(prefix):
        raise FormDefinitionError(f"{path}: submit.reference_prefix must be 1 to 3 capital letters")
    notice = texts.key(submit_raw.get("notice", DEFAULT_NOTICE), f"{path}: submit", "notice")
    anonymous_notice = submit_raw.get("notice_anonymous")
    submit = Submit(
        record=record,
        reference_prefix=prefix,
        notice=notice,
        notice_anonymous=texts.key(anonymous_notice, f"{path}: submit", "notice_anonymous")
        if anonymous_notice
        else "",
        staff_card=str(submit_raw.get("staff_card", form_name)),
        reply_due=bool(submit_raw.get("reply_due", False)),
    )
    title = texts.key(raw["title"], f"{path}: title", "title") if raw.get("title") else ""
    form = FormDefinition(
        name=form_name,
        declaration_version=str(declaration["version"]) if declaration else "",
        declaration_text=str(declaration["text"]) if declaration else "",
        fields=tuple(fields),
        submit=submit,
        title=title,
        consent=bool(raw.get("consent", True)),
        texts=texts.items,
    )
    if has_key is not None and form.declaration_text and not has_key(form.declaration_text):
        raise FormDefinitionError(
            f"{path}: declaration key {form.declaration_text!r} has no Arabic or English text"
        )
    if has_key is not None:
        for key in sorted(form.message_keys()):
            if not has_key(key):
                raise FormDefinitionError(f"{path}: message key {key!r} has no Arabic or English text")
    return form


def load_forms(directory: Path, has_key: Callable[[str], bool] | None = None) -> dict[str, FormDefinition]:
    """Every form in content/forms/, by name; the support request must be one of them."""
    forms: dict[str, FormDefinition] = {}
    for path in sorted(directory.glob("*.yaml")):
        form = load_form(path, has_key)
        if form.name in forms:
            raise FormDefinitionError(f"{path}: a form named {form.name!r} exists already")
        forms[form.name] = form
    prefixes = [f.submit.reference_prefix for f in forms.values()]
    if len(set(prefixes)) != len(prefixes):
        raise FormDefinitionError(f"{directory}: two forms share a reference prefix ({prefixes})")
    return forms
