"""Open311 GeoReport v2 facade at ``/open311/v2`` (plus discovery at ``/open311/discovery.{fmt}``).

Every failure under ``/open311`` — domain errors, HTTP errors, unknown paths, wrong methods and
crashes — is answered with the spec's error array in the requested format (the suffix of the
path; XML when there is none), never with another body. GET responses carry
``Access-Control-Allow-Origin: *``.
"""

from backend.api.open311 import views  # registers the routes on ``bp``
from backend.api.open311.blueprint import bp, request_format

__all__ = ["bp", "request_format", "views"]
