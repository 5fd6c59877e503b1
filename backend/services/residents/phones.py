"""Vietnamese phone numbers typed or shared by residents: recognise, normalise, mask.

``parse(text)`` accepts what people type in a chat — "0912 345 678", "+84 912.345.678",
"(84) 912-345-678", "SĐT: 0912345678", "so dien thoai 0912345678" — and returns the number in the
international form Zalo uses (``84912345678``), or None when the message is not just a phone number
(any other word, too few or too many digits, not a Vietnamese mobile number). Matching of the words
around the number is accent- and case-insensitive. Mobile numbers are 10 digits starting 03, 05, 07,
08 or 09 (the numbering plan since 2018); ZNS reaches Zalo accounts, which are registered on mobiles.

The number a resident consents to share lives on their channel identity (``identities.phone`` with
``phone_consented_at``): personal data, never shown publicly, erased with the identity by retention.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

from sqlmodel import Session, select

from backend.models.base import utcnow
from backend.models.residents import Identity
from backend.text import fold

log = logging.getLogger(__name__)

MOBILE_PREFIXES = frozenset("35789")
DECLINED = "phone_declined_at"  # in ``identities.data``: the resident said no to sharing a number
_LABELS = re.compile(r"^(?:so dien thoai(?: cua toi)?(?: la)?|sdt|dt|dien thoai|phone|tel)\s*[:\-]?\s*")
_ALLOWED = re.compile(r"^[0-9+().\-\s]+$")


def parse(text: str | None) -> str | None:
    """The mobile number in ``text`` as ``84xxxxxxxxx``, or None (see the module docstring)."""
    folded = fold(text)
    if not folded or len(folded) > 64:
        return None
    rest = _LABELS.sub("", folded).strip().rstrip(".")
    plus_misplaced = rest.count("+") > 1 or ("+" in rest and not rest.startswith(("+", "(+")))
    if not rest or not _ALLOWED.match(rest) or plus_misplaced:
        return None
    return normalize("".join(ch for ch in rest if ch.isdigit()))


def normalize(value: str | None) -> str | None:
    """Digits of a Vietnamese mobile number in any usual form (0…, 84…, 0084…) as ``84xxxxxxxxx``."""
    digits = "".join(ch for ch in (value or "") if ch.isdigit())
    if digits.startswith("0084"):
        digits = digits[4:]
    elif digits.startswith("840") and len(digits) == 12:  # "+84 0912 …": the 0 kept after the country code
        digits = digits[3:]
    elif digits.startswith("84") and len(digits) == 11:
        digits = digits[2:]
    elif digits.startswith("0") and len(digits) == 10:
        digits = digits[1:]
    if len(digits) != 9 or digits[0] not in MOBILE_PREFIXES:
        return None
    return "84" + digits


def local(phone: str) -> str:
    """``84912345678`` → ``0912 345 678`` (how Vietnamese read a number)."""
    national = "0" + phone[2:] if phone.startswith("84") else phone
    return f"{national[:4]} {national[4:7]} {national[7:]}"


def masked(phone: str) -> str:
    """``84912345678`` → ``0912 *** 678``: enough for the resident to recognise it, not to copy it."""
    national = local(phone)
    return f"{national[:4]} *** {national[-3:]}"


# --------------------------------------------------------------------------- consent on an identity


def _identity(session: Session, provider: str, subject: str) -> Identity | None:
    return session.exec(select(Identity).where(Identity.provider == provider, Identity.subject == subject)).first()


def share(session: Session, *, provider: str, subject: str, phone: str, at: datetime | None = None) -> bool:
    """Store ``phone`` (``84…``) on the identity, with the moment of consent; False if there is no such
    identity. Sharing again replaces the number (the latest consent counts)."""
    identity = _identity(session, provider, subject)
    if identity is None:
        return False
    identity.phone, identity.phone_consented_at = phone, at or utcnow()
    identity.data = {k: v for k, v in identity.data.items() if k != DECLINED}
    session.add(identity)
    session.flush()
    log.info("resident %s shared a phone number on %s", identity.resident_id, provider)
    return True


def decline(session: Session, *, provider: str, subject: str, at: datetime | None = None) -> None:
    """The resident said no: remember it (not asked again) and forget a number shared before."""
    identity = _identity(session, provider, subject)
    if identity is None:
        return
    identity.phone = identity.phone_consented_at = None
    identity.data = {**identity.data, DECLINED: (at or utcnow()).isoformat()}
    session.add(identity)
    session.flush()


def should_ask(session: Session, *, provider: str, subject: str) -> bool:
    """Whether to ask this identity for a phone number: none shared and never declined."""
    identity = _identity(session, provider, subject)
    return identity is not None and not identity.phone and DECLINED not in identity.data
