"""Received files: the bytes decide the type, what does not open is refused with a reason and not kept, a
replaced or refused file leaves the disk, stored files are private, and two writers of the same bytes both win."""

from __future__ import annotations

import io
import random
import stat
import threading
from pathlib import Path

import pytest
from PIL import Image

from flows.messages import AttachmentKind
from handlers.console import ConsoleChannel
from storage.files import INLINE_CHECK_BYTES, FileStore, read_stored, sniff, store_received, write_once
from tests.conftest import Chat, reach_step
from tests.sample_files import JPEG, PDF, PNG, image_bytes

FAKE_JPEG = b"this is not a photo"  # 19 bytes of text, named id.jpg


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (JPEG, "image/jpeg"),
        (PNG, "image/png"),
        (image_bytes("WEBP"), "image/webp"),
        (PDF, "application/pdf"),
        (FAKE_JPEG, "application/octet-stream"),
        (b"RIFF\x00\x00\x00\x00AVI LIST not an image", "application/octet-stream"),
        (b"\xff\xd8\xff\xe0" + b"0" * 200, "application/octet-stream"),  # a JPEG's first bytes only
        (JPEG[: len(JPEG) // 2], "application/octet-stream"),  # cut in half
        (b"%PDF-1.4\n" + b"0" * 600, "application/octet-stream"),  # a PDF header and nothing readable
        (b"", "application/octet-stream"),
    ],
)
def test_the_type_is_what_the_bytes_open_as(data: bytes, expected: str) -> None:
    assert sniff(data) == expected


def _console(app, tmp_path: Path, user: str = "umm-ali") -> ConsoleChannel:  # type: ignore[no-untyped-def]
    written: list[str] = []
    channel = ConsoleChannel(app.service.handle, user, app.settings.files_dir, write=written.append)
    channel.written = written  # type: ignore[attr-defined]
    return channel


async def _console_at_id_photo(app, tmp_path: Path) -> ConsoleChannel:  # type: ignore[no-untyped-def]
    chat = Chat(app, user="umm-ali")
    await reach_step(chat, "id_photo")
    assert chat.keys[-1] == "form.id_photo.prompt"
    console = _console(app, tmp_path)
    console.expect_file = True
    return console


def _kept(app) -> list[Path]:  # type: ignore[no-untyped-def]
    folder = app.settings.files_dir
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".")) if folder.exists() else []


async def test_a_text_file_named_id_jpg_is_refused_with_a_reason_not_kept_and_asked_again(app, tmp_path):
    console = await _console_at_id_photo(app, tmp_path)
    fake = tmp_path / "id.jpg"
    fake.write_bytes(FAKE_JPEG)

    replies = await console.send(str(fake))

    assert [r.key for r in replies] == ["error.file_unreadable", "form.id_photo.prompt"]
    assert "تعذّر فتح هذا الملف" in replies[0].text
    assert _kept(app) == []


async def test_a_riff_file_is_not_a_webp_photo(app, tmp_path):
    console = await _console_at_id_photo(app, tmp_path)
    fake = tmp_path / "id.webp"
    fake.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 40)

    replies = await console.send(str(fake))

    assert replies[0].key == "error.file_unreadable"
    assert _kept(app) == []


async def test_a_pdf_refused_as_the_id_photo_does_not_stay_on_disk(app, tmp_path):
    console = await _console_at_id_photo(app, tmp_path)
    document = tmp_path / "id.pdf"
    document.write_bytes(PDF)

    replies = await console.send(str(document))

    assert replies[0].key == "error.photo_needed"
    assert _kept(app) == []


async def test_a_real_photo_is_kept_private_and_a_replaced_one_is_deleted(app, tmp_path):
    console = await _console_at_id_photo(app, tmp_path)
    first, second = tmp_path / "id.jpg", tmp_path / "id2.png"
    first.write_bytes(JPEG)
    second.write_bytes(PNG)

    replies = await console.send(str(first))

    assert replies[-1].key == "form.proof_document.prompt"
    (kept,) = _kept(app)
    assert read_stored(kept) == JPEG and kept.suffix == ".jpg"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE(kept.parent.stat().st_mode) == 0o700

    proof = tmp_path / "proof.pdf"
    proof.write_bytes(PDF)
    await console.send(str(proof))
    chat = Chat(app, user="umm-ali")
    chat.key = console.key
    await chat.send(option="summary.edit")
    await chat.send(option="e.id_photo")
    console.expect_file = True
    await console.send(str(second))

    assert sorted(read_stored(p) for p in _kept(app)) == sorted([PNG, PDF])


