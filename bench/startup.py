"""Start-up cost of `python -m bot chat`: time to the first prompt and memory (RSS) at that moment, then the
time and memory after the first question (which builds the FAQ index).

.venv/bin/python bench/startup.py                 # 3 warm runs (after one run to fill the OS file cache)
.venv/bin/python bench/startup.py --lexical       # without the sentence model (BOT_FAQ_EMBEDDINGS=0)

Runs in a temporary data directory with SQLite; prints the median of the runs.
"""

from __future__ import annotations

import os
import selectors
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROMPT = b"> "


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _read_until_prompt(process: subprocess.Popen, timeout: float = 120.0) -> bytes:
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    seen = b""
    deadline = time.monotonic() + timeout
    while not seen.endswith(PROMPT):
        if time.monotonic() > deadline or not selector.select(timeout=deadline - time.monotonic()):
            raise SystemExit("no prompt from python -m bot chat")
        chunk = os.read(process.stdout.fileno(), 65536)
        if not chunk:
            raise SystemExit("python -m bot chat ended before its prompt")
        seen += chunk
    return seen


def one_run(data: Path, embeddings: bool = True) -> dict[str, float]:
    env = {**os.environ, "BOT_DATA_DIR": str(data), "BOT_DATABASE_URL": f"sqlite+aiosqlite:///{data}/bot.db"}
    env["BOT_FAQ_EMBEDDINGS"] = "1" if embeddings else "0"
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "chat", "--lang", "ar"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        _read_until_prompt(process)
        first_prompt = time.perf_counter() - started
        rss_ready = _rss_mb(process.pid)
        asked = time.perf_counter()
        process.stdin.write("متى يطلع الرد على طلبي؟\n".encode())
        process.stdin.flush()
        _read_until_prompt(process)
        first_answer = time.perf_counter() - asked
        rss_answered = _rss_mb(process.pid)
        process.stdin.write("كيف اقدم طلب دعم\n".encode())
        process.stdin.flush()
        _read_until_prompt(process)
        second_answer = time.perf_counter() - asked - first_answer
        return {
            "first_prompt_s": first_prompt,
            "rss_ready_mb": rss_ready,
            "first_answer_s": first_answer,
            "rss_after_first_answer_mb": rss_answered,
            "second_answer_s": second_answer,
        }
    finally:
        process.stdin.close()
        process.wait(timeout=60)


def main() -> None:
    embeddings = "--lexical" not in sys.argv[1:]
    print(
        f"FAQ ranker: {'with the sentence model (the default)' if embeddings else 'lexical (BOT_FAQ_EMBEDDINGS=0)'}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        one_run(
            data, embeddings
        )  # fills the OS file cache (and the embedding cache file): the runs below are warm
        runs = [one_run(data, embeddings) for _ in range(3)]
    for key in runs[0]:
        values = [run[key] for run in runs]
        unit = "MB" if key.endswith("_mb") else "s"
        print(
            f"{key:28s} median {statistics.median(values):7.2f} {unit}  (runs: {', '.join(f'{v:.2f}' for v in values)})"
        )
    print(f"load average {os.getloadavg()[0]:.1f} (2 cores shared)")


if __name__ == "__main__":
    main()
