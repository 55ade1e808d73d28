"""WhatsApp message templates (content/whatsapp_templates.yaml): loaded and checked at start, and
turned into a template message for a notification sent outside the 24-hour window."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from flows.yaml_files import read_yaml
from locales import LANGUAGES

KNOWN_FOR = frozenset(
    {
        "decision.approved",
        "decision.rejected",
        "decision.needs_info",
        "decision.registered",
        "decision.delivered",
        "overdue",
        "survey",
        "survey_reminder",
        "rights",  # the answer to a rights request of «بياناتي»
    }
)
KNOWN_PARAMETERS = frozenset({"reference", "note"})
_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
_PLACEHOLDER = re.compile(r"\{\{(\d+)\}\}")
MAX_BODY = 1024
MAX_BUTTON = 25
MAX_PARAMETER = 200


class TemplateError(Exception):
    """A mistake in the templates file, in one line naming the entry."""


@dataclass(frozen=True)
class Template:
    name: str
    for_: str
    category: str
    parameters: tuple[str, ...]
    body: dict[str, str]
    button: dict[str, str] | None = None


def load_templates(path: Path) -> dict[str, Template]:
    """Templates by what they replace ("decision.approved", "survey"…)."""
    where = path.name
    try:
        raw = read_yaml(path)
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateError(f"{where}: cannot be read ({type(exc).__name__})") from None
    entries = raw.get("templates") if isinstance(raw, dict) else None
    if not isinstance(entries, list) or not entries:
        raise TemplateError(f"{where}: needs a non-empty 'templates' list")
    found: dict[str, Template] = {}
    names: set[str] = set()
    for number, entry in enumerate(entries, start=1):
        label = f"{where}: template {number}"
        if not isinstance(entry, dict):
            raise TemplateError(f"{label}: must be a mapping")
        name = entry.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise TemplateError(f"{label}: 'name' must be lower-case letters, digits and underscores")
        label = f"{where}: template {name}"
        if name in names:
            raise TemplateError(f"{label}: the name is used twice")
        names.add(name)
        for_ = entry.get("for")
        if for_ not in KNOWN_FOR:
            raise TemplateError(f"{label}: 'for' must be one of {', '.join(sorted(KNOWN_FOR))}")
        if for_ in found:
            raise TemplateError(f"{label}: a second template for {for_}")
        if entry.get("category") not in ("utility", "marketing", "authentication"):
            raise TemplateError(f"{label}: 'category' must be utility, marketing or authentication")
        parameters = entry.get("parameters") or []
        if not isinstance(parameters, list) or any(p not in KNOWN_PARAMETERS for p in parameters):
            raise TemplateError(f"{label}: 'parameters' may hold only {', '.join(sorted(KNOWN_PARAMETERS))}")
        body = _texts(entry.get("body"), label, "body", MAX_BODY)
        for lang, text in body.items():
            numbers = sorted({int(n) for n in _PLACEHOLDER.findall(text)})
            if numbers != list(range(1, len(parameters) + 1)):
                raise TemplateError(
                    f"{label}: the {lang} body must use {{{{1}}}}..{{{{{len(parameters)}}}}} once each"
                    f" for its {len(parameters)} parameters"
                )
        button = _texts(entry["button"], label, "button", MAX_BUTTON) if entry.get("button") else None
        found[for_] = Template(name, for_, entry["category"], tuple(parameters), body, button)
    return found


def _texts(value: Any, label: str, field: str, limit: int) -> dict[str, str]:
    if not isinstance(value, dict) or set(value) != set(LANGUAGES):
        raise TemplateError(f"{label}: '{field}' needs exactly the languages {', '.join(LANGUAGES)}")
    for lang, text in value.items():
        if not isinstance(text, str) or not text.strip() or len(text) > limit:
            raise TemplateError(f"{label}: the {lang} {field} must be 1-{limit} characters")
    return {lang: text.strip() for lang, text in value.items()}


def template_for(templates: dict[str, Template], kind: str, payload: dict) -> Template | None:
    key = f"decision.{payload.get('status')}" if kind == "decision" else kind
    return templates.get(key)


def template_message(template: Template, lang: str, payload: dict, outbox_id: int | None) -> dict[str, Any]:
    """The message body (without the recipient) for a template send."""
    lang = lang if lang in template.body else "ar"
    values = [_parameter(payload.get(name)) for name in template.parameters]
    components: list[dict[str, Any]] = []
    if values:
        components.append({"type": "body", "parameters": [{"type": "text", "text": v} for v in values]})
    if template.button is not None and outbox_id is not None:
        components.append(
            {
                "type": "button",
                "sub_type": "quick_reply",
                "index": "0",
                "parameters": [{"type": "payload", "payload": f"poll:{outbox_id}"}],
            }
        )
    message: dict[str, Any] = {"name": template.name, "language": {"code": lang}}
    if components:
        message["components"] = components
    return {"type": "template", "template": message}


def _parameter(value: object) -> str:
    # Meta refuses parameters with new lines, tabs or more than four spaces in a row.
    text = " ".join(str(value or "").split())
    if len(text) > MAX_PARAMETER:
        text = text[: MAX_PARAMETER - 1].rsplit(" ", 1)[0] + "…"
    return text or "—"


def filled_body(template: Template, lang: str, payload: dict) -> str:
    """The text the person reads (for docs and tests)."""
    text = template.body.get(lang, template.body["ar"])
    for number, name in enumerate(template.parameters, start=1):
        text = text.replace(f"{{{{{number}}}}}", _parameter(payload.get(name)))
    return text
