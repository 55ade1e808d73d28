"""The console channel: a conversation in the terminal, options as a numbered list, files by path."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path

from flows.messages import Attachment, AttachmentKind, ContactKey, Expect, Inbound, Outbound
from flows.text import fold
from flows.validators import MAX_FILE_BYTES
from locales import translator
from storage.files import UNREADABLE, FileStore, sniff


def sniff_mime(path: Path) -> str:
    """The type the file's bytes are (an image Pillow decodes, a PDF pypdf reads), never its name."""
    return sniff(path.read_bytes())


def store_file(path: Path, files_dir: Path, max_bytes: int = MAX_FILE_BYTES) -> Attachment:
    """Keep a local file in the data folder, named by its SHA-256, if it opens as an image or a PDF. A file
    too big or that does not open is not copied: the form refuses it and says why."""
    size = path.stat().st_size
    if size > max_bytes:
        return Attachment(
            kind=AttachmentKind.DOCUMENT, ref="unread:too-big", mime=UNREADABLE, size=size, name=path.name
        )
    return FileStore(files_dir).store(path.read_bytes(), name=path.name)


def render_console(message: Outbound) -> str:
    lines = [message.text]
    for number, option in enumerate(message.options, start=1):
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
    def __init__(
        self,
        handle: Callable,
        contact: str,
        files_dir: Path,
        lang: str = "ar",
        read: Callable[[str], str] = input,
        write: Callable[[str], None] = print,
    ) -> None:
        self.handle = handle
        self.key = ContactKey("console", contact)
        self.files_dir = files_dir
        self.lang = lang
        self.read = read
        self.write = write
        self.expect_file = False

    def inbound_for(self, line: str) -> Inbound | Outbound:
        """The neutral message for a typed line, or a local answer when a typed path does not exist."""
        attachments: tuple[Attachment, ...] = ()
        text: str | None = line
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
            text=text,
            attachments=attachments,
            language_hint=self.lang,
        )

    async def send(self, line: str) -> list[Outbound]:
        message = self.inbound_for(line)
        replies = [message] if isinstance(message, Outbound) else await self.handle(message)
        for reply in replies:
            self.lang = reply.lang or self.lang
        if replies and not isinstance(message, Outbound):
            self.expect_file = replies[-1].expect == Expect.ATTACHMENT
        for reply in replies:
            text = render_console(reply)
            if reply.key == "help.text":  # the terminal has its own way out
                t = translator(reply.lang or self.lang)
                text += "\n" + t("console.exit_hint")
            self.write(text + "\n")
        return replies

    async def run(self) -> None:
        await self.send("/start")
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


EXIT_WORDS = frozenset({"خروج", "اخرج", "اغلاق", "quit", "exit", "/quit", "/exit"})


def is_exit(line: str) -> bool:
    """Words that end the terminal conversation (folded: «إغلاق» and «اغلاق» alike)."""
    return fold(line).strip(" .!") in EXIT_WORDS
