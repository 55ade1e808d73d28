"""The data key: loading it at start, and ``python -m bot keys status|rotate|reseal|retire``.

Rotation without downtime, key file (no BOT_DATA_KEY):
  ``keys rotate`` writes a new current key into the key file (the old one stays, so it still opens what it
  sealed; running processes notice the file within seconds and seal with the new key), re-seals every row and
  file, and prints what is left under old keys. ``keys retire`` drops old keys once nothing uses them.
With BOT_DATA_KEY: put the new key first and the old one after it (``new,old``), restart the workers one by one,
run ``keys reseal``, then remove the old key from BOT_DATA_KEY and restart again.
"""

from __future__ import annotations

import argparse
from typing import Any

from bot.settings import Settings, SettingsError
from storage.crypto import (
    DataKeyError,
    Keyring,
    install,
    key_id,
    load_keyring,
    new_key,
    read_key_file,
    write_key_file,
)


def install_from(settings: Settings, *, warn: bool = False) -> Keyring:
    """The process's keyring, from BOT_DATA_KEY or the key file under the data folder (created when missing);
    ``warn`` at the service's start-up when the key lives beside the data."""
    try:
        return install(load_keyring(settings.data_dir, settings.data_key, warn=warn))
    except DataKeyError as exc:  # a clear message on the command line, never a traceback (nor the key)
        raise SettingsError(f"the data key: {exc}") from None


def add_key_commands(commands: Any) -> None:
    keys = commands.add_parser("keys", help="the data key: status, rotate, reseal, retire")
    sub = keys.add_subparsers(dest="keys_command", metavar="SUBCOMMAND", required=True)
    sub.add_parser("status", help="how many stored values each key sealed (no data shown)")
    sub.add_parser("rotate", help="a new data key (key file), then re-seal everything with it")
    sub.add_parser("reseal", help="re-seal everything with the current key (after changing BOT_DATA_KEY)")
    sub.add_parser("retire", help="drop old keys from the key file once nothing is sealed with them")


def _print_counts(report: Any, keyring: Keyring) -> None:
    for kid, count in sorted(report.by_key.items()):
        mark = " (current)" if kid.removeprefix("file:") == keyring.current else ""
        print(f"  {kid}: {count}{mark}")


async def run_keys_command(settings: Settings, args: argparse.Namespace) -> int:
    from bot.progress import terminal_progress
    from storage.db import Database
    from storage.migrate import upgrade_async
    from storage.rekey import reseal_database, reseal_files

    keyring = install_from(settings)
    command = args.keys_command
    if command == "rotate":
        if keyring.source is None:
            print(
                "BOT_DATA_KEY is set: put the new key first in it (new,old), restart the workers, "
                "then run `python -m bot keys reseal`"
            )
            return 2
        fresh = new_key()
        keys = {key_id(fresh): fresh, **keyring.keys}
        write_key_file(keyring.source, keys, key_id(fresh))
        keyring = install(read_key_file(keyring.source))
        print(f"new current key {keyring.current}; old keys stay readable until `keys retire`")
        command = "reseal"
    await upgrade_async(settings.database_url)
    db = Database(settings.database_url)
    try:
        dry_run = command in ("status", "retire")
        bar = terminal_progress("re-seal" if command == "reseal" else "count", "row")
        report = await reseal_database(db, keyring, dry_run=dry_run, progress=bar)
        files = reseal_files(settings.files_dir, keyring, dry_run=dry_run)
        if command == "reseal":
            # A second pass counts what is left (rows the service changed meanwhile are already current).
            after = await reseal_database(db, keyring, dry_run=True)
            after_files = reseal_files(settings.files_dir, keyring, dry_run=True)
            print(f"re-sealed {sum(report.rewritten.values())} values and {files.files} files")
            after.by_key.update(after_files.by_key)
            print("stored values by key:")
            _print_counts(after, keyring)
            return 0
        report.by_key.update(files.by_key)
        if command == "status":
            print(f"current key {keyring.current}; keys: {', '.join(sorted(keyring.keys))}")
            print("stored values by key:")
            _print_counts(report, keyring)
            return 0
        # retire
        used = {kid.removeprefix("file:") for kid in report.by_key}
        if keyring.source is None:
            print(
                "BOT_DATA_KEY is set: remove old keys from it yourself once `keys status` shows none in use"
            )
            return 2
        still = sorted(kid for kid in keyring.keys if kid != keyring.current and kid in used)
        if still:
            print(f"not retired: values are still sealed with {', '.join(still)}; run `keys reseal` first")
            return 1
        dropped = sorted(kid for kid in keyring.keys if kid != keyring.current)
        write_key_file(keyring.source, {keyring.current: keyring.keys[keyring.current]}, keyring.current)
        print(f"retired {len(dropped)} old key(s); current key {keyring.current}")
        return 0
    finally:
        await db.dispose()
