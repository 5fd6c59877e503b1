"""Residents: who reported (identities from Firebase, Zalo, phone), their devices for push, what they
follow, their notification feed, and the Firebase ID-token check.

Public functions: ``verify_token resident_for_identity resident_id_for_identity (cached per process)
forget_identities resident_for_contact register_device remove_device
devices follow unfollow is_following follower_count follower_counts notification_feed``; the phone number a
resident consents to share for notifications: ``parse_phone normalize_phone local_phone masked_phone
share_phone decline_phone should_ask_phone``.
"""

from backend.services.residents.firebase import verify_token
from backend.services.residents.known import forget as forget_identities
from backend.services.residents.known import resident_id_for_identity
from backend.services.residents.phones import decline as decline_phone
from backend.services.residents.phones import local as local_phone
from backend.services.residents.phones import masked as masked_phone
from backend.services.residents.phones import normalize as normalize_phone
from backend.services.residents.phones import parse as parse_phone
from backend.services.residents.phones import share as share_phone
from backend.services.residents.phones import should_ask as should_ask_phone
from backend.services.residents.residents import (
    INTERACTION_RESOLUTION,
    devices,
    follow,
    follower_count,
    follower_counts,
    is_following,
    register_device,
    remove_device,
    resident_for_contact,
    resident_for_identity,
    unfollow,
)
from backend.services.residents.residents import notifications as notification_feed

__all__ = [
    "INTERACTION_RESOLUTION",
    "decline_phone",
    "devices",
    "follow",
    "follower_count",
    "follower_counts",
    "forget_identities",
    "is_following",
    "local_phone",
    "masked_phone",
    "normalize_phone",
    "notification_feed",
    "parse_phone",
    "register_device",
    "remove_device",
    "resident_for_contact",
    "resident_for_identity",
    "resident_id_for_identity",
    "share_phone",
    "should_ask_phone",
    "unfollow",
    "verify_token",
]
