"""Re-sealing every encrypted value with the current data key (``python -m bot keys rotate`` / ``reseal``).

Rows are rewritten in small batches, each in its own short transaction, and each UPDATE names the stored value
it read (``WHERE … AND CAST(col AS TEXT) = :old``): a row that the service changed meanwhile (a conversation
moving on) is left as the service wrote it — already sealed with the current key — so nothing is lost and the
service keeps running. Values written before encryption are sealed on the way, and WhatsApp people keyed by
their phone number get a pseudonymous key. Files are rewritten in place (a new file renamed over the old one).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import JSON, Text, bindparam, cast, column, func, select, table, update
from sqlalchemy.exc import IntegrityError

from storage.crypto import Keyring, sealed_key_id
from storage.db import Database
from storage.files import replace_atomically

# (table, primary key, column, "json" | "text")
SEALED_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("support_request", "id", "data", "json"),
    ("conversation", "contact_id", "state", "json"),
    ("audit_log", "id", "detail", "json"),
    ("attachment", "id", "name", "text"),
    ("request_status_change", "id", "note", "text"),
    ("survey", "id", "comment", "text"),
    ("web_message", "id", "body", "json"),
    ("outbox_message", "id", "payload", "json"),
    ("wa_inbox", "id", "payload", "json"),
    ("wa_identity", "id", "wa_id", "text"),
    ("staff_post", "id", "payload", "json"),
    ("form_submission", "id", "data", "json"),
    ("form_submission", "id", "outcome", "text"),
    ("form_submission", "id", "acted_by_name", "text"),
    ("form_submission_event", "id", "note", "text"),
    ("request_card", "id", "claimed_by_name", "text"),
    ("request_card", "id", "acted_by_name", "text"),
    ("faq_gap", "id", "key", "text"),
    ("rights_request", "id", "detail", "json"),
    ("rights_request", "id", "answer", "text"),
)
# Blind indexes to recompute with the current key: (table, sealed column) -> (index column, purpose, value
# from the plain value)
BLIND_INDEXES = {
    ("support_request", "data"): (
        "national_id_index",
        "national_id",
        lambda plain: (plain or {}).get("national_id"),
    ),
    ("wa_identity", "wa_id"): ("wa_id_index", "wa_id", lambda plain: plain),
    ("faq_gap", "key"): ("key_index", "faq_gap", lambda plain: plain),
}
_BATCH = 200


@dataclass
class RekeyReport:
    rewritten: Counter = field(default_factory=Counter)  # by table
    skipped: int = 0  # changed by the service meanwhile (so already sealed with the current key)
    files: int = 0
    by_key: Counter = field(default_factory=Counter)  # what a scan found: key id (or "plain") -> count


def _stored_key(kind: str, raw: str | None) -> str | None:
    if raw is None:
        return None
    value = json.loads(raw) if kind == "json" else raw
    return sealed_key_id(value) or "plain"


def _resealed(keyring: Keyring, kind: str, raw: str) -> tuple[str, object]:
    """The new stored value (as bound to the column) and the plain value."""
    if kind == "json":
        plain = keyring.open_json(json.loads(raw))
        return json.dumps(keyring.seal_json(plain)), plain
    plain = keyring.open_text(raw)
    return keyring.seal_text(plain), plain


async def reseal_database(
    db: Database,
    keyring: Keyring,
    *,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> RekeyReport:
    """Rewrite every sealed value not sealed with the current key; with ``dry_run`` only count them.
    ``progress(done, total)`` follows the rows looked at."""
    report = RekeyReport()
    total = await _sealed_rows(db) if progress is not None else 0
    done = 0
    for name, key, col, kind in SEALED_COLUMNS:
        last = None
        while True:
            tbl = table(name, column(key), column(col))
            statement = select(tbl.c[key], cast(tbl.c[col], Text)).order_by(tbl.c[key]).limit(_BATCH)
            if last is not None:
                statement = statement.where(tbl.c[key] > last)
            async with db.transaction() as session:
                rows = list(await session.execute(statement))
                if not rows:
                    break
                last = rows[-1][0]
                done += len(rows)
                if progress is not None:
                    progress(min(done, total), total)
                for pk, raw in rows:
                    stored = _stored_key(kind, raw)
                    if stored is None:
                        continue
                    report.by_key[stored] += 1
                    if stored == keyring.current or dry_run:
                        continue
                    new, plain = _resealed(keyring, kind, raw)
                    new_value = bindparam("new", type_=Text)
                    if db.is_postgres and kind == "json":
                        new_value = cast(new_value, JSON)
                    values: dict = {col: new_value}
                    target = table(name, column(key), column(col))
                    if (name, col) in BLIND_INDEXES:
                        index_column, purpose, pick = BLIND_INDEXES[name, col]
                        target.append_column(column(index_column))
                        value = pick(plain) if isinstance(plain, dict | str) else None
                        values[index_column] = keyring.blind_index(purpose, str(value)) if value else None
                    change = (
                        update(target)
                        .where(target.c[key] == pk, cast(target.c[col], Text) == bindparam("old", type_=Text))
                        .values(**values)
                    )
                    result = await session.execute(change, {"new": new, "old": raw})
                    if result.rowcount == 1:
                        report.rewritten[name] += 1
                    else:
                        report.skipped += 1
    if progress is not None:
        progress(total, total)
    await _whatsapp_numbers(db, keyring, report, dry_run=dry_run)
    return report


async def _sealed_rows(db: Database) -> int:
    """How many rows reseal_database will look at (for its progress bar)."""
    total = 0
    async with db.transaction() as session:
        for name, key, _col, _kind in SEALED_COLUMNS:
            tbl = table(name, column(key))
            total += (await session.execute(select(func.count()).select_from(tbl))).scalar_one()
    return total


async def _whatsapp_numbers(db: Database, keyring: Keyring, report: RekeyReport, *, dry_run: bool) -> None:
    """WhatsApp people first seen by their number before it was sealed are keyed by the number itself
    (``wa_identity.key`` = ``contact.channel_user_id``): give each a pseudonym (storage/whatsapp.py
    ``rekey_by_number``). A scan counts them as ``whatsapp-number-key``."""
    from storage.whatsapp import keyed_by_number, rekey_by_number

    async with db.transaction() as session:
        keys = await keyed_by_number(session)
    for key in keys:
        report.by_key["whatsapp-number-key"] += 1
        if dry_run:
            continue
        try:
            async with db.transaction() as session:
                changed = await rekey_by_number(session, key, keyring)
        except IntegrityError:  # a second contact made under the number meanwhile: left for staff to merge
            changed = False
        if changed:
            report.rewritten["contact"] += 1
        else:
            report.skipped += 1


def _files(root: Path) -> Iterator[Path]:
    if root.exists():
        for path in sorted(root.iterdir()):
            if path.is_file() and not path.name.startswith("."):
                yield path


def reseal_files(root: Path, keyring: Keyring, *, dry_run: bool = False) -> RekeyReport:
    report = RekeyReport()
    for path in _files(root):
        data = path.read_bytes()
        kid = Keyring.file_key_id(data) or "plain"
        report.by_key[f"file:{kid}"] += 1
        if kid == keyring.current or dry_run:
            continue
        replace_atomically(path, keyring.seal_file(keyring.open_file(data)))
        report.files += 1
    return report
