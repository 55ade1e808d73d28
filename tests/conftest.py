"""Shared fixtures: a real database (SQLite file, and PostgreSQL when BOT_TEST_DATABASE_URL is set),
a moved-by-hand clock, and a conversation driver that talks to the real service."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.app import App, build_app, load_faq
from bot.settings import load_settings
from flows.clock import FakeClock
from flows.messages import Attachment, AttachmentKind, ContactKey, Inbound, Outbound
from storage.migrate import upgrade_async

PG_URL = os.environ.get("BOT_TEST_DATABASE_URL")
REQUIRE_PG = os.environ.get("BOT_REQUIRE_POSTGRES") == "1"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def pg_server_url() -> str | None:
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("BOT_REQUIRE_POSTGRES=1 but BOT_TEST_DATABASE_URL is not set")
        return None
    return PG_URL


async def _create_pg_database(server_url: str) -> str:
    name = f"mustafid_test_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def _drop_pg_database(server_url: str, url: str) -> None:
    name = make_url(url).database
    admin = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated to the head once per session; each test gets a copy (migrating costs seconds)."""
    path = tmp_path_factory.mktemp("migrated") / "mustafid.db"
    with ThreadPoolExecutor(1) as thread:  # its own event loop, apart from the tests' loops
        thread.submit(asyncio.run, upgrade_async(f"sqlite+aiosqlite:///{path}")).result()
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(
    request, tmp_path: Path, pg_server_url: str | None, migrated_sqlite: Path
) -> AsyncIterator[str]:
    """The same tests on SQLite and on PostgreSQL (skipped without BOT_TEST_DATABASE_URL)."""
    if request.param == "sqlite":
        shutil.copyfile(migrated_sqlite, tmp_path / "mustafid.db")
        yield f"sqlite+aiosqlite:///{tmp_path / 'mustafid.db'}"
        return
    if pg_server_url is None:
        pytest.skip("PostgreSQL tests need BOT_TEST_DATABASE_URL")
    url = await _create_pg_database(pg_server_url)
    try:
        await upgrade_async(url)
        yield url
    finally:
        await _drop_pg_database(pg_server_url, url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'mustafid.db'}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_settings(url: str, tmp_path: Path, **overrides: object):  # type: ignore[no-untyped-def]
    return load_settings(
        database_url=url, data_dir=tmp_path / "data", content_dir=ROOT / "content", **overrides
    )


@pytest.fixture(scope="session", autouse=True)
def data_keyring():  # type: ignore[no-untyped-def]
    """One data key for the run, through BOT_DATA_KEY, so seeded rows, build_app, the CLI and subprocesses all
    read each other's data (the key-file tests unset it)."""
    from storage.crypto import Keyring, encode_key, new_key

    key = new_key()
    os.environ["BOT_DATA_KEY"] = encode_key(key)
    return Keyring.of([key])


@pytest.fixture(autouse=True)
def installed_keyring(data_keyring):  # type: ignore[no-untyped-def]
    """Each test starts with the run's key installed (a test before it may have loaded another)."""
    from storage.crypto import install

    return install(data_keyring)


@pytest.fixture(scope="session", autouse=True)
def faq_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One file of guide embeddings for the whole run (subprocesses get it through BOT_FAQ_CACHE)."""
    path = tmp_path_factory.mktemp("faq") / "faq-embeddings.npz"
    os.environ["BOT_FAQ_CACHE"] = str(path)
    return path


class _NoGuides:
    """The FAQ port with no guides: no answer to anything."""

    def __call__(self, text: str) -> None:
        return None

    def entry(self, entry_id: str) -> None:
        return None


@pytest.fixture(scope="session")
def shared_faq(faq_cache: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The guides' index, built once: building it (with the sentence encoder) takes seconds.
    BOT_TEST_WITHOUT_GUIDES=1 leaves the guides out: the bot then finds no answer to a question
    (bench/mutation.py runs pytest hundreds of times over modules that never ask the guides anything)."""
    if os.environ.get("BOT_TEST_WITHOUT_GUIDES") == "1":
        return _NoGuides()
    return load_faq(
        make_settings("sqlite+aiosqlite://", tmp_path_factory.mktemp("faqdata"), faq_cache=faq_cache)
    )


@pytest.fixture
async def app(
    sqlite_url: str, tmp_path: Path, clock: FakeClock, shared_faq, migrated_sqlite: Path
) -> AsyncIterator[App]:  # type: ignore[no-untyped-def]
    shutil.copyfile(migrated_sqlite, tmp_path / "mustafid.db")  # sqlite_url's file, already at the head
    built = await build_app(make_settings(sqlite_url, tmp_path), clock=clock, faq=shared_faq)
    yield built
    await built.close()


