"""The outbox: every notification is a row, sent later by a worker that survives crashes and restarts.

A caller enqueues inside its own transaction (a decision and its notice commit together). A worker claims
due rows (on PostgreSQL with ``FOR UPDATE SKIP LOCKED``, so several workers never claim the same row),
marks them ``sending`` with a lease, sends them through the channel's sender within the channel's rate
limits, and marks each row as soon as the platform has answered. A worker that dies leaves its rows
``sending``; when the lease runs out another worker (or the restarted one) claims them again. So no row is
lost, and a row is sent twice only when the process died between the platform accepting it and the row
being marked. See docs/outbox.md.

The outbox is split by responsibility; importers keep using ``from storage.outbox import …``:
- storage/outbox_rows.py — the table, ``enqueue``, counting, the newest notice sent to a contact;
- storage/outbox_claims.py — claiming due rows and finishing them while the claim is still ours;
- storage/outbox_worker.py — the worker: batches, one contact's rows in order, retries, backoff, alerts;
- storage/sending.py — what a send reports back and the channels' rate limits.
"""

from __future__ import annotations

from storage.outbox_claims import claim, next_due
from storage.outbox_rows import (
    OutboxMessage,
    OutboxState,
    count_by_state,
    enqueue,
    latest_sent_notice,
)
from storage.outbox_worker import Alert, OutboxWorker, Render, result_delivered
from storage.sending import (
    TELEGRAM_LIMITS,
    WHATSAPP_LIMITS,
    Blocked,
    ChannelLimits,
    Clock,
    Permanent,
    RateLimiter,
    RetryAfter,
    Sender,
    SendResult,
    Sent,
    Transient,
)

__all__ = [
    "TELEGRAM_LIMITS",
    "WHATSAPP_LIMITS",
    "Alert",
    "Blocked",
    "ChannelLimits",
    "Clock",
    "OutboxMessage",
    "OutboxState",
    "OutboxWorker",
    "Permanent",
    "RateLimiter",
    "Render",
    "RetryAfter",
    "SendResult",
    "Sender",
    "Sent",
    "Transient",
    "claim",
    "count_by_state",
    "enqueue",
    "latest_sent_notice",
    "next_due",
    "result_delivered",
]
