"""The web chat in a real browser: Playwright driving the system's Chromium against the real server.

Without Chromium these tests skip (install it with `apt-get install -y chromium`, or point BOT_CHROMIUM at a
Chromium or Chrome binary); with BOT_REQUIRE_BROWSER=1 (as in .ci/run) they fail instead. Screenshots are
saved under test-artifacts/."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import App
from flows.decisions import DecisionService
from flows.lifecycle import Action
from storage.models import Contact, SupportRequest
from storage.web import WebMessage
from tests.conftest import ARABIC_ANSWERS
from tests.sample_files import PDF, PNG  # real files: the type is read from the bytes
from tests.web_server import RunningWeb, deliver_notices, free_port, running_web

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
REQUIRE = os.environ.get("BOT_REQUIRE_BROWSER") == "1"
CHROMIUM = os.environ.get("BOT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
TIMEOUT = 15_000  # ms: a reply comes in well under a second; a restart takes a few

try:
    from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect
except ImportError:  # pragma: no cover - the dev extras install it
    async_playwright = None  # type: ignore[assignment]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if async_playwright is None or CHROMIUM is None:
        reason = (
            "the browser tests need Playwright for Python and Chromium "
            "(pip install -e '.[dev]'; apt-get install -y chromium, or set BOT_CHROMIUM)"
        )
        if REQUIRE:
            pytest.fail(f"BOT_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox"] if os.geteuid() == 0 else []
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def web(app: App) -> AsyncIterator[RunningWeb]:
    async with running_web(app) as running:
        yield running


class Chat:
    """One person's page, used as they would: the textbox, Enter, the buttons, the file picker."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.log = page.get_by_role("log")
        self.bubbles = page.locator("#log .bubble")
        self.bot = page.locator('#log .bubble[data-role="bot"]')
        self.user = page.locator('#log .bubble[data-role="user"]')

    async def open(self, url: str) -> Chat:
        await self.page.goto(url)
        await self.shows("menu.greeting")
        return self

    async def shows(self, key: str, timeout: float = TIMEOUT) -> None:
        await expect(self.page.locator(f'#log .bubble[data-key="{key}"]').last).to_be_visible(timeout=timeout)

    async def confirmed(self) -> None:
        """The server has the last message and its replies are in the page."""
        await expect(self.page.locator("#log .bubble.pending")).to_have_count(0, timeout=TIMEOUT)

    async def say(self, text: str) -> None:
        box = self.page.get_by_role("textbox", name=await self.composer_name())
        await box.fill(text)
        await box.press("Enter")
        await self.confirmed()

    async def composer_name(self) -> str:
        return await self.page.locator("#text").get_attribute("aria-label") or ""

    async def choose(self, option_id: str) -> None:
        await self.page.locator(f'#log .choices button[data-option="{option_id}"]').click()
        await self.confirmed()

    async def upload(self, path: Path) -> None:
        before = await self.user.count()
        await self.page.locator('input[type="file"]').set_input_files(path)
        await expect(self.user).to_have_count(before + 1, timeout=TIMEOUT)
        await expect(self.user.last).to_contain_text(path.name)

    async def texts(self) -> list[str]:
        return await self.bubbles.all_inner_texts()


async def new_chat(browser: Browser, web: RunningWeb, **options: object) -> tuple[BrowserContext, Chat]:
    context = await browser.new_context(**options)  # type: ignore[arg-type]
    return context, await Chat(await context.new_page()).open(web.base)


async def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / name))


async def fill_the_form(chat: Chat, files: Path) -> None:
    await chat.choose("menu.apply")
    await chat.choose("consent.yes")
    for name in (
        "full_name",
        "national_id",
        "mobile",
        "city",
        "family_members",
        "children",
        "monthly_income",
    ):
        await chat.say(ARABIC_ANSWERS[name])
    await chat.choose("c.food")
    await chat.say("نحتاج سلة غذائية شهرية للأسرة")
    (files / "id.png").write_bytes(PNG)
    (files / "proof.pdf").write_bytes(PDF)
    await chat.upload(files / "id.png")
    await chat.upload(files / "proof.pdf")


# ---------------------------------------------------------------------------------------------------------


async def test_greeting_and_buttons_in_arabic_rtl_with_screenshots(browser: Browser, web: RunningWeb) -> None:
    context, chat = await new_chat(browser, web, viewport={"width": 390, "height": 844})
    page = chat.page
    composer = page.get_by_role("textbox", name="رسالتك")

    await screenshot(page, "web-chat-390x844.png")
    await page.set_viewport_size({"width": 1280, "height": 800})
    await screenshot(page, "web-chat-1280x800.png")
    await page.set_viewport_size({"width": 360, "height": 640})
    composer_box = await composer.bounding_box()
    send_box = await page.get_by_role("button", name="إرسال").bounding_box()

    await expect(page.locator("html")).to_have_attribute("lang", "ar")
    await expect(page.locator("html")).to_have_attribute("dir", "rtl")
    await expect(chat.log).to_have_attribute("aria-live", "polite")
    await expect(composer).to_be_visible()
    await expect(page.get_by_role("button", name="التقديم على طلب دعم")).to_be_visible()
    await expect(page.get_by_role("button", name="التحدث مع موظف")).to_be_visible()
    assert await page.locator('#log .bubble:not([dir="auto"])').count() == 0
    assert composer_box and send_box and composer_box["y"] + composer_box["height"] <= 640
    assert send_box["x"] >= 0 and send_box["x"] + send_box["width"] <= 360  # nothing off-screen at 360 px
    await context.close()


