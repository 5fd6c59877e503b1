"""Residents: who reported (identities from Firebase, Zalo, phone), their devices for push, what they
follow, their notification feed, and the Firebase ID-token check.

Public functions: ``verify_token resident_for_identity register_device remove_device devices follow unfollow
is_following follower_count follower_counts notification_feed``.
"""

from backend.services.residents.firebase import verify_token
from backend.services.residents.residents import (
    devices,
    follow,
    follower_count,
    follower_counts,
    is_following,
    register_device,
    remove_device,
    resident_for_identity,
    unfollow,
)
from backend.services.residents.residents import notifications as notification_feed

__all__ = ["devices", "follow", "follower_count", "follower_counts", "is_following", "notification_feed",
           "register_device", "remove_device", "resident_for_identity", "unfollow", "verify_token"]
