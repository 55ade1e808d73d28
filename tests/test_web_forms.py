"""Volunteering and a complaint through the web chat, in Arabic: over HTTP as the page does it (the session
cookie, POST /web/message with typed text or a pressed button, the staff's answers arriving in the transcript),
and once in a real browser (Playwright, Debian's Chromium; BOT_REQUIRE_BROWSER=1 makes a missing browser fail)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from sqlalchemy import select

from bot.app import App
from flows.form_desk import FormDesk
from handlers.web_http import COOKIE
from storage.forms import FormSubmission
from tests.test_web_browser import browser, new_chat  # noqa: F401  (the browser fixture)
from tests.web_server import RunningWeb, deliver_notices, running_web

_ids = itertools.count(1)


class Page:
    """One person's page over HTTP: what it posts, and the bot's messages it shows."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.shown: list[dict] = []  # the bot's messages, in order

    async def _post(self, body: dict) -> list[dict]:
        response = await self.client.post("/web/message", json=body)
        assert response.status_code == 200, response.text
        replies = [m for m in response.json()["messages"] if m["role"] == "bot"]
        self.shown += replies
        return replies

    async def start(self) -> list[dict]:
        return await self._post({"start": True})

    async def say(self, text: str) -> list[dict]:
        return await self._post({"mid": f"web-forms-{next(_ids):06d}", "text": text})

    async def press(self, option: str) -> list[dict]:
        """A button of the last message that has buttons, as the page sends it (its id and its label)."""
        offered = next(m for m in reversed(self.shown) if m.get("options"))
        label = dict(offered["options"]).get(option)
        assert label is not None, (option, offered["options"])
        return await self._post({"mid": f"web-forms-{next(_ids):06d}", "option": option, "label": label})

    @property
    def keys(self) -> list[str]:
        return [m.get("key", "") for m in self.shown]


@asynccontextmanager
async def page_on(web: RunningWeb) -> AsyncIterator[Page]:
    async with httpx.AsyncClient(base_url=web.base, headers={"Origin": web.origin}, timeout=15) as client:
        assert (await client.get("/")).status_code == 200  # the session cookie
        assert COOKIE in client.cookies
        yield Page(client)


async def _submission(app: App, form: str) -> FormSubmission:
    async with app.db.transaction() as session:
        return (await session.execute(select(FormSubmission).where(FormSubmission.form == form))).scalar_one()


async def _pushed(app: App, web: RunningWeb, page: Page) -> list[dict]:
    """The outbox's notices delivered now, as the open page receives them from the transcript."""
    async with app.db.transaction() as session:
        from storage.models import Contact

        contact = (await session.execute(select(Contact).where(Contact.channel == "web"))).scalar_one()
    before = await web.chat.last_seq(contact.channel_user_id)
    await deliver_notices(app, web.chat)
    return await web.chat.history(contact.channel_user_id, after=before)


async def test_a_volunteer_registers_through_the_web_chat_in_arabic(app: App) -> None:
    async with running_web(app) as web, page_on(web) as page:
        await page.start()
        await page.press("menu.volunteer")
        await page.press("consent.yes")
        await page.say("فاطمة محمد العتيبي")
        said = await page.say("١٠٠٠٠٠٠٠٠١")  # a wrong check digit: asked again, nothing lost
        assert "error" in said[0]["key"] and "رقم" in said[0]["text"]
        await page.say("١٠٠٠٠٠٠٠٠٨")
        await page.say("١٥/٠٣/١٤٢٠")  # Hijri, in Arabic-Indic digits: an adult
        await page.press("c.female")
        await page.say("الرياض")
        await page.say("٠٥٠١٢٣٤٥٦٧")
        said = await page.say("fatima@example")
        assert said[0]["key"] == "error.email"
        await page.say("fatima@example.com")
        await page.press("c.bachelor")
        await page.press("c.children")
        await page.press("c.health")
        await page.press("m.done")
        await page.press("c.weekends")
        await page.press("m.done")
        await page.say("لا")  # prior volunteering, typed
        summary = page.shown[-1]
        assert "فاطمة محمد العتيبي" in summary["text"] and "الرياض" in summary["text"]
        await page.press("summary.send")
        said = await page.press("declaration.confirm")
        assert said[0]["key"] == "volunteer.thanks" and "V-2026-00001" in said[0]["text"]

        row = await _submission(app, "volunteer")
        assert row.channel == "web" and row.data["national_id"] == "1000000008"
        assert row.data["mobile"].endswith("501234567") and set(row.data["interests"]) == {
            "children",
            "health",
        }
        await FormDesk(app.db, app.clock).volunteer("V-2026-00001", "accepted", "staff:9001", name="سارة")
        [notice] = await _pushed(app, web, page)
        assert notice["key"] == "volunteer.notify.accepted" and "V-2026-00001" in notice["text"]
        assert notice["lang"] == "ar"


