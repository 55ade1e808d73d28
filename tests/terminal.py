"""Run a command with its standard error on a pseudo-terminal (as when a person runs it), its standard output
on a pipe: what a person would see as progress, and what a script would read, kept apart."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path


def run_on_terminal(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> tuple[int, str, str]:
    """``python -m bot *args`` -> (exit code, standard output, what the terminal showed on standard error).
    ``env``: the whole environment (default: this process's)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 24 rows, 100 columns
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=follower,
            env=os.environ.copy() if env is None else env,
        )
        os.close(follower)
        shown: list[bytes] = []
        reader = threading.Thread(target=_read_all, args=(leader, shown), daemon=True)
        reader.start()  # the terminal is read beside standard output, so neither can fill up and block
        out, _ = process.communicate(timeout=timeout)
        reader.join(timeout)
    finally:
        os.close(leader)
    return process.returncode, out.decode("utf-8"), b"".join(shown).decode("utf-8", "replace")


def _read_all(leader: int, into: list[bytes]) -> None:
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process is done with standard error
            return
        if not chunk:
            return
        into.append(chunk)
