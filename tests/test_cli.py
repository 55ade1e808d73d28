"""The command line, run as a real process: help, settings errors, and a whole Arabic request in the console."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sample_files import PDF, PNG

ROOT = Path(__file__).resolve().parent.parent


def cli_environment(tmp_path: Path, **env: str) -> dict[str, str]:
    """This process's environment without its BOT_ settings (the FAQ cache kept), on a fresh data folder."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BOT_") or k == "BOT_FAQ_CACHE"}
    environment.update(
        {
            "PYTHONPATH": str(ROOT),  # this checkout's code, whatever the venv's editable install points at
            "BOT_DATA_DIR": str(tmp_path / "data"),
            "BOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'data' / 'm.db'}",
            **env,
        }
    )
    return environment


def run(args: list[str], tmp_path: Path, stdin: str = "", **env: str) -> subprocess.CompletedProcess:
    environment = cli_environment(tmp_path, **env)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=120,
    )


@pytest.fixture(autouse=True)
def _shared_faq_cache(faq_cache):  # type: ignore[no-untyped-def]
    return faq_cache


def test_help_lists_the_commands(tmp_path):
    result = run(["--help"], tmp_path)
    assert result.returncode == 0
    for command in ("chat", "migrate", "run", "ask", "faq"):
        assert command in result.stdout


def test_a_settings_error_is_one_clear_line(tmp_path):
    result = run(["chat"], tmp_path, BOT_DECISION_DAYS="two weeks")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: BOT_DECISION_DAYS: Input should be a valid integer, unable to parse string as an integer"
    ]
    result = run(["chat"], tmp_path, BOT_ADMIN_IDS="9001,abc")
    assert result.returncode == 2 and "BOT_ADMIN_IDS" in result.stderr and "Traceback" not in result.stderr


def test_migrate_creates_the_database_file(tmp_path):
    result = run(["migrate"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "m.db").stat().st_size > 0


def test_console_completes_an_arabic_request_with_documents_then_resumes_the_same_contact(tmp_path):
    (tmp_path / "id.png").write_bytes(PNG)
    (tmp_path / "proof.pdf").write_bytes(PDF)
    lines = [
        "2",
        "1",
        "فاطمة محمد العتيبي",
        "١٠٠٠٠٠٠٠٠٨",
        "٠٥٠١٢٣٤٥٦٧",
        "الرياض",
        "٥",
        "٣",
        "٢٥٠٠",
        "2",
        "نحتاج سلة غذائية شهرية للأسرة",
        "/no/such/file.png",
        str(tmp_path / "id.png"),
        str(tmp_path / "proof.pdf"),
        "1",
        "1",
    ]
    result = run(["chat", "--contact", "umm-ali"], tmp_path, stdin="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "أهلًا بك في «مستفيد»" in out
    assert "  2. التقديم على طلب دعم" in out
    assert "لم نجد ملفًا في هذا المسار" in out
    assert "ملف مرفق (id.png)" in out and "ملف مرفق (proof.pdf)" in out
    assert "رقم طلبك: 2026-" in out or "رقم طلبك: 20" in out
    assert "لا تقل عن أسبوعين" in out
    stored = list((tmp_path / "data" / "files").iterdir())
    assert len(stored) == 2

    again = run(["chat", "--contact", "umm-ali"], tmp_path, stdin="3\n")
    assert again.returncode == 0
    assert "لديك طلب واحد" in again.stdout


def test_console_in_english(tmp_path):
    result = run(["chat", "--lang", "en"], tmp_path, stdin="1\nWhen will I get an answer?\n")
    assert result.returncode == 0, result.stderr
    assert "welcome to Mustafid" in result.stdout
    assert "Please type your question." in result.stdout


def test_exit_words_and_ctrl_d_end_the_terminal_chat_cleanly(tmp_path):
    ctrl_d = run(["chat"], tmp_path, stdin="")
    assert ctrl_d.returncode == 0, ctrl_d.stderr
    assert "Traceback" not in ctrl_d.stderr
    assert ctrl_d.stdout.rstrip().endswith("مع السلامة، ونسعد بخدمتك دائمًا.")
    for word in ("خروج", "اغلاق", "quit", "exit"):
        result = run(["chat"], tmp_path, stdin=f"{word}\n2\n")
        assert result.returncode == 0, result.stderr
        assert result.stdout == ctrl_d.stdout  # the greeting, then goodbye: nothing after the word was read


def test_ask_answers_in_the_language_asked_for(tmp_path):
    result = run(["ask", "--lang", "en", "كيف اقدم طلب"], tmp_path)
    assert result.returncode == 0, result.stderr
    answer = result.stdout
    assert answer.strip() and not any("\u0600" <= ch <= "\u06ff" for ch in answer), answer


def test_ask_with_an_empty_question_is_an_error(tmp_path):
    for question in ("", "   "):
        result = run(["ask", question], tmp_path)
        assert result.returncode != 0
        assert result.stdout == ""
        assert result.stderr.startswith("error: the question is empty")
