"""Who may act at the staff desk, and the signed callback data on its buttons.

Only configured admins and members of the staff chat (asked of Telegram, remembered briefly) may press the
desk's buttons or use its commands; anything else is refused and audited. Callback data carries an HMAC keyed
by the bot token, so a forged or edited button does nothing. Each update is acted on once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging

from telegram import (
    Message,
    Update,
    User,
)
from telegram.constants import ChatMemberStatus, ChatType
from telegram.ext import CallbackQueryHandler

from storage import repo

log = logging.getLogger(__name__)

STAFF_CHANNEL = "telegram-staff"  # processed_message channel for staff-chat updates
CALLBACK_PREFIX = "s:"
_SIGNATURE_CHARS = 11  # base64url of HMAC-SHA256, cut: 66 bits, and callback_data stays short


class AccessMixin:
    """Membership and admin checks, callback signatures, at-most-once updates (a part of StaffDesk)."""

    def callback_data(self, action: str, request_id: int) -> str:
        body = f"{action}:{request_id}"
        return f"{CALLBACK_PREFIX}{body}:{self._sign(body)}"

    def parse_callback_data(self, data: object) -> tuple[str, int] | None:
        """(action, request id) from callback data this desk signed; None for anything else."""
        if not isinstance(data, str) or not data.startswith(CALLBACK_PREFIX) or len(data.encode()) > 64:
            return None
        parts = data[len(CALLBACK_PREFIX) :].split(":")
        if len(parts) != 3 or not all(part.isascii() for part in parts) or not parts[1].isdigit():
            return None
        action, request_id, signature = parts
        if action not in self.actions or not hmac.compare_digest(
            signature, self._sign(f"{action}:{request_id}")
        ):
            return None
        return action, int(request_id)

    def _sign(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode()[:_SIGNATURE_CHARS]

    async def is_staff(self, user: User | None) -> bool:
        """A configured admin, or a member of the staff chat (asked of Telegram, remembered briefly)."""
        if user is None or user.is_bot:
            return False
        if user.id in self.admin_ids:
            return True
        now = self._monotonic()
        cached = self._members.get(user.id)
        if cached is not None and cached[1] > now:
            return cached[0]
        delivery, member = await self.channel.call(
            lambda: self.channel.bot.get_chat_member(chat_id=self.chat_id, user_id=user.id)
        )
        if member is None:
            return False  # not remembered: Telegram may answer next time
        status = member.status
        allowed = status in (
            ChatMemberStatus.OWNER,
            ChatMemberStatus.ADMINISTRATOR,
            ChatMemberStatus.MEMBER,
        ) or (status == ChatMemberStatus.RESTRICTED and bool(getattr(member, "is_member", False)))
        self._members[user.id] = (allowed, now + self.member_cache_seconds)
        return allowed

    async def _sender_allowed(self, message: Message) -> bool:
        # An anonymous group admin writes as the group itself.
        if message.sender_chat is not None:
            return message.sender_chat.id == self.chat_id
        return await self.is_staff(message.from_user)

    async def _refuse(self, user: User | None, kind: str, reason: str) -> None:
        actor = f"telegram:{user.id}" if user is not None else "telegram:unknown"
        async with self.service.db.transaction() as session:
            await repo.audit(
                session, actor, "staff.refused", "staff-chat", self._now(), kind=kind, reason=reason
            )

    async def _first_time(self, update: Update) -> bool:
        """Telegram delivers at least once: act on each update id once."""
        async with self.service.db.transaction() as session:
            return await repo.mark_processed(session, STAFF_CHANNEL, f"tg:{update.update_id}", self._now())


class _GroupCallbackQueryHandler(CallbackQueryHandler):
    """Button presses outside private chats: the desk's (private ones belong to TelegramChannel)."""

    def check_update(self, update: object) -> bool | object | None:
        if not isinstance(update, Update) or update.callback_query is None:
            return None
        chat = update.effective_chat
        if chat is not None and chat.type == ChatType.PRIVATE:
            return None
        return super().check_update(update)