async def test_a_refused_file_another_applicant_still_uses_is_kept(app, tmp_path):
    other = await _console_at_id_photo(app, tmp_path)
    photo = tmp_path / "id.jpg"
    photo.write_bytes(JPEG)
    await other.send(str(photo))  # umm-ali's draft now holds this file

    chat = Chat(app, user="second")
    await reach_step(chat, "proof_document")
    console = _console(app, tmp_path, user="second")
    console.expect_file = True
    await console.send(str(photo))  # the same bytes as proof: accepted (images are documents too)
    await chat.send("الغاء")  # cancelling drops the second draft, but umm-ali still needs the file

    assert [read_stored(p) for p in _kept(app)] == [JPEG]


def test_two_writers_of_the_same_bytes_at_once_both_succeed(tmp_path):
    errors: list[BaseException] = []
    for round_ in range(40):
        path = tmp_path / f"{round_:02d}.jpg"
        start = threading.Barrier(6)

        def write(path: Path = path, start: threading.Barrier = start) -> None:
            start.wait()
            try:
                write_once(path, JPEG)
            except BaseException as error:  # collected: a thread's exception is otherwise lost
                errors.append(error)

        threads = [threading.Thread(target=write) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert read_stored(path) == JPEG
    assert errors == []
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_the_store_names_files_by_hash_and_deletes_only_its_own(tmp_path):
    store = FileStore(tmp_path / "files")
    stored = store.store(JPEG, name="id.jpg")
    assert stored.kind == AttachmentKind.PHOTO and stored.mime == "image/jpeg" and stored.size == len(JPEG)
    assert stored.ref.endswith(f"{stored.sha256}.jpg")
    assert store.store(JPEG).ref == stored.ref
    outside = tmp_path / "elsewhere.jpg"
    outside.write_bytes(JPEG)
    assert store.delete(f"file:{outside}") is False and outside.exists()
    assert store.delete(stored.ref) is True
    assert store.delete(stored.ref) is False
    refused = store.store(FAKE_JPEG, name="id.jpg")
    assert refused.mime == "application/octet-stream" and not refused.ref.startswith("file:")


async def test_a_file_sent_while_staff_hold_the_conversation_is_kept_for_the_relay(app, tmp_path):
    console = await _console_at_id_photo(app, tmp_path)
    contact = await app.service.contact_by_id(1)
    assert contact is not None and contact.channel_user_id == "umm-ali"
    await app.service.set_held(contact.id, True, "staff:1")
    document = tmp_path / "salary.pdf"
    document.write_bytes(PDF)

    await console.send(str(document))

    assert [read_stored(p) for p in _kept(app)] == [PDF]


async def test_in_english_the_refusal_says_why_too(app, tmp_path):
    from tests.conftest import ENGLISH_ANSWERS

    chat = Chat(app, user="sara", lang="en")
    await reach_step(chat, "id_photo", ENGLISH_ANSWERS)
    console = ConsoleChannel(
        app.service.handle, "sara", app.settings.files_dir, lang="en", write=lambda _: None
    )
    console.expect_file = True
    fake = tmp_path / "id.jpg"
    fake.write_bytes(FAKE_JPEG)

    replies = await console.send(str(fake))

    assert [r.key for r in replies] == ["error.file_unreadable", "form.id_photo.prompt"]
    assert replies[0].text.startswith("This file does not open as a photo or a PDF")


def _noise_png() -> bytes:
    out = io.BytesIO()
    Image.frombytes("RGB", (200, 100), random.Random(7).randbytes(60_000)).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize("size", ["small", "large"])
async def test_a_received_file_is_kept_sealed_and_a_fake_is_not_written(tmp_path, size):
    # Small files are opened on the event loop and written from a thread, large ones both in a thread: the
    # same file is kept either way, and what does not open is never written.
    photo = JPEG if size == "small" else _noise_png()
    assert (len(photo) <= INLINE_CHECK_BYTES) == (size == "small")
    kept = await store_received(tmp_path, photo, name="id.jpg")
    assert kept.ref.startswith("file:") and kept.mime.startswith("image/")
    assert read_stored(Path(kept.ref.removeprefix("file:"))) == photo
    fake = FAKE_JPEG if size == "small" else FAKE_JPEG * 4000
    refused = await store_received(tmp_path, fake, name="id.jpg")
    assert refused.mime == "application/octet-stream" and not refused.ref.startswith("file:")
    assert [p.name for p in tmp_path.iterdir()] == [Path(kept.ref).name]
