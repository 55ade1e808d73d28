"""Issue 13: `python -m bot ask --json [--batch FILE|-]` as editors use it, run as a real process."""

from __future__ import annotations

import json
from pathlib import Path

from tests.terminal import run_on_terminal
from tests.test_cli import cli_environment
from tests.test_cli import run as run_cli

ROOT = Path(__file__).resolve().parent.parent


def run(args, tmp_path, stdin=""):  # type: ignore[no-untyped-def]
    # The subprocess runs from tmp_path: import this checkout's code, not an installed copy.
    return run_cli(args, tmp_path, stdin=stdin, PYTHONPATH=str(ROOT))


QUESTIONS = [
    "متى يطلع الرد على طلبي",
    "When will I hear back about my request?",
    "طريقة عمل الكبسة",
    "الاوراق",
    "",
    "وش نتيجة مباراة الهلال امس",
]


def test_one_question_as_json_has_a_status_and_matched_only_when_answered(tmp_path):
    result = run(["ask", "--json", "متى يطلع الرد على طلبي"], tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "confident" and data["matched"] is True
    assert data["entry"] == "committee-timeline"


def test_a_thousand_questions_in_one_process_one_json_line_each(tmp_path):
    lines = [QUESTIONS[n % len(QUESTIONS)] for n in range(1000)]
    (tmp_path / "questions.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run(["ask", "--json", "--batch", str(tmp_path / "questions.txt")], tmp_path)
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == 1000
    assert [item["question"] for item in out] == lines
    for item in out:
        assert item["status"] in ("confident", "likely", "unsure", "none")
        assert item["matched"] == (item["status"] in ("confident", "likely"))
        assert (item["entry"] is not None) == item["matched"]
    assert out[0]["entry"] == "committee-timeline" and out[0]["matched"]
    assert out[2]["matched"] is False  # a recipe
    assert out[4]["status"] == "none"  # a blank line keeps its place


def test_batch_reads_standard_input(tmp_path):
    result = run(
        ["ask", "--json", "--batch", "-"], tmp_path, stdin="متى يطلع الرد على طلبي\nطريقة عمل الكبسة\n"
    )
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [item["matched"] for item in out] == [True, False]


def test_a_missing_batch_file_or_no_question_is_one_clear_error(tmp_path):
    result = run(["ask", "--batch", str(tmp_path / "nope.txt")], tmp_path)
    assert result.returncode == 2 and "cannot read" in result.stderr and "Traceback" not in result.stderr
    result = run(["ask"], tmp_path)
    assert result.returncode == 2 and "--batch" in result.stderr


def test_batch_as_text_prints_each_question_and_its_answer(tmp_path):
    result = run(["ask", "--batch", "-"], tmp_path, stdin="متى يطلع الرد على طلبي\n")
    assert result.returncode == 0, result.stderr
    assert "? متى يطلع الرد على طلبي" in result.stdout
    assert "لا تقل عن أسبوعين" in result.stdout


def test_a_batch_at_a_terminal_shows_its_progress_on_standard_error_only(tmp_path):
    lines = [QUESTIONS[n % len(QUESTIONS)] for n in range(200)]
    (tmp_path / "questions.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out, shown = run_on_terminal(
        ["ask", "--json", "--batch", str(tmp_path / "questions.txt")], tmp_path, env=cli_environment(tmp_path)
    )
    assert code == 0, shown
    assert "questions:" in shown and "/200" in shown  # the bar counts the questions
    assert len([json.loads(line) for line in out.splitlines()]) == 200  # standard output is only the answers
