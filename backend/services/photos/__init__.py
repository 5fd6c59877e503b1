"""Photos: intake of images (uploads and safe remote fetches), the pixel pipeline, storage, linking photos
to reports with provenance checks, and the copies people see (public, thumbnails, redacted, original).

Public functions:

- intake and processing: ``check_declared_length accept_upload accept_remote store_fetched process reject
  fetch policy_for``;
- storage: ``Storage get_storage check_key content_type_for``;
- reports: ``check_photos attach_photos attach link has_photo photos_of check_provenance``;
- copies: ``public_view thumbnails smallest_thumb first_public_photos public_report_photos public_photos redact
  original_for_staff``.
"""

from backend.services.photos.copies import (
    first_public_photos,
    original_for_staff,
    public_photos,
    public_report_photos,
    public_view,
    redact,
    smallest_thumb,
    thumbnails,
)
from backend.services.photos.linking import (
    REUSE_DISTANCE,
    attach,
    attach_photos,
    check_photos,
    check_provenance,
    has_photo,
    link,
    photos_of,
)
from backend.services.photos.pipeline import (
    accept_remote,
    accept_upload,
    check_declared_length,
    process,
    reject,
    store_fetched,
)
from backend.services.photos.remote import fetch, policy_for
from backend.services.photos.storage import Storage, check_key, content_type_for, get_storage

__all__ = [
    "REUSE_DISTANCE",
    "Storage",
    "accept_remote",
    "accept_upload",
    "attach",
    "attach_photos",
    "check_declared_length",
    "check_key",
    "check_photos",
    "check_provenance",
    "content_type_for",
    "fetch",
    "first_public_photos",
    "get_storage",
    "has_photo",
    "link",
    "original_for_staff",
    "photos_of",
    "policy_for",
    "process",
    "public_photos",
    "public_report_photos",
    "public_view",
    "redact",
    "reject",
    "smallest_thumb",
    "store_fetched",
    "thumbnails",
]
