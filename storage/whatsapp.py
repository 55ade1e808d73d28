"""WhatsApp tables: the webhook inbox, who a WhatsApp person is, and the messages we sent (for statuses).

- ``wa_inbox``: every message and status of a signed webhook POST, written before Meta gets its 200
  (Meta retries anything else for days). A worker handles the rows in order per person. The unique
  ``dedup_key`` (``m:<wamid>``, ``s:<wamid>:<status>``) makes a re-delivered webhook a no-op.
- ``wa_identity``: Meta's business-scoped user id (``user_id``, BSUID) and the phone number (``wa_id``)
  while it is visible. ``key`` is the contact's ``channel_user_id`` (chosen at first sight, never
  changed), so a person whose ``wa_id`` disappears keeps their contact, conversation and requests.
  ``last_inbound_at`` opens the 24-hour customer-service window. The phone number is sealed at rest and
  found through its blind index (``wa_id_index``); a person first seen by phone alone gets a pseudonymous
  ``key`` (``p:`` + the number's blind index), never the number itself; people keyed by their number by an
  older version are given one by ``keys reseal`` (``rekey_by_number``). The inbox's ``person`` is a blind
  index too (it only groups one person's rows).
- ``wa_sent``: each accepted message id (``wamid``) with its outbox row, so a later status webhook
  (delivered, read, failed with 131047…) reaches the row.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Index, event, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from storage.crypto import EncryptedJSON, EncryptedText, active
from storage.models import utc_column


class WaInbox(SQLModel, table=True):
    __tablename__ = "wa_inbox"
    __table_args__ = (Index("ix_wa_inbox_state_id", "state", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    dedup_key: str = Field(max_length=300, unique=True)
    kind: str = Field(max_length=10)  # message | status
    person: str = Field(max_length=200)  # blind index of user_id or wa_id: one person's rows in order
    payload: dict = Field(default_factory=dict, sa_column=Column(EncryptedJSON, nullable=False))
    state: str = Field(default="pending", max_length=10)  # pending | done
    received_at: datetime = Field(sa_column=utc_column())
    done_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class WaIdentity(SQLModel, table=True):
    __tablename__ = "wa_identity"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)  # contact.channel_user_id
    user_id: str | None = Field(default=None, max_length=200, unique=True)
    wa_id: str | None = Field(default=None, sa_column=Column(EncryptedText, nullable=True))  # sealed
    wa_id_index: str | None = Field(default=None, max_length=64, unique=True)
    last_inbound_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    updated_at: datetime = Field(sa_column=utc_column())


class WaSent(SQLModel, table=True):
    __tablename__ = "wa_sent"

    wamid: str = Field(max_length=200, primary_key=True)
    outbox_id: int | None = Field(default=None, index=True)
    contact_id: int = Field(index=True)
    template: bool = False
    status: str = Field(default="sent", max_length=10)
    error_code: str | None = Field(default=None, max_length=16)
    sent_at: datetime = Field(sa_column=utc_column())
    delivered_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    read_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


WA_ID_INDEX = "wa_id"
LEGACY_KEY = "wa_legacy_key"  # the pseudonym of a person an older version keyed by their number


@event.listens_for(WaIdentity, "before_insert")
@event.listens_for(WaIdentity, "before_update")
def _index_wa_id(_mapper, _connection, target: WaIdentity) -> None:  # type: ignore[no-untyped-def]
    target.wa_id_index = active().blind_index(WA_ID_INDEX, target.wa_id) if target.wa_id else None


def _by_wa_id(wa_id: str):  # type: ignore[no-untyped-def]
    return select(WaIdentity).where(WaIdentity.wa_id_index.in_(active().blind_indexes(WA_ID_INDEX, wa_id)))  # type: ignore[union-attr]


_INBOX = WaInbox.__table__  # type: ignore[attr-defined]
_SENT = WaSent.__table__  # type: ignore[attr-defined]


def _insert(session: AsyncSession, table: Any) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def record_inbox(session: AsyncSession, rows: list[dict], now: datetime) -> int:
    """Add webhook items (dicts with dedup_key, kind, person, payload); returns how many were new."""
    added = 0
    for row in rows:
        # Only groups one person's rows: an index, not the number or the user id.
        row = {**row, "person": active().blind_index("wa_person", str(row["person"]))}
        statement = (
            _insert(session, _INBOX)
            .values(state="pending", received_at=now, **row)
            .on_conflict_do_nothing(index_elements=["dedup_key"])
        )
        added += (await session.execute(statement)).rowcount
    return added


async def pending_inbox(session: AsyncSession, limit: int) -> list[WaInbox]:
    statement = select(WaInbox).where(WaInbox.state == "pending").order_by(WaInbox.id).limit(limit)
    return list((await session.execute(statement)).scalars())


async def inbox_done(session: AsyncSession, row_id: int, now: datetime) -> None:
    await session.execute(update(_INBOX).where(_INBOX.c.id == row_id).values(state="done", done_at=now))


async def identity_of(session: AsyncSession, *, key: str) -> WaIdentity | None:
    return (await session.execute(select(WaIdentity).where(WaIdentity.key == key))).scalar_one_or_none()


async def identities_of(session: AsyncSession, keys: list[str]) -> dict[str, WaIdentity]:
    found: dict[str, WaIdentity] = {}
    for start in range(0, len(keys), 500):
        statement = select(WaIdentity).where(WaIdentity.key.in_(keys[start : start + 500]))  # type: ignore[attr-defined]
        found.update({identity.key: identity for identity in (await session.execute(statement)).scalars()})
    return found


async def resolve_identity(
    session: AsyncSession,
    user_id: str | None,
    wa_id: str | None,
    now: datetime,
    *,
    inbound_at: datetime | None,
) -> WaIdentity:
    """The person behind (user_id, wa_id): found by user_id first, then by wa_id; created when new.
    A known person's missing user_id is filled in and their wa_id follows what Meta sends; a wa_id
    that disappears from the payload is kept (we may still address them by it)."""
    found = None
    if user_id:
        found = (
            await session.execute(select(WaIdentity).where(WaIdentity.user_id == user_id))
        ).scalar_one_or_none()
    if found is None and wa_id:
        by_phone = (await session.execute(_by_wa_id(wa_id))).scalar_one_or_none()
        if by_phone is not None and (by_phone.user_id is None or not user_id):
            found = by_phone
        elif by_phone is not None:
            # The number now belongs to another BSUID (a recycled number): the old person keeps no phone.
            by_phone.wa_id = None
            session.add(by_phone)
            await session.flush()
    if found is None:
        key = user_id or (f"p:{active().blind_index(WA_ID_INDEX, wa_id)}" if wa_id else None)
        if not key:
            raise ValueError("a WhatsApp contact without user_id or wa_id")
        found = WaIdentity(key=key, user_id=user_id, wa_id=wa_id, updated_at=now)
    else:
        if user_id and found.user_id is None:
            found.user_id = user_id
        if wa_id and found.wa_id != wa_id:
            other = (await session.execute(_by_wa_id(wa_id))).scalar_one_or_none()
            if other is not None and other.id != found.id:
                other.wa_id = None
                session.add(other)
                await session.flush()
            found.wa_id = wa_id
        found.updated_at = now
    if inbound_at is not None and (found.last_inbound_at is None or inbound_at > found.last_inbound_at):
        found.last_inbound_at = inbound_at
    session.add(found)
    await session.flush()
    return found


async def record_sent(
    session: AsyncSession, wamid: str, contact_id: int, outbox_id: int | None, template: bool, now: datetime
) -> None:
    statement = (
        _insert(session, _SENT)
        .values(
            wamid=wamid,
            contact_id=contact_id,
            outbox_id=outbox_id,
            template=template,
            status="sent",
            sent_at=now,
        )
        .on_conflict_do_nothing(index_elements=["wamid"])
    )
    await session.execute(statement)


async def sent_by_wamid(session: AsyncSession, wamid: str) -> WaSent | None:
    return (await session.execute(select(WaSent).where(WaSent.wamid == wamid))).scalar_one_or_none()


# ---- people an older version keyed by their phone number ------------------------------------------------


def _is_number(key: str) -> bool:
    return key.lstrip("+").isdigit()


async def keyed_by_number(session: AsyncSession) -> list[str]:
    """Keys (``wa_identity.key`` / ``contact.channel_user_id``) that are a phone number in clear: written
    before numbers were sealed (a person first seen by number alone). BSUIDs and pseudonyms are left out."""
    from storage.models import Contact

    found: set[str] = set()
    identities = select(WaIdentity.key, WaIdentity.user_id).where(~WaIdentity.key.startswith("p:"))  # type: ignore[attr-defined]
    for key, user_id in await session.execute(identities):
        if key != user_id and _is_number(key):
            found.add(key)
    contacts = select(Contact.channel_user_id).where(
        Contact.channel == "whatsapp",
        ~Contact.channel_user_id.startswith("p:"),  # type: ignore[attr-defined]
    )
    found.update(key for (key,) in await session.execute(contacts) if _is_number(key))
    return sorted(found)


async def rekey_by_number(
    session: AsyncSession, number: str, keyring: Any, now: datetime | None = None
) -> bool:
    """Give the person keyed by ``number`` a pseudonymous key, in their identity and their contact at once
    (under the contact's lock, so a message being handled for them finishes first). Their number stays
    known, sealed, to address them. Returns whether anything changed."""
    from storage.models import Contact
    from storage.repo import lock_contact

    new = f"p:{keyring.blind_index(LEGACY_KEY, number)}"
    await lock_contact(session, "whatsapp", number)
    identity = await identity_of(session, key=number)
    contacts = Contact.__table__  # type: ignore[attr-defined]
    moved = await session.execute(
        update(contacts)
        .where(contacts.c.channel == "whatsapp", contacts.c.channel_user_id == number)
        .values(channel_user_id=new)
    )
    if identity is None and moved.rowcount == 0:
        return False
    if identity is None:  # a contact without an identity row: its number was only in the key
        taken = (await session.execute(_by_wa_id(number))).scalar_one_or_none()
        identity = WaIdentity(key=new, wa_id=None if taken else number, updated_at=now or datetime.now(UTC))
    else:
        identity.key = new
    session.add(identity)
    await session.flush()
    return True
