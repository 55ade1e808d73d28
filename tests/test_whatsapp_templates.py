"""content/whatsapp_templates.yaml is checked at start: every mistake is one line naming the entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from handlers.whatsapp_templates import (
    TemplateError,
    filled_body,
    load_templates,
    template_for,
    template_message,
)

ROOT = Path(__file__).resolve().parent.parent
GOOD = """
templates:
  - name: mustafid_request_approved
    for: decision.approved
    category: utility
    parameters: [reference]
    body:
      ar: "وافقت اللجنة على طلبك رقم {{1}}."
      en: "The committee approved your request {{1}}."
"""


def test_the_shipped_templates_cover_every_notice_sent_outside_the_window():
    templates = load_templates(ROOT / "content" / "whatsapp_templates.yaml")
    assert set(templates) == {
        "decision.approved",
        "decision.rejected",
        "decision.needs_info",
        "decision.registered",
        "decision.delivered",
        "overdue",
        "survey",
        "survey_reminder",
        "rights",
    }
    assert all(t.category == "utility" for t in templates.values())
    assert templates["survey"].button == {"ar": "قيّم الخدمة", "en": "Rate the service"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('{{1}}."\n      en', '{{2}}."\n      en'), "the ar body must use {{1}}..{{1}} once each"),
        (("for: decision.approved", "for: decision.maybe"), "'for' must be one of"),
        (
            ('      en: "The committee approved your request {{1}}."\n', ""),
            "'body' needs exactly the languages ar, en",
        ),
        (("name: mustafid_request_approved", "name: Mustafid-Approved"), "'name' must be lower-case"),
        (("parameters: [reference]", "parameters: [national_id]"), "'parameters' may hold only"),
    ],
)
def test_a_mistake_is_one_line_naming_the_template(tmp_path, change, message):
    path = tmp_path / "whatsapp_templates.yaml"
    path.write_text(GOOD.replace(*change), encoding="utf-8")
    with pytest.raises(TemplateError) as caught:
        load_templates(path)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert str(caught.value).startswith("whatsapp_templates.yaml: template")


def test_parameters_are_cleaned_for_meta_and_the_body_reads_naturally(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(GOOD, encoding="utf-8")
    templates = load_templates(path)
    template = template_for(templates, "decision", {"status": "approved"})
    assert template is not None
    message = template_message(template, "en", {"reference": " 2026-00012\n"}, outbox_id=7)
    assert message["template"]["components"] == [
        {"type": "body", "parameters": [{"type": "text", "text": "2026-00012"}]}
    ]
    assert filled_body(template, "ar", {"reference": "2026-00012"}) == "وافقت اللجنة على طلبك رقم 2026-00012."
    assert template_for(templates, "decision", {"status": "rejected"}) is None
