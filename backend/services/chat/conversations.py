"""The chat dialogue, channel-agnostic: from a resident's messages to a report, a status, a comment.

:func:`handle` takes one parsed :class:`~backend.services.chat.intents.Incoming` message and returns the
:class:`~backend.services.chat.intents.Reply` list to send; the channel (``bots/zalo``) only parses and
renders. State lives in ``conversations`` (one row per channel user, locked while a message is
handled, so two workers never interleave one resident's messages): ``draft`` holds what the
report has so far and ``expires_at`` ends a draft after 30 minutes of silence.

The dialogue (DESIGN §8): a photo, a shared location or a text like "phản ánh" starts a draft;
photos (several) and the location arrive in any order; the bot asks only for what is missing —
location (a typed address is kept as text → IOC triage), category (numbered list, the one
suggested from the description's keywords first), an optional description ("bỏ qua") — then
summarises and asks to confirm ("có"/"ok"/"đồng ý"); "hủy" cancels at any time. Outside a draft:
"tra cứu PA-…" (or just the code), "của tôi", a message naming one of the resident's open reports
(→ resident comment), and a short help message for anything else. Emergency categories get the
hotline instead of a report. Side effects: residents, photos (pending, fetched by a worker), the
report (``intake.create_report``) and comments (``workflow.apply``), all flushed, never committed.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from backend.errors import DomainError, InvalidInput
from backend.models.base import utcnow
from backend.models.conversations import Conversation
from backend.services.chat import consent
from backend.services.chat import intents as d
from backend.services.chat import lookups as q
from backend.services.chat import texts as msg
from backend.services.chat.intents import Incoming, Reply
from backend.services.city import routing
from backend.services.city import settings as city_settings
from backend.services.events import Actor
from backend.services.photos import pipeline as photos
from backend.services.reports import intake
from backend.services.residents import residents
from backend.text import fold

log = logging.getLogger(__name__)

DRAFT_TTL = timedelta(minutes=30)
MAX_PHOTOS = 10
LOCATION_ERRORS = frozenset({"outside-city", "invalid-location", "location-required"})
IDLE, COLLECTING = "idle", "collecting"


def handle(session: Session, *, incoming: Incoming, now: datetime | None = None) -> list[Reply]:
    """Advance ``incoming.user_id``'s conversation by one message; returns the replies (never empty).

    Creates the resident on first contact and stamps ``last_interaction_at`` with the moment the resident
    acted (the channel's message windows count from it, however late the message was delivered).
    """
    now = now or utcnow()
    resident = residents.resident_for_identity(session, provider=incoming.channel, subject=incoming.user_id,
                                               at=incoming.at)
    conv = _conversation(session, incoming.channel, incoming.user_id, resident.id)
    turn = _Turn(session, conv, incoming, resident.id, now)
    replies = turn.run()
    conv.last_inbound_at = now
    conv.updated_at = now
    conv.expires_at = now + DRAFT_TTL if conv.state == COLLECTING else None
    session.add(conv)
    session.flush()
    return replies or [Reply(msg.HELP)]


def _conversation(session: Session, channel: str, user_id: str, resident_id: int | None) -> Conversation:
    """The user's conversation row, created if needed, locked for this transaction (PostgreSQL)."""
    stmt = select(Conversation).where(Conversation.channel == channel, Conversation.external_user_id == user_id)
    if session.get_bind().dialect.name != "sqlite":
        stmt = stmt.with_for_update()
    conv = session.exec(stmt).first()
    if conv is None:
        try:
            with session.begin_nested():
                session.add(Conversation(channel=channel, external_user_id=user_id, resident_id=resident_id))
        except IntegrityError:
            log.info("conversation %s:%s created concurrently", channel, user_id)
        conv = session.exec(stmt).one()
    if conv.resident_id is None:
        conv.resident_id = resident_id
    return conv


class _Turn:
    """One message handled against one conversation."""

    def __init__(self, session: Session, conv: Conversation, incoming: Incoming, resident_id: int | None,
                 now: datetime) -> None:
        self.session, self.conv, self.msg, self.resident_id, self.now = session, conv, incoming, resident_id, now
        self.out: list[Reply] = []
        self.prefix: list[str] = []

    # ------------------------------------------------------------------ entry

    def run(self) -> list[Reply]:
        if self.conv.state == COLLECTING and self.conv.expires_at and self.conv.expires_at <= self.now:
            self._clear()
            self.prefix.append(msg.EXPIRED)
        about_phone = consent.answer(self.session, incoming=self.msg, conv=self.conv,
                                     idle=self.conv.state != COLLECTING, now=self.now)
        if about_phone is not None:
            self.out.append(about_phone)
            if self.conv.state == COLLECTING:
                self.say(self._question())
            return self._flush()
        if self._command():
            return self._flush()
        if self.conv.state == COLLECTING:
            self._in_draft()
        else:
            self._idle()
        return self._flush()

    def _flush(self) -> list[Reply]:
        if self.prefix:
            if self.out:
                self.out[0] = Reply("\n\n".join([*self.prefix, self.out[0].text]), self.out[0].data)
            else:
                self.out.append(Reply("\n\n".join(self.prefix)))
        return self.out

    def say(self, text: str, **data: Any) -> None:
        self.out.append(Reply(text, data=data))

    @property
    def draft(self) -> dict[str, Any]:
        return self.conv.draft

    def _save(self, draft: dict[str, Any]) -> None:
        self.conv.draft = dict(draft)  # a new object: JSON columns track assignment, not mutation
        self.conv.state = COLLECTING

    def _clear(self) -> None:
        self.conv.draft = {}
        self.conv.state = IDLE

    # ------------------------------------------------------------------ commands valid anywhere

    def _command(self) -> bool:
        if self.msg.kind != "text":
            return False
        text = self.msg.text
        if d.is_cancel(text):
            if self.conv.state == COLLECTING:
                self._clear()
                self.say(msg.CANCELLED, action="cancelled")
            else:
                self.say(msg.NOTHING_TO_CANCEL)
            return True
        is_lookup, code = d.lookup_request(text)
        if is_lookup:
            self._lookup(code)
            return True
        if d.is_mine(text):
            self._mine()
            return True
        if d.is_help(text) and self.conv.state != COLLECTING:
            self.say(msg.HELP)
            return True
        return False

    def _lookup(self, code: str | None) -> None:
        if not code:
            self.say(msg.LOOKUP_NEEDS_CODE)
            return
        text, found = q.status_text(self.session, code)
        self.say(text, **({"report_code": found} if found else {}))
        if self.conv.state == COLLECTING:
            self.say(self._question())

    def _mine(self) -> None:
        self.say(msg.my_reports(q.open_reports(self.session, self.resident_id)))
        if self.conv.state == COLLECTING:
            self.say(self._question())

    # ------------------------------------------------------------------ idle

    def _idle(self) -> None:
        kind = self.msg.kind
        if kind == "follow":
            self.say(msg.WELCOME)
        elif kind in ("image", "location"):
            self._save({"photo_ids": []})
            self._in_draft()
        elif kind == "text":
            rest = d.start_remainder(self.msg.text)
            if rest is not None:
                self._save({"photo_ids": [], "description": rest or None})
                self._ask(prefix=msg.STARTED)
            else:
                self._comment_or_help()
        else:
            self.say(msg.UNSUPPORTED + "\n\n" + msg.HELP)

    def _comment_or_help(self) -> None:
        done = q.comment(self.session, resident_id=self.resident_id, text=self.msg.text)
        if done is not None:
            self.say(done[0], report_code=done[1], action="commented")
        elif q.open_reports(self.session, self.resident_id, limit=1):
            self.say(msg.HELP + "\n\n" + msg.COMMENT_HINT)
        else:
            self.say(msg.HELP)

    # ------------------------------------------------------------------ drafting

    def _in_draft(self) -> None:
        draft = dict(self.draft)
        kind, step = self.msg.kind, draft.get("step")
        if kind == "image":
            self._add_photos(draft)
        elif kind == "location":
            self._set_location(draft)
        elif kind == "text":
            self._text_in_draft(draft, step)
        else:
            self._save(draft)
            self._ask(prefix=msg.UNSUPPORTED)

    def _add_photos(self, draft: dict[str, Any]) -> None:
        ids = list(draft.get("photo_ids") or [])
        failed = False
        for url in self.msg.image_urls:
            if len(ids) >= MAX_PHOTOS:
                break
            try:
                photo = photos.accept_remote(self.session, url=url, resident_id=self.resident_id,
                                             role="report", source=self.msg.channel)
            except DomainError as exc:
                log.info("photo from %s refused: %s", self.msg.channel, exc.code)
                failed = True
                continue
            ids.append(photo.id)
        draft["photo_ids"] = ids
        caption = (self.msg.text or "").strip()
        if caption and not draft.get("description"):
            draft["description"] = caption[:intake.MAX_DESCRIPTION]
        self._save(draft)
        self._ask(prefix=msg.PHOTO_FAILED if failed and not ids else msg.photo_ack(len(ids)))

    def _set_location(self, draft: dict[str, Any]) -> None:
        lat, lon = self.msg.lat, self.msg.lon
        if not routing.within_city(self.session, lat, lon):
            self._save(draft)
            self._ask(prefix=msg.OUTSIDE_CITY)
            return
        draft.update(lat=lat, lon=lon, address=None)
        self._save(draft)
        self._ask(prefix=msg.location_ack(draft))

    def _text_in_draft(self, draft: dict[str, Any], step: str | None) -> None:
        text = (self.msg.text or "").strip()
        if step == "confirm":
            if d.is_yes(text):
                self._create(draft)
            else:
                self._save(draft)
                self.say(msg.ASK_CONFIRM)
            return
        if step == "category":
            self._category_answer(draft, text)
            return
        if step == "description":
            draft["description"] = None if d.is_skip(text) else text[:intake.MAX_DESCRIPTION]
            draft["description_done"] = True
            self._save(draft)
            self._ask(prefix=None)
            return
        if step == "location":
            if len(fold(text)) < 5 or d.is_skip(text):
                self._save(draft)
                self.say(msg.ADDRESS_TOO_SHORT)
                return
            draft.update(address=text[:intake.MAX_ADDRESS], lat=None, lon=None)
            self._save(draft)
            self._ask(prefix=msg.location_ack(draft))
            return
        self._save(draft)
        self._ask(prefix=None)

    def _category_answer(self, draft: dict[str, Any], text: str) -> None:
        menu: list[str] = list(draft.get("menu") or [])
        number = d.choice_number(text)
        if number is not None:
            if not 1 <= number <= len(menu):
                self._save(draft)
                self.say(msg.bad_choice(len(menu)) + "\n" + self._category_question(draft))
                return
            self._pick_category(draft, menu[number - 1])
            return
        folded = fold(text)
        by_name = [c for c in q.categories(self.session) if fold(c.name_vi) == folded or c.code == folded]
        if by_name:
            self._pick_category(draft, by_name[0].code)
            return
        if len(folded) >= 8 and not draft.get("description"):
            draft["description"] = text[:intake.MAX_DESCRIPTION]
            draft["description_done"] = True
            draft.pop("menu", None)
            self._save(draft)
            self._ask(prefix="Đã ghi nhận mô tả.")
            return
        self._save(draft)
        self.say(msg.bad_choice(len(menu)) + "\n" + self._category_question(draft))

    def _pick_category(self, draft: dict[str, Any], code: str) -> None:
        category = q.category(self.session, code)
        if category is None or not category.active:
            self._save(draft)
            self.say(self._category_question(draft))
            return
        if category.is_emergency:
            self._clear()
            self.say(msg.emergency(category.hotline, city_settings.hotlines(self.session)), action="emergency")
            return
        draft["category_code"] = code
        self._save(draft)
        self._ask(prefix=None)

    # ------------------------------------------------------------------ what to ask next

    def _ask(self, *, prefix: str | None) -> None:
        question = self._question()
        self.say(f"{prefix}\n{question}" if prefix else question)

    def _question(self) -> str:
        draft = dict(self.draft)
        if draft.get("lat") is None and not draft.get("address"):
            draft["step"] = "location"
            text = msg.ASK_LOCATION + ("" if draft.get("photo_ids") else msg.ASK_LOCATION_PHOTO_HINT)
        elif not draft.get("category_code"):
            draft["step"] = "category"
            text = self._category_question(draft)
        elif not draft.get("description") and not draft.get("description_done"):
            draft["step"] = "description"
            text = msg.ASK_DESCRIPTION
        else:
            draft["step"] = "confirm"
            text = msg.summary(draft, q.category(self.session, draft["category_code"]))
        self._save(draft)
        return text

    def _category_question(self, draft: dict[str, Any]) -> str:
        categories = q.categories(self.session)
        suggested = q.suggest_category(categories, draft.get("description"))
        if suggested:
            categories.sort(key=lambda c: c.code != suggested)
        draft["menu"] = [c.code for c in categories]
        self._save(draft)
        return msg.category_menu(categories, suggested)

    # ------------------------------------------------------------------ creating the report

    def _create(self, draft: dict[str, Any]) -> None:
        usable = q.usable_photos(self.session, draft.get("photo_ids") or [])
        if len(usable) != len(draft.get("photo_ids") or []):
            self.prefix.append(msg.photos_dropped(len(draft.get("photo_ids") or []) - len(usable)))
            draft["photo_ids"] = usable
        try:
            with self.session.begin_nested():  # a refusal while writing leaves nothing half-written
                report = intake.create_report(
                    self.session, channel=self.msg.channel, actor=Actor.bot(self.msg.channel),
                    category_code=draft.get("category_code"), description=draft.get("description") or "",
                    lat=draft.get("lat"), lon=draft.get("lon"), address=draft.get("address"),
                    photo_ids=list(draft.get("photo_ids") or []), resident_id=self.resident_id)
        except InvalidInput as exc:
            self._refused(draft, exc)
            return
        except DomainError as exc:
            log.warning("chat report refused: %s", exc.code)
            self._save(draft)
            self.say(msg.refused(exc.message))
            return
        self._clear()
        self.say(msg.created(report), report_code=report.code, action="created")
        question = consent.ask(self.session, incoming=self.msg, conv=self.conv)
        if question is not None:
            self.out.append(question)

    def _refused(self, draft: dict[str, Any], exc: InvalidInput) -> None:
        if exc.code == "emergency-category":
            hotline = (exc.details or {}).get("hotline") if isinstance(exc.details, dict) else None
            self._clear()
            self.say(msg.emergency(hotline, city_settings.hotlines(self.session)), action="emergency")
            return
        if exc.code in LOCATION_ERRORS:
            draft.update(lat=None, lon=None, address=None)
            self._save(draft)
            self._ask(prefix=msg.OUTSIDE_CITY if exc.code == "outside-city" else exc.message)
            return
        self._save(draft)
        self.say(msg.refused(exc.message))