async def test_a_question_is_answered_and_english_is_one_press_away(
    browser: Browser, web: RunningWeb
) -> None:
    context, chat = await new_chat(browser, web)

    await chat.say("متى يطلع الرد على طلبي")
    answer = await chat.texts()
    await chat.page.get_by_role("button", name="English").click()
    await chat.confirmed()

    assert any("لا تقل عن أسبوعين" in text for text in answer)
    await expect(chat.page.locator("html")).to_have_attribute("lang", "en")
    await expect(chat.page.locator("html")).to_have_attribute("dir", "ltr")
    await expect(chat.page.get_by_role("textbox", name="Your message")).to_be_visible()
    await chat.shows("language.changed")
    await context.close()


async def test_whole_request_with_an_image_and_a_pdf_then_staff_approval_appears_live(
    browser: Browser, web: RunningWeb, app: App, tmp_path: Path
) -> None:
    context, chat = await new_chat(browser, web)
    await fill_the_form(chat, tmp_path)
    await chat.choose("summary.send")
    await chat.choose("declaration.confirm")
    await chat.shows("submitted.text")
    async with app.db.transaction() as session:
        request = (await session.execute(select(SupportRequest))).scalar_one()
        contact = await session.get(Contact, request.contact_id)

    outcome = await DecisionService(app.db, app.clock, app.form).decide(
        request.reference, Action.APPROVE, "staff:9001"
    )
    await deliver_notices(app, web.chat)
    await chat.shows("notify.approved")  # no reload: pushed on the open stream
    await web.chat.desk_sender(contact, [app.service.staff_reply("أهلًا، استلمنا مستنداتك", "ar")])
    await chat.shows("handoff.staff_says")
    await chat.page.set_viewport_size({"width": 390, "height": 844})
    await screenshot(chat.page, "web-request-approved-390x844.png")

    assert outcome.ok and contact.channel == "web"
    assert request.data["full_name"] == ARABIC_ANSWERS["full_name"]
    assert (
        request.reference in await chat.page.locator('#log .bubble[data-key="notify.approved"]').inner_text()
    )
    # the reference is one unbreakable piece on a narrow screen, not «2026-» / «00001» on two lines
    shown = chat.page.locator('#log .bubble[data-key="submitted.text"] bdi.nowrap')
    assert request.reference in await shown.all_inner_texts()
    await context.close()


async def test_reload_keeps_the_conversation_and_its_place_and_another_browser_is_another_person(
    browser: Browser, web: RunningWeb
) -> None:
    context, chat = await new_chat(browser, web)
    await chat.choose("menu.apply")
    await chat.choose("consent.yes")
    await chat.say(ARABIC_ANSWERS["full_name"])
    before = await chat.texts()

    await chat.page.reload()
    await chat.shows("form.national_id.prompt")
    after = await chat.texts()
    await chat.say(ARABIC_ANSWERS["national_id"])
    await chat.shows("form.mobile.prompt")
    other_context, other = await new_chat(browser, web)

    assert after == before
    assert ARABIC_ANSWERS["full_name"] not in " ".join(await other.texts())
    assert await other.user.count() == 0
    await other_context.close()
    await context.close()


async def test_the_server_restarts_under_an_open_page_which_recovers_without_losing_anything(
    browser: Browser, app: App
) -> None:
    port = free_port()
    async with running_web(app, port=port) as web:
        context, chat = await new_chat(browser, web)
        await chat.choose("menu.apply")
    status = chat.page.locator("#status")
    await expect(status).not_to_be_empty(timeout=TIMEOUT)  # "connecting…" while the server is away
    box = chat.page.get_by_role("textbox", name="رسالتك")
    await box.fill("القائمة")
    await box.press("Enter")  # typed while the server is down: kept, sent when it is back
    await expect(chat.page.locator("#log .bubble.pending")).to_have_count(1)

    async with running_web(app, port=port) as web:
        await chat.confirmed()
        await chat.shows("menu.title")
        await expect(status).to_be_empty(timeout=TIMEOUT)
        shown = await chat.page.locator("#log .bubble").evaluate_all(
            "els => els.map(e => Number(e.dataset.seq))"
        )
        async with app.db.transaction() as session:
            stored = list((await session.execute(select(WebMessage.seq).order_by(WebMessage.seq))).scalars())

    assert shown == stored  # every message once, in order, none missing
    assert [text for text in await chat.texts() if text == "القائمة"] == ["القائمة"]
    await context.close()


