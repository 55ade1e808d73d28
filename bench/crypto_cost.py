"""What sealing costs per message: seal + open of a typical conversation state (a half-filled form), and the
blind index of a national ID. Prints microseconds per operation.

    .venv/bin/python bench/crypto_cost.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage.crypto import Keyring, new_key  # noqa: E402

STATE = {
    "lang": "ar",
    "mode": "form",
    "step": "description",
    "draft": {
        "full_name": "فاطمة محمد العتيبي",
        "national_id": "1000000008",
        "mobile": "+966501234567",
        "city": "الرياض",
        "family_members": 5,
        "children": 3,
        "monthly_income": 2500,
        "support_type": "food",
    },
    "draft_started": "2026-11-25T09:00:00+00:00",
    "offered": [["c.food", "سلة غذائية"], ["c.rent", "إيجار"]],
    "last_at": "2026-11-25T09:05:00+00:00",
}


def per_op(label: str, func, rounds: int = 20_000) -> None:  # type: ignore[no-untyped-def]
    func()
    start = time.perf_counter()
    for _ in range(rounds):
        func()
    print(f"{label:40s} {(time.perf_counter() - start) / rounds * 1e6:8.1f} µs")


def main() -> None:
    keyring = Keyring.of([new_key()])
    sealed = keyring.seal_json(STATE)
    per_op("json.dumps + loads (no encryption)", lambda: json.loads(json.dumps(STATE)))
    per_op("seal_json (state)", lambda: keyring.seal_json(STATE))
    per_op("open_json (state)", lambda: keyring.open_json(sealed))
    per_op("blind_index (national ID)", lambda: keyring.blind_index("national_id", "1000000008"))
    photo = bytes(300_000)
    per_op("seal_file (300 kB photo)", lambda: keyring.seal_file(photo), rounds=500)
    print(
        f"sealed state: {len(sealed)} bytes for {len(json.dumps(STATE, ensure_ascii=False).encode())} bytes of JSON"
    )


if __name__ == "__main__":
    main()
