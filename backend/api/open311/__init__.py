"""Open311 GeoReport v2 facade at ``/open311/v2`` (plus discovery at ``/open311/discovery.{fmt}``).

Every failure under ``/open311`` — domain errors, HTTP errors, unknown paths, wrong methods and
crashes — is answered with the spec's error array in the requested format (the suffix of the
path; XML when there is none), never with another body. GeoReport v2 knows three HTTP statuses:
404 (not found), 403 (api_key) and 400 for everything else, so a wrong method, an oversize body or an
unsupported media type is a 400 whose error ``code`` says which (405, 413, 415). Only a busy or
unavailable server answers 429/503 (with ``Retry-After``). GET responses carry
``Access-Control-Allow-Origin: *``.
"""

from backend.api.open311 import views  # registers the routes on ``bp``
from backend.api.open311.blueprint import bp, request_format

__all__ = ["bp", "request_format", "views"]
