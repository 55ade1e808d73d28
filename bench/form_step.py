"""The pure conversation step (flows.engine.step, no database): a whole support request, from /start to the
declaration, repeated; prints the steps per second and the median microseconds per step. It shows what the
split of the engine by journey and the generic form runner cost on the per-message path.

.venv/bin/python bench/form_step.py                      # this checkout
.venv/bin/python bench/form_step.py --root /work/main    # another checkout, for a before/after figure
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ANSWERS = ["فاطمة محمد العتيبي", "١٠٠٠٠٠٠٠٠٨", "٠٥٠١٢٣٤٥٦٧", "الرياض", "٥", "٣", "٢٥٠٠"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    sys.path.insert(0, str(args.root))

    from flows import engine
    from flows.form import load_form
    from flows.messages import Attachment, AttachmentKind, ContactKey, Inbound

    form = load_form(args.root / "content" / "forms" / "support_request.yaml")
    now = datetime(2026, 11, 30, 9, tzinfo=UTC)
    ctx = engine.Context(now=now, form=form, requests=(), consented=True)
    key = ContactKey("bench", "1")
    photo = Attachment(AttachmentKind.PHOTO, "file:/tmp/id.jpg", "image/jpeg", 50_000, "id.jpg", "a" * 64)
    pdf = Attachment(AttachmentKind.DOCUMENT, "file:/tmp/p.pdf", "application/pdf", 90_000, "p.pdf", "b" * 64)
    script: list[dict] = [{"text": "/start"}, {"option": "menu.apply"}]
    script += [{"text": answer} for answer in ANSWERS]
    script += [{"option": "c.food"}, {"text": "نحتاج سلة غذائية شهرية للأسرة"}]
    script += [{"attachments": (photo,)}, {"attachments": (pdf,)}]
    script += [{"option": "summary.send"}, {"option": "declaration.confirm"}]

    timings: list[float] = []
    for _ in range(args.rounds):
        state = engine.State()
        for number, message in enumerate(script):
            inbound = Inbound(contact=key, message_id=str(number), **message)
            started = time.perf_counter()
            result = engine.step(state, inbound, ctx)
            timings.append(time.perf_counter() - started)
            state = result.state
        assert any(type(e).__name__ == "RequestSubmitted" for e in result.events), "the form did not finish"
    total = sum(timings)
    print(f"root: {args.root}")
    print(f"steps: {len(timings)} ({len(script)} per request x {args.rounds})")
    print(f"steps per second: {len(timings) / total:,.0f}")
    print(
        f"median per step: {statistics.median(timings) * 1e6:.1f} µs; p95: {statistics.quantiles(timings, n=20)[-1] * 1e6:.1f} µs"
    )


if __name__ == "__main__":
    main()
