"""Residents: identity mapping (provider + subject → Resident), push devices, "me too", the feed.

- ``resident_for_identity`` finds or creates the Resident behind a channel identity (Firebase uid,
  Zalo user id, ...). Two concurrent first requests of the same user create one row: the loser of
  the unique ``(provider, subject)`` race re-reads the winner's row inside a savepoint.
- ``register_device`` / ``remove_device``: FCM registration tokens or Firebase installation ids.
  A token moves to the resident who registers it last (one phone, one signed-in user).
- ``follow`` / ``unfollow``: a resident says "me too" on someone else's report.
- ``notifications``: the resident's in-app feed, i.e. ``deliveries`` on channel ``feed``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from backend.errors import InvalidInput, NotFound
from backend.models.base import utcnow
from backend.models.deliveries import Delivery
from backend.models.reports import Follower, Report
from backend.models.residents import Device, Identity, Resident

log = logging.getLogger(__name__)

PROVIDERS = frozenset({"firebase", "zalo", "open311", "phone", "web"})  # web: a device cookie of the web form
FEED_CHANNEL = "feed"


#: ``identities.last_interaction_at`` is refreshed only when older than this (no write per request) ...
INTERACTION_RESOLUTION = timedelta(minutes=5)
#: ... except for chat channels, whose 48-hour reply window (``bots/zalo/outbound.py``) needs it exact
EXACT_INTERACTION_PROVIDERS = frozenset({"zalo"})


def resident_for_identity(session: Session, *, provider: str, subject: str,
                          data: dict[str, Any] | None = None, at: datetime | None = None) -> Resident:
    """The Resident behind ``provider:subject``, created (with its Identity) on first use.

    ``data`` (claims worth keeping: sign-in provider, e-mail) is merged into the identity row.
    ``at`` is when the person acted (a chat message delivered late), default now; the stamp never moves
    back (messages handled out of order). ``last_interaction_at`` is accurate to
    :data:`INTERACTION_RESOLUTION` (exact for
    :data:`EXACT_INTERACTION_PROVIDERS`): an app identity seen less than that long ago is not written
    again, so a known identity costs one query and takes no row lock.
    """
    return identity_and_resident(session, provider=provider, subject=subject, data=data, at=at)[1]


def identity_and_resident(session: Session, *, provider: str, subject: str, data: dict[str, Any] | None = None,
                          at: datetime | None = None) -> tuple[Identity, Resident]:
    """:func:`resident_for_identity` with the Identity row too (its ``last_interaction_at`` as stamped)."""
    if provider not in PROVIDERS or not subject or len(subject) > 255:
        raise InvalidInput("Danh tính không hợp lệ.", code="invalid-identity")
    found = session.exec(select(Identity, Resident).join(Resident, Resident.id == Identity.resident_id)
                         .where(Identity.provider == provider, Identity.subject == subject)).first()
    if found is None:
        identity = _create_identity(session, provider, subject, data or {})
        resident = session.get(Resident, identity.resident_id)
        assert resident is not None
    else:
        identity, resident = found
        if claims_change(identity.data, data):
            identity.data = {**identity.data, **data}  # type: ignore[dict-item]
    now = utcnow()
    acted = min(at, now) if at is not None and at.tzinfo is not None else now
    if stamp_due(provider, identity.last_interaction_at, acted):
        identity.last_interaction_at = acted
    return identity, resident


def claims_change(stored: dict[str, Any] | None, data: dict[str, Any] | None) -> bool:
    """Whether the claims a provider gave (``data``) add to or change an identity's ``stored`` ones (the lookup
    then merges them into the row)."""
    return bool(data) and any((stored or {}).get(k) != v for k, v in data.items())  # type: ignore[union-attr]


def stamp_due(provider: str, seen: datetime | None, acted: datetime) -> bool:
    """Whether an identity last stamped at ``seen`` is stamped again for an interaction at ``acted``: after
    :data:`INTERACTION_RESOLUTION`, or on any later interaction for :data:`EXACT_INTERACTION_PROVIDERS`."""
    return seen is None or seen.tzinfo is None or acted - seen >= INTERACTION_RESOLUTION or (
        provider in EXACT_INTERACTION_PROVIDERS and acted > seen)


#: contact fields a partner system gives about its user, in the order that names the person
CONTACT_HANDLES = ("account_id", "email", "phone", "device_id")


def resident_for_contact(session: Session, *, provider: str, namespace: str,
                         fields: dict[str, str | None]) -> Resident | None:
    """The resident a partner system (an Open311 sender) names with contact fields, found or created.

    The subject is ``namespace:handle`` (the first of :data:`CONTACT_HANDLES` given; e-mail lower-cased):
    the same person sent twice by the same partner is one resident. Name (``first_name``/``last_name``,
    ``-`` ignored), e-mail and phone fill the resident's empty fields; all stay private. None without a
    handle (an unnamed person). Flushes.
    """
    given = {k: v.strip()[:255] for k, v in fields.items() if isinstance(v, str) and v.strip()}
    handles = [given[k].lower() if k == "email" else given[k] for k in CONTACT_HANDLES if given.get(k)]
    if not handles:
        return None
    resident = resident_for_identity(session, provider=provider, subject=f"{namespace}:{handles[0]}"[:255],
                                     data=given)
    name = " ".join(p for p in (given.get("first_name"), given.get("last_name")) if p and p != "-")
    email = given.get("email")
    resident.display_name = resident.display_name or name or None
    resident.email = resident.email or (email if email and "@" in email else None)
    resident.phone = resident.phone or (given.get("phone") or "")[:32] or None
    session.add(resident)
    session.flush()
    return resident


def _identity(session: Session, provider: str, subject: str) -> Identity | None:
    return session.exec(select(Identity).where(Identity.provider == provider,
                                               Identity.subject == subject)).first()


def _create_identity(session: Session, provider: str, subject: str, data: dict[str, Any]) -> Identity:
    anonymous = data.get("sign_in_provider") == "anonymous"
    try:
        with session.begin_nested():
            resident = Resident(is_anonymous_account=anonymous, email=data.get("email"),
                                locale=data.get("locale") or "vi")
            session.add(resident)
            session.flush()
            identity = Identity(resident_id=resident.id, provider=provider, subject=subject, data=data)
            session.add(identity)
            session.flush()
    except IntegrityError:
        log.info("identity %s:%s created concurrently; using the existing one", provider, subject)
        found = _identity(session, provider, subject)
        if found is None:
            raise
        return found
    log.info("new resident %s for %s identity", resident.id, provider)
    return identity


# ---------------------------------------------------------------------------- devices


def register_device(session: Session, *, resident_id: int, token: str, kind: str = "token",
                    platform: str = "android", locale: str = "vi") -> Device:
    """Register (or re-activate) a push target for ``resident_id``; idempotent per token."""
    device = session.exec(select(Device).where(Device.kind == kind, Device.token == token)).first()
    now = utcnow()
    if device is None:
        device = Device(resident_id=resident_id, kind=kind, token=token, platform=platform, locale=locale)
        session.add(device)
    else:
        device.resident_id, device.platform, device.locale = resident_id, platform, locale
        device.is_active, device.deactivated_reason = True, None
    device.last_seen_at = now
    session.flush()
    return device


def remove_device(session: Session, *, resident_id: int, device_id: int) -> None:
    """Stop pushing to a device of this resident (it stays for the delivery history)."""
    device = session.get(Device, device_id)
    if device is None or device.resident_id != resident_id:
        raise NotFound("Không tìm thấy thiết bị.", code="not-found")
    device.is_active = False
    device.deactivated_reason = "removed by resident"
    session.flush()


def devices(session: Session, *, resident_id: int) -> list[Device]:
    return list(session.exec(select(Device).where(Device.resident_id == resident_id,
                                                  Device.is_active == True)  # noqa: E712
                             .order_by(Device.id)))


# ---------------------------------------------------------------------------- followers


def follow(session: Session, *, resident_id: int, report: Report) -> bool:
    """Add a "me too"; False if the resident already followed. The reporter needs no follow."""
    if _follower(session, resident_id, report) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(Follower(resident_id=resident_id, report_id=report.id))
            session.flush()
    except IntegrityError:
        return False
    return True


def unfollow(session: Session, *, resident_id: int, report: Report) -> bool:
    row = _follower(session, resident_id, report)
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def is_following(session: Session, *, resident_id: int, report: Report) -> bool:
    return _follower(session, resident_id, report) is not None


def follower_count(session: Session, report: Report) -> int:
    return session.exec(select(func.count()).select_from(Follower)
                        .where(Follower.report_id == report.id)).one()


def _follower(session: Session, resident_id: int, report: Report) -> Follower | None:
    return session.exec(select(Follower).where(Follower.resident_id == resident_id,
                                               Follower.report_id == report.id)).first()


# ---------------------------------------------------------------------------- feed


def notifications(session: Session, *, resident_id: int, page: int = 1,
                  per_page: int = 20) -> list[tuple[Delivery, str | None]]:
    """The resident's feed, newest first: ``per_page + 1`` rows of (delivery, report code)."""
    stmt = (select(Delivery, Report.code).join(Report, Report.id == Delivery.report_id, isouter=True)
            .where(Delivery.recipient_kind == "resident", Delivery.recipient_id == resident_id,
                   Delivery.channel == FEED_CHANNEL)
            .order_by(Delivery.created_at.desc(), Delivery.id.desc())
            .offset((page - 1) * per_page).limit(per_page + 1))
    return [(d, code) for d, code in session.exec(stmt)]


def follower_counts(session: Session, report_ids: list[int]) -> dict[int, int]:
    if not report_ids:
        return {}
    rows = session.exec(select(Follower.report_id, func.count()).where(col(Follower.report_id).in_(report_ids))
                        .group_by(Follower.report_id))
    return dict(rows.all())