async def test_a_complaint_through_the_web_chat_is_answered_closed_and_reopened(app: App) -> None:
    async with running_web(app) as web, page_on(web) as page:
        await page.start()
        await page.press("menu.feedback")
        assert "لا يؤثر أبدًا" in page.shown[-1]["text"]  # said before they choose
        await page.press("c.complaint")
        await page.press("c.delay")
        await page.say("تأخر الرد على طلبي أكثر من شهر")
        await page.press("form.skip")  # no attachment
        prompt = page.shown[-1]
        assert prompt["key"] == "feedback.anonymous.prompt"
        await page.press("c.no")
        said = await page.press("summary.send")
        thanks = said[-1]["text"]
        assert "F-2026-00001" in thanks and "10 أيام" in thanks and "هـ" in thanks

        desk = FormDesk(app.db, app.clock)
        await desk.reply("F-2026-00001", "staff:9001", "نعتذر عن التأخير، سنراجع طلبك اليوم", name="سارة")
        app.clock.advance(hours=2)  # type: ignore[attr-defined]
        await desk.close("F-2026-00001", "staff:9001", "صدر القرار وأُبلغت به", name="سارة")
        reply, closed = await _pushed(app, web, page)
        assert "نعتذر عن التأخير" in reply["text"] and "صدر القرار" in closed["text"]
        assert [option for option, _ in closed["options"]] == [
            "fbsat.yes.F-2026-00001",
            "fbsat.no.F-2026-00001",
        ]

        page.shown.append(closed)  # the page shows the notice with its buttons
        said = await page.press("fbsat.no.F-2026-00001")
        assert said[0]["key"] == "feedback.satisfied.reopened"
        row = await _submission(app, "feedback")
        assert row.status == "reopened" and row.satisfied is False and row.channel == "web"


async def test_a_volunteer_registers_in_a_real_browser(browser, app: App) -> None:  # noqa: F811
    async with running_web(app) as web:
        context, chat = await new_chat(browser, web)
        await chat.choose("menu.volunteer")
        await chat.choose("consent.yes")
        for answer in ("فاطمة محمد العتيبي", "١٠٠٠٠٠٠٠٠٨", "1995-05-20"):
            await chat.say(answer)
        await chat.choose("c.female")
        for answer in ("الرياض", "٠٥٠١٢٣٤٥٦٧"):
            await chat.say(answer)
        await chat.choose("form.skip")  # the e-mail is optional
        await chat.choose("c.secondary")
        await chat.choose("c.translation")
        await chat.choose("c.events")
        await chat.choose("m.done")
        await chat.choose("c.weekday_evenings")
        await chat.choose("m.done")
        await chat.choose("c.yes")
        await chat.say("١٢٠")  # hours of prior volunteering
        await chat.choose("summary.send")
        await chat.choose("declaration.confirm")
        await chat.shows("volunteer.thanks")
        thanks = chat.page.locator('#log .bubble[data-key="volunteer.thanks"]').last
        assert "V-2026-00001" in await thanks.inner_text()

        await FormDesk(app.db, app.clock).volunteer("V-2026-00001", "contacted", "staff:9001", name="سارة")
        await deliver_notices(app, web.chat)
        await chat.shows("volunteer.notify.contacted")  # pushed into the open page
        row = await _submission(app, "volunteer")
        assert row.channel == "web" and row.data.get("prior_hours") in (120, "120")
        await context.close()
