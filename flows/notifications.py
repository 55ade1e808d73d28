"""What the applicant is told later (decisions, reminders), rendered when it is sent, in the contact's language
at that moment. The outbox stores (kind, payload); this turns them into messages."""

from __future__ import annotations

from flows.form import FormDefinition
from flows.messages import Expect, Option, Outbound
from locales import translator


class UnknownNotification(ValueError):
    pass


def render(kind: str, payload: dict, lang: str, form: FormDefinition | None = None) -> list[Outbound]:
    t = translator(lang)
    reference = payload.get("reference", "")
    note = (payload.get("note") or "").strip()
    menu = Option("menu.main", t("option.menu"))
    status = Option("menu.status", t("menu.option.status"))
    human = Option("menu.human", t("menu.option.human"))
    if kind == "decision":
        outcome = payload.get("status")
        if outcome == "approved":
            text = t("notify.approved", reference=reference)
            if note:
                text += "\n" + t("notify.staff_note", note=note)
            return [
                Outbound(text, key="notify.approved", options=(status, menu), expect=Expect.CHOICE, lang=lang)
            ]
        if outcome == "rejected":
            text = t("notify.rejected", reference=reference, reason=note)
            return [
                Outbound(text, key="notify.rejected", options=(human, menu), expect=Expect.CHOICE, lang=lang)
            ]
        if outcome == "needs_info":
            text = t("notify.needs_info", reference=reference, note=note)
            fields = [form.field(name) for name in payload.get("fields", [])] if form else []
            labels = [t(f.label) for f in fields if f is not None]
            if labels:
                text += "\n" + t(
                    "notify.needs_info_fields",
                    fields="، ".join(labels) if lang == "ar" else ", ".join(labels),
                )
            first = next((f for f in fields if f is not None), None)
            messages = [Outbound(text, key="notify.needs_info", lang=lang)]
            if first is not None:
                choices = tuple(Option(f"c.{c.id}", t(c.label)) for c in first.choices)
                expect = (
                    Expect.ATTACHMENT
                    if first.kind == "attachment"
                    else Expect.CHOICE
                    if choices
                    else Expect.TEXT
                )
                messages.append(
                    Outbound(t(first.prompt), key=first.prompt, options=choices, expect=expect, lang=lang)
                )
            return messages
        if outcome == "registered":
            text = t("notify.registered", reference=reference)
            return [
                Outbound(
                    text, key="notify.registered", options=(status, menu), expect=Expect.CHOICE, lang=lang
                )
            ]
        if outcome == "delivered":
            text = t("notify.delivered", reference=reference)
            return [Outbound(text, key="notify.delivered", options=(menu,), expect=Expect.CHOICE, lang=lang)]
    if kind == "overdue":
        text = t("notify.still_studying", reference=reference)
        return [
            Outbound(
                text, key="notify.still_studying", options=(status, human), expect=Expect.CHOICE, lang=lang
            )
        ]
    if kind in ("survey", "survey_reminder"):
        from flows.survey import render_poll

        return render_poll(payload, lang, reminder=kind == "survey_reminder")
    if kind == "form":  # a staff step on a volunteer's registration or a suggestion / complaint
        from flows.form_desk import render_form_notice

        return render_form_notice(payload, lang)
    if kind == "rights":  # the answer to a rights request of «بياناتي»
        from flows.rights_desk import render_rights_notice

        return render_rights_notice(payload, lang)
    if kind == "text":  # a staff reply or any ready text
        return [Outbound(payload.get("text", ""), key=payload.get("key", "text"), lang=lang)]
    raise UnknownNotification(f"no way to render a {kind!r} notification")