async def test_markup_typed_as_text_stays_text(browser: Browser, web: RunningWeb) -> None:
    context, chat = await new_chat(browser, web)
    dialogs: list[str] = []
    chat.page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    image = "<img src=x onerror=alert(1)>"
    script = "<script>alert(2)</script>"

    await chat.say(image)
    await chat.say(script)

    texts = await chat.user.all_inner_texts()
    assert texts[-2:] == [image, script]
    assert await chat.page.locator("#log img, #log script").count() == 0
    assert dialogs == []
    await context.close()


async def test_a_5000_character_message_and_emoji_only_text_get_clear_replies(
    browser: Browser, web: RunningWeb
) -> None:
    context, chat = await new_chat(browser, web)

    await chat.say("ا" * 5000)
    await chat.shows("error.message_too_long")
    replies_before = await chat.bot.count()
    await chat.say("😀🙏")

    new_replies = (await chat.bot.all_inner_texts())[replies_before:]
    keys = await chat.bot.evaluate_all("els => els.map(e => e.dataset.key)")
    assert new_replies and all(text.strip() for text in new_replies)
    assert "error.internal" not in keys
    assert len((await chat.user.all_inner_texts())[0]) == 5000  # shown whole, wrapped, not cut
    await context.close()


async def test_the_widget_on_the_associations_site_opens_the_same_chat(browser: Browser, app: App) -> None:
    import asyncio

    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    from tests.web_server import wait_listening

    chat_port, site_port = free_port(), free_port()
    site = f"http://localhost:{site_port}"

    async def home(request: object) -> HTMLResponse:
        return HTMLResponse(
            "<!doctype html><html lang='ar' dir='rtl'><body><h1>جمعية ربي الطفولة</h1>"
            f"<script src='http://localhost:{chat_port}/widget.js' defer></script></body></html>"
        )

    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=[Route("/", home)]), host="127.0.0.1", port=site_port, log_level="warning"
        )
    )
    serving = asyncio.create_task(server.serve())
    try:
        await wait_listening(f"http://127.0.0.1:{site_port}/")
        async with running_web(app, port=chat_port, allowed_origins=[site]):
            context = await browser.new_context(viewport={"width": 390, "height": 844})
            page = await context.new_page()
            await page.goto(site + "/")
            await page.get_by_role("button", name="مستفيد — المساعد").click()
            frame = page.frame_locator("iframe")
            await expect(frame.locator('#log .bubble[data-key="menu.greeting"]')).to_be_visible(
                timeout=TIMEOUT
            )
            await frame.locator('#log .choices button[data-option="menu.status"]').click()
            await expect(frame.locator('#log .bubble[data-role="user"]')).to_have_text(["حالة طلبي"])
            await screenshot(page, "web-widget-390x844.png")
            await context.close()
    finally:
        server.should_exit = True
        await serving


async def test_staff_decisions_and_the_satisfaction_poll_arrive_live_and_are_answered_with_star_buttons(
    browser: Browser, web: RunningWeb, app: App
) -> None:
    from datetime import timedelta

    from handlers.web import user_id_of
    from handlers.web_http import COOKIE

    context, chat = await new_chat(browser, web)
    token = next(cookie["value"] for cookie in await context.cookies() if cookie["name"] == COOKIE)
    person = user_id_of(token)
    photo = await web.chat.store_upload(PNG, "id.png")
    proof = await web.chat.store_upload(PDF, "proof.pdf")
    # The same person's conversation driven from the server side: every step is pushed into the open page.
    script: list[dict] = [
        {"option": "menu.apply"},
        {"option": "consent.yes"},
        *({"text": ARABIC_ANSWERS[name]} for name in ARABIC_ANSWERS),
        {"option": "c.food"},
        {"text": "نحتاج سلة غذائية شهرية للأسرة"},
        {"attachment": photo},
        {"attachment": proof},
        {"option": "summary.send"},
        {"option": "declaration.confirm"},
    ]
    for number, step in enumerate(script):
        await web.chat.receive(person, f"server{number:010d}", **step)
    await chat.shows("submitted.text")
    async with app.db.transaction() as session:
        reference = (await session.execute(select(SupportRequest.reference))).scalar_one()
    decisions = DecisionService(app.db, app.clock, app.form, survey_delay=timedelta(0))

    for action in (Action.APPROVE, Action.REGISTER, Action.DELIVER):
        assert (await decisions.decide(reference, action, "staff:9001")).ok
    await deliver_notices(app, web.chat)
    stars = chat.page.locator("#log .choices.rating button")
    await expect(stars).to_have_count(5, timeout=TIMEOUT)
    labels = await stars.all_inner_texts()
    await stars.filter(has_text="⭐⭐⭐⭐⭐").click()
    await chat.confirmed()

    await chat.shows("notify.approved")
    await chat.shows("survey.thanks_rating")
    assert all("⭐" in label for label in labels)
    await expect(stars).to_have_count(0)  # used: gone
    await expect(chat.page.locator('#log .choices button[data-option="survey.skip"]')).to_be_visible()
    await context.close()
