"""Open311 GeoReport v2 on our domain: services, request queries, reporter data, mySociety updates.

The contract is ``docs/open311.md`` §2. In short:

- :data:`STATUSES` is the one table of mySociety's extended status words, both ways: which of our
  states a word describes (published as posted for those states), which word each state publishes,
  and which workflow action a unit key's word takes from which state.
- :func:`post_update`: a **unit key** (bound to the report's unit) acts for the unit, its text the
  public reply; the report's **sender** (the key that created it) speaks for its residents: a resident
  comment, never a state change except a reporter's reopening where the city allows it. The word
  posted stays on the event (``data["open311_status"]``); updates are deduplicated per
  (client, ``update_id``) in ``external_updates``.
- **Update ids are event ids**: a POST answers the id of the event it recorded, the feed
  (:func:`updates_feed`) publishes events under their ids and never a sender's own events.
- :func:`find_requests` implements ``GET requests``; :func:`public_notes` gives ``status_notes`` and
  ``updated_datetime`` (a closed request keeps those of its closing).

Nothing here exposes personal data: reporter fields go to a ``Resident`` + ``Identity("open311")``
and are never read back by the Open311 views.

Modules: ``statuses`` (the vocabulary), ``requests`` (services, request queries, tokens, notes, reporters),
``updates`` (the feed and posted updates). Channels use this root only.
"""

from backend.services.open311.requests import (
    DEFAULT_WINDOW,
    MAX_PAGE_SIZE,
    MAX_REQUESTS,
    Notes,
    RequestQuery,
    find_by_token,
    find_requests,
    get_request,
    get_service,
    list_services,
    new_token,
    public_notes,
    public_request,
    reporter_resident,
    services_changed_at,
    token_of,
    token_ref,
)
from backend.services.open311.statuses import DONE_STATES, STATE_WORDS, STATUSES, Status, parse_status, published_status
from backend.services.open311.updates import (
    FEED_KINDS,
    MAX_UPDATES,
    FeedItem,
    PostedUpdate,
    after_photos,
    post_update,
    updates_feed,
)

__all__ = [
    "DEFAULT_WINDOW", "DONE_STATES", "FEED_KINDS", "MAX_PAGE_SIZE", "MAX_REQUESTS", "MAX_UPDATES", "STATE_WORDS",
    "STATUSES", "FeedItem", "Notes", "PostedUpdate", "RequestQuery", "Status", "after_photos", "find_by_token",
    "find_requests", "get_request", "get_service", "list_services", "new_token", "parse_status", "post_update",
    "public_notes", "public_request", "published_status", "reporter_resident", "services_changed_at", "token_of",
    "token_ref", "updates_feed",
]
