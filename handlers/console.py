"""The console channel: a conversation in the terminal, options as a numbered list, files by path."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from flows.messages import (
    Attachment,
    AttachmentKind,
    ContactKey,
    Expect,
    Inbound,
    Option,
    Outbound,
    stored_attachment,
)
from flows.text import fold
from flows.validators import MAX_FILE_BYTES
from locales import translator
from storage.files import UNREADABLE, FileStore, read_stored
from storage.outbox import Sent

log = logging.getLogger(__name__)


def store_file(path: Path, files_dir: Path, max_bytes: int = MAX_FILE_BYTES) -> Attachment:
    """Keep a local file in the data folder, named by its SHA-256, if it opens as an image or a PDF. A file
    too big or that does not open is not copied: the form refuses it and says why."""
    size = path.stat().st_size
    if size > max_bytes:
        return Attachment(
            kind=AttachmentKind.DOCUMENT, ref="unread:too-big", mime=UNREADABLE, size=size, name=path.name
        )
    return stored_attachment(FileStore(files_dir).store(path.read_bytes(), name=path.name))


def numbered(message: Outbound) -> list[tuple[int, Option]]:
    """The numbers a message's options are typed by: their place in the list, except a rating question's,
    numbered by the rating itself (5 = excellent), so typing «5» can never mean «poor»."""
    if message.expect == Expect.RATING:
        rated = [(option.id.rsplit(".", 1)[-1], option) for option in message.options]
        if all(value.isdigit() for value, _ in rated):
            return [(int(value), option) for value, option in rated]
    return list(enumerate(message.options, start=1))


def render_console(message: Outbound) -> str:
    lines = [message.text]
    for number, option in numbered(message):
        lines.append(f"  {number}. {option.label}")
    if message.expect == Expect.ATTACHMENT:
        t = translator(message.lang)
        lines.append(t("console.attach_hint"))
    return "\n".join(lines)


def _looks_like_path(text: str) -> bool:
    return text.startswith(("/", "~", "./", "../")) or (
        len(text) < 300 and Path(text).suffix.lower() in (".jpg", ".jpeg", ".png", ".pdf", ".webp", ".heic")
    )


class ConsoleChannel:
    """A conversation in the terminal. With ``notices`` (a function that delivers this contact's due outbox
    rows through ``deliver``), decisions, reminders and polls show up between turns and while waiting for
    a line (every ``poll_seconds``)."""

    def __init__(
        self,
        handle: Callable,
        contact: str,
        files_dir: Path,
        lang: str = "ar",
        read: Callable[[str], str] = input,
        write: Callable[[str], None] = print,
        notices: Callable[[], Awaitable[object]] | None = None,
        poll_seconds: float = 2.0,
    ) -> None:
        self.handle = handle
        self.key = ContactKey("console", contact)
        self.files_dir = files_dir
        self.lang = lang
        self.read = read
        self.write = write
        self.expect_file = False
        self.notices = notices
        self.poll_seconds = poll_seconds
        self.offered: list[tuple[int, Option]] = []  # the buttons of the last notice shown, by number
        self._turn = asyncio.Lock()  # a notice never lands in the middle of a turn's replies

    def inbound_for(self, line: str) -> Inbound | Outbound:
        """The neutral message for a typed line, or a local answer when a typed path does not exist."""
        attachments: tuple[Attachment, ...] = ()
        text: str | None = line
        option = self._chosen(line)
        candidate = line.strip().strip("'\"")
        if self.expect_file and candidate and _looks_like_path(candidate):
            path = Path(candidate).expanduser()
            if not path.is_file():
                t = translator(self.lang)
                return Outbound(text=t("error.file_not_found"), key="error.file_not_found", lang=self.lang)
            attachments, text = (store_file(path, self.files_dir),), None
        return Inbound(
            contact=self.key,
            message_id=f"console:{uuid.uuid4().hex}",
            text=None if option else text,
            option=option,
            attachments=attachments,
            language_hint=self.lang,
        )

    def _chosen(self, line: str) -> str | None:
        """A notice's buttons, like Telegram's: its number or its exact words press it."""
        typed = fold(line)
        for number, option in self.offered:
            if typed in (str(number), fold(option.label)):
                return option.id
        return None

    async def send(self, line: str) -> list[Outbound]:
        async with self._turn:
            message = self.inbound_for(line)
            self.offered = []
            replies = [message] if isinstance(message, Outbound) else await self.handle(message)
            if replies and not isinstance(message, Outbound):
                self.expect_file = replies[-1].expect == Expect.ATTACHMENT
            self._show(replies)
        return replies

    def _show(self, messages: Sequence[Outbound]) -> None:
        for message in messages:
            self.lang = message.lang or self.lang
            text = render_console(message)
            if message.key == "help.text":  # the terminal has its own way out
                t = translator(message.lang or self.lang)
                text += "\n" + t("console.exit_hint")
            saved = self._save_file(message)
            if saved is not None:  # a file for the person (the copy of «بياناتي»): where it was written
                t = translator(message.lang or self.lang)
                text += "\n" + t("console.file_saved", path=str(saved))
            self.write(text + "\n")

    def _save_file(self, message: Outbound) -> Path | None:
        """A file sent to the person, opened with the data key and written under data/exports (mode 0600)."""
        attachment = message.extra.get("attachment") if message.extra else None
        if not isinstance(attachment, Attachment) or not attachment.ref.startswith("file:"):
            return None
        source = Path(attachment.ref.removeprefix("file:"))
        if not source.is_file():
            return None
        folder = Path(self.files_dir).parent / "exports"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        target = folder / Path(attachment.name or source.name).name
        target.write_bytes(read_stored(source))
        target.chmod(0o600)
        return target

    async def deliver(self, contact: object, messages: Sequence[Outbound]) -> Sent:
        """The outbox's sender for this terminal: show the notice; its buttons answer to their numbers."""
        self._show(messages)
        with_options = [m for m in messages if m.options]
        if with_options:
            self.offered = numbered(with_options[-1])
            self.expect_file = False
        elif messages:
            self.expect_file = messages[-1].expect == Expect.ATTACHMENT
        return Sent()

    async def show_notices(self) -> None:
        if self.notices is None:
            return
        async with self._turn:
            try:
                await self.notices()
            except Exception as exc:  # a notice that cannot be shown now is shown at a later turn
                log.warning("console notices failed (%s)", type(exc).__name__)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            await self.show_notices()

    async def run(self) -> None:
        await self.send("/start")
        await self.show_notices()
        poller = asyncio.create_task(self._poll()) if self.notices is not None else None
        try:
            while True:
                try:
                    line = await asyncio.to_thread(self.read, "> ")
                except (EOFError, KeyboardInterrupt):  # Ctrl-D (or Ctrl-C at the prompt)
                    line = None
                if line is None or is_exit(line):
                    t = translator(self.lang)
                    self.write(t("console.bye"))
                    return
                await self.send(line)
                await self.show_notices()
        finally:
            if poller is not None:
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller


EXIT_WORDS = frozenset({"خروج", "اخرج", "اغلاق", "quit", "exit", "/quit", "/exit"})


def is_exit(line: str) -> bool:
    """Words that end the terminal conversation (folded: «إغلاق» and «اغلاق» alike)."""
    return fold(line).strip(" .!") in EXIT_WORDS
