"""`python -m bot staff …` and the terminal chat's notices, through the real command line.

The two-terminal walk-through of the README is run exactly: a beneficiary applies in one `chat` process and
stays at the prompt; `staff approve` in another process; the notice appears in the first without typing;
`staff registered`, `staff delivered`; the rating question appears and is answered.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bot.cli import main
from storage.crypto import active
from tests.sample_files import JPEG, PDF

ROOT = Path(__file__).resolve().parent.parent
FORM_LINES = [
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
]


@pytest.fixture(autouse=True)
def _shared_faq_cache(faq_cache):  # type: ignore[no-untyped-def]
    return faq_cache


def environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_") or k == "BOT_FAQ_CACHE"}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "BOT_DATA_DIR": str(tmp_path / "data"),
            "BOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'data' / 'm.db'}",
            "BOT_SURVEY_DELAY_SECONDS": "0",  # the README's walk-through setting: the poll right after delivery
            "BOT_OUTBOX_TICK_SECONDS": "0.2",
        }
    )
    return env


class Terminal:
    """A `python -m bot chat` process: type lines, wait until a text has been printed."""

    def __init__(self, args: list[str], tmp_path: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment(tmp_path),
            cwd=tmp_path,
        )
        self.output = ""
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for chunk in iter(lambda: self.process.stdout.read(1), ""):  # type: ignore[union-attr]
            with self.changed:
                self.output += chunk
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def type(self, *lines: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("".join(line + "\n" for line in lines))
        self.process.stdin.flush()

    def wait_for(self, text: str, after: int = 0, timeout: float = 60) -> int:
        """Where ``text`` appears in the output after position ``after``; fails after ``timeout`` seconds."""
        with self.changed:
            found = self.changed.wait_for(
                lambda: text in self.output[after:] or self.process.poll() is not None, timeout
            )
            position = self.output.find(text, after)
        assert found and position >= 0, f"{text!r} never printed; output ends:\n{self.output[-1500:]}"
        return position + len(text)


def staff(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot", "staff", *args],
        capture_output=True,
        text=True,
        env=environment(tmp_path),
        cwd=tmp_path,
        timeout=120,
    )


def test_the_two_terminal_walk_through(tmp_path):
    (tmp_path / "id.jpg").write_bytes(JPEG)
    (tmp_path / "proof.pdf").write_bytes(PDF)
    chat = Terminal(["chat", "--contact", "umm-ali"], tmp_path)
    try:
        chat.type(*FORM_LINES, str(tmp_path / "id.jpg"), str(tmp_path / "proof.pdf"), "1", "1")
        at = chat.wait_for("رقم طلبك: 2026-00001")

        approved = staff(tmp_path, "approve", "2026-00001")
        assert approved.returncode == 0, approved.stderr
        assert "2026-00001" in approved.stdout and "تمت الموافقة" in approved.stdout
        at = chat.wait_for("بشرى سارة", after=at)  # shown while the beneficiary waits at the prompt

        registered = staff(tmp_path, "registered", "2026-00001")
        delivered = staff(tmp_path, "delivered", "2026-00001")
        assert (registered.returncode, delivered.returncode) == (0, 0), registered.stderr + delivered.stderr
        assert "BOT_SURVEY_DELAY_SECONDS = 0" in delivered.stdout
        at = chat.wait_for("تم تقديم الخدمة في طلبك رقم 2026-00001", after=at)
        at = chat.wait_for("كيف تقيّم الخدمة؟", after=at)
        assert "  5. ممتاز ⭐⭐⭐⭐⭐" in chat.output[at:]

        chat.type("5")
        chat.wait_for("شكرًا لتقييمك", after=at)
        chat.type("خروج")
        assert chat.process.wait(timeout=60) == 0
    finally:
        if chat.process.poll() is None:
            chat.process.kill()
            chat.process.wait()
    with sqlite3.connect(tmp_path / "data" / "m.db") as db:
        assert db.execute("SELECT rating FROM survey").fetchall() == [(5,)]
        states = db.execute("SELECT kind, state FROM outbox_message ORDER BY id").fetchall()
    # approved, registered, delivered, the poll: each shown once; the poll's reminder is withdrawn once rated
    assert states == [("decision", "sent")] * 3 + [("survey", "sent"), ("survey_reminder", "cancelled")]


# ---- the commands in-process (main()), on the same database as a terminal chat -----------------------


@pytest.fixture
def cli_env(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    for name, value in environment(tmp_path).items():
        if name.startswith("BOT_"):
            monkeypatch.setenv(name, value)
    monkeypatch.delenv("BOT_DATA_KEY")  # as the `bot chat` subprocesses: the key file under the data folder
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _submit(tmp_path: Path, contact: str, name: str = "فاطمة محمد العتيبي") -> None:
    (tmp_path / "id.jpg").write_bytes(JPEG)
    (tmp_path / "proof.pdf").write_bytes(PDF)
    lines = [*FORM_LINES, str(tmp_path / "id.jpg"), str(tmp_path / "proof.pdf"), "1", "1", "خروج"]
    lines[2] = name
    result = subprocess.run(
        [sys.executable, "-m", "bot", "chat", "--contact", contact],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        env=environment(tmp_path),
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0 and "رقم طلبك" in result.stdout, result.stdout[-800:] + result.stderr


def test_show_is_masked_full_is_audited_and_the_same_id_is_named(cli_env, capsys):
    _submit(cli_env, "umm-ali")
    _submit(cli_env, "umm-sara", name="نورة سعد القحطاني")

    assert main(["staff", "pending"]) == 0
    pending = capsys.readouterr().out
    assert "2026-00001 — فاطمة م. ع." in pending and "2026-00002 — نورة س. ق." in pending

    assert main(["staff", "show", "2026-2"]) == 0
    card = capsys.readouterr().out
    assert "******0008" in card and "1000000008" not in card and "0501234567" not in card
    assert "موجود أيضًا في الطلب: \u20682026-00001\u2069" in card

    assert main(["staff", "show", "١٠٠٠٠٠٠٠٠٨"]) == 0  # by national ID: both requests
    both = capsys.readouterr().out
    assert "2026-00001" in both and "2026-00002" in both

    assert main(["staff", "--lang", "en", "show", "2026-00002"]) == 0
    assert (
        "National ID \u2068******0008\u2069 also appears on request: \u20682026-00001\u2069"
        in capsys.readouterr().out
    )

    assert main(["staff", "--lang", "en", "show", "2026-00001", "--full"]) == 0
    full = capsys.readouterr().out
    assert "1000000008" in full and "Confidential personal data" in full
    with sqlite3.connect(cli_env / "data" / "m.db") as db:
        audited = db.execute(
            "SELECT actor, subject FROM audit_log WHERE action = 'request.record_viewed'"
        ).fetchall()
    assert [subject for _, subject in audited] == ["request:2026-00001"]
    assert audited[0][0].startswith("cli:")
    assert "No one has opened the full record before." in full
    assert main(["staff", "--lang", "en", "show", "2026-00001", "--full"]) == 0
    assert f"Last full-record access: {audited[0][0]} (record)" in capsys.readouterr().out
    assert main(["export", "requests", "--full", "--output", str(cli_env / "full.csv")]) == 0
    with sqlite3.connect(cli_env / "data" / "m.db") as db:
        exported = db.execute(
            "SELECT subject FROM audit_log WHERE action = 'request.exported_full'"
        ).fetchall()
    assert sorted(exported) == [("request:2026-00001",), ("request:2026-00002",)]


def test_decisions_follow_the_desk_rules_and_say_why_when_refused(cli_env, capsys):
    _submit(cli_env, "umm-ali")

    assert main(["staff", "show", "2099-00001"]) == 1
    assert "2099-00001" in capsys.readouterr().err
    assert main(["staff", "approve", "2099-00001"]) == 1  # an unknown reference is refused, not "done"
    refused = capsys.readouterr()
    assert "2099-00001" in refused.err and "2099-00001" not in refused.out
    assert main(["staff", "delivered", "2026-00001"]) == 1  # not before approval and registration
    assert "لا يمكن تنفيذ هذا الإجراء" in capsys.readouterr().err
    assert main(["staff", "reject", "2026-00001", "--reason", "   "]) == 1
    assert capsys.readouterr().err.strip() == "اكتب السبب أو المطلوب من المتقدم."
    assert main(["staff", "needinfo", "2026-00001", "--fields", "salary", "--note", "صورة أوضح"]) == 1
    assert "--fields mobile,city" in capsys.readouterr().err
    assert (
        main(["staff", "needinfo", "2026-00001", "--fields", "mobile,city", "--note", "تأكدي من الرقم"]) == 0
    )
    assert "2026-00001" in capsys.readouterr().out

    with sqlite3.connect(cli_env / "data" / "m.db") as db:
        status = db.execute("SELECT status FROM support_request").fetchone()
        audited = db.execute("SELECT action FROM audit_log WHERE action LIKE 'request.%'").fetchall()
        notices = db.execute("SELECT kind, payload FROM outbox_message").fetchall()
    assert status == ("needs_info",)
    assert ("request.needinfo",) in audited
    assert len(notices) == 1  # the payload is sealed at rest: opened with the data key main() loaded
    assert active().open_json(json.loads(notices[0][1]))["fields"] == ["mobile", "city"]

    with pytest.raises(SystemExit) as usage:
        main(["staff", "reject", "2026-00001"])  # --reason is required
    assert usage.value.code == 2