@pytest.fixture
async def any_app(database_url: str, tmp_path: Path, clock: FakeClock, shared_faq) -> AsyncIterator[App]:  # type: ignore[no-untyped-def]
    built = await build_app(make_settings(database_url, tmp_path), clock=clock, migrate=False, faq=shared_faq)
    yield built
    await built.close()


class Chat:
    """A beneficiary talking to the real service, one message at a time."""

    def __init__(self, app: App, user: str = "u1", channel: str = "console", lang: str | None = None) -> None:
        self.app = app
        self.key = ContactKey(channel, user)
        self.lang = lang
        self.last: list[Outbound] = []

    async def send(
        self, text: str | None = None, *, option: str | None = None, file: Attachment | None = None
    ) -> list[Outbound]:
        inbound = Inbound(
            contact=self.key,
            message_id=uuid.uuid4().hex,
            text=text,
            option=option,
            attachments=(file,) if file else (),
            language_hint=self.lang,
        )
        self.last = await self.app.service.handle(inbound)
        return self.last

    async def press(self, label_or_id: str) -> list[Outbound]:
        """Press a button of the newest message by its id or its exact label."""
        options = self.last[-1].options
        for option in options:
            if label_or_id in (option.id, option.label):
                return await self.send(option=option.id)
        raise AssertionError(f"no option {label_or_id!r} in {[o.id for o in options]}")

    @property
    def text(self) -> str:
        return "\n".join(message.text for message in self.last)

    @property
    def keys(self) -> list[str]:
        return [message.key for message in self.last]

    @property
    def option_ids(self) -> list[str]:
        return [option.id for option in self.last[-1].options] if self.last else []

    async def state(self):  # type: ignore[no-untyped-def]
        return await self.app.service.contact_state(self.key)


def photo(name: str = "id.jpg", size: int = 50_000, mime: str = "image/jpeg") -> Attachment:
    return Attachment(
        kind=AttachmentKind.PHOTO, ref=f"file:/tmp/{name}", mime=mime, size=size, name=name, sha256="a" * 64
    )


def pdf(name: str = "proof.pdf", size: int = 120_000) -> Attachment:
    return Attachment(
        kind=AttachmentKind.DOCUMENT,
        ref=f"file:/tmp/{name}",
        mime="application/pdf",
        size=size,
        name=name,
        sha256="b" * 64,
    )


ARABIC_ANSWERS = {
    "full_name": "فاطمة محمد العتيبي",
    "national_id": "١٠٠٠٠٠٠٠٠٨",
    "mobile": "٠٥٠١٢٣٤٥٦٧",
    "city": "الرياض",
    "family_members": "٥",
    "children": "٣",
    "monthly_income": "٢٥٠٠",
}
ENGLISH_ANSWERS = {
    "full_name": "Sara Ahmed Alharbi",
    "national_id": "2123456788",
    "mobile": "+966 55 123 4567",
    "city": "Jeddah",
    "family_members": "4",
    "children": "2",
    "monthly_income": "0",
}


async def fill_form(
    chat: Chat,
    answers: dict[str, str],
    support: str = "c.food",
    description: str = "نحتاج سلة غذائية شهرية للأسرة",
) -> None:
    """From the menu to the summary, answering every field."""
    await chat.send(option="menu.apply")
    if "consent.yes" in chat.option_ids:
        await chat.press("consent.yes")
    for name in (
        "full_name",
        "national_id",
        "mobile",
        "city",
        "family_members",
        "children",
        "monthly_income",
    ):
        await chat.send(answers[name])
    await chat.press(support)
    await chat.send(description)
    await chat.send(file=photo())
    await chat.send(file=pdf())


FORM_STEPS = [
    "consent",
    "full_name",
    "national_id",
    "mobile",
    "city",
    "family_members",
    "children",
    "monthly_income",
    "support_type",
    "description",
    "id_photo",
    "proof_document",
    "summary",
    "edit_pick",
    "declaration",
]


async def reach_step(chat: Chat, stop: str, answers: dict[str, str] = ARABIC_ANSWERS) -> None:
    """Walk a new applicant to the given step of the form (see FORM_STEPS)."""
    script: list = ["consent.yes", *answers.values(), "c.food", "وصف الحاجة للأسرة", photo(), pdf()]
    await chat.send(option="menu.apply")
    index = FORM_STEPS.index(stop)
    for answer in script[: min(index, len(script))]:
        if isinstance(answer, str) and answer.startswith(("consent.", "c.")):
            await chat.send(option=answer)
        elif isinstance(answer, str):
            await chat.send(answer)
        else:
            await chat.send(file=answer)
    if stop == "edit_pick":
        await chat.press("summary.edit")
    if stop == "declaration":
        await chat.press("summary.send")
