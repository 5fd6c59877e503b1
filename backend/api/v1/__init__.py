"""The mobile app API v1 (``/api/v1``): thin views over the services, described by OpenAPI 3.1.

Residents authenticate with a Firebase ID token (``Authorization: Bearer``); public reads need
none. Errors are ``application/problem+json``; lists share one page envelope.
"""

from backend.api.v1 import categories, docs, media, reports, residents, stats  # the views register their routes
from backend.api.v1.blueprint import bp

__all__ = ["bp", "categories", "docs", "media", "reports", "residents", "stats"]
