"""The phone number for late updates: asking for it after a report, and the resident's answers.

Zalo lets the city message a resident for 7 days after their last message; reports take longer, so the
final answer often needs a ZNS template message, which goes to a phone number the resident agreed to
share. After a report is created the bot asks once (:func:`ask`): a text, and the channel's own form
(Zalo's request-user-info card, reply data ``request_user_info``). The answers (:func:`answer`):

- the form comes back (``Incoming.kind == "shared_info"``) with a phone, or without one;
- the resident types a number ("0912 345 678", "SĐT: +84 912.345.678"; accent/space tolerant);
- "không" right after the question: declined, not asked again;
- "xóa số điện thoại" at any time: the number is forgotten and not asked for again.

The conversation remembers that the question is open in ``draft["phone_asked"]`` while idle.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from backend.models.conversations import Conversation
from backend.services.chat import intents as d
from backend.services.chat import texts as msg
from backend.services.chat.intents import Incoming, Reply
from backend.services.residents import phones

ASKED = "phone_asked"


def ask(session: Session, *, incoming: Incoming, conv: Conversation) -> Reply | None:
    """The question after a new report, unless the resident shared a number or declined before."""
    if not phones.should_ask(session, provider=incoming.channel, subject=incoming.user_id):
        return None
    conv.draft = {ASKED: True}
    return Reply(msg.ASK_PHONE, data={"request_user_info": True})


def answer(session: Session, *, incoming: Incoming, conv: Conversation, idle: bool,
           now: datetime) -> Reply | None:
    """The reply when ``incoming`` is about the phone number, else None (the dialogue goes on)."""
    if incoming.kind == "shared_info":
        phone = phones.normalize(incoming.phone)
        if phone is None:
            return Reply(msg.PHONE_MISSING)
        return _saved(session, incoming, conv, phone, now)
    if incoming.kind != "text":
        return None
    if d.is_withdraw_phone(incoming.text):
        phones.decline(session, provider=incoming.channel, subject=incoming.user_id, at=now)
        _close(conv)
        return Reply(msg.PHONE_REMOVED)
    if not idle:
        return None  # while a report is being written, digits are an address or a description
    phone = phones.parse(incoming.text)
    if phone is not None:
        return _saved(session, incoming, conv, phone, now)
    if conv.draft.get(ASKED) and d.is_skip(incoming.text):
        phones.decline(session, provider=incoming.channel, subject=incoming.user_id, at=now)
        _close(conv)
        return Reply(msg.PHONE_DECLINED)
    _close(conv)
    return None


def _saved(session: Session, incoming: Incoming, conv: Conversation, phone: str, now: datetime) -> Reply:
    phones.share(session, provider=incoming.channel, subject=incoming.user_id, phone=phone, at=now)
    _close(conv)
    return Reply(msg.phone_saved(phones.masked(phone)), data={"action": "phone_saved"})


def _close(conv: Conversation) -> None:
    if conv.draft.get(ASKED):
        conv.draft = {k: v for k, v in conv.draft.items() if k != ASKED}
