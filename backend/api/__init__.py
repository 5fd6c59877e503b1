"""Resident-facing HTTP APIs: the mobile REST API v1 and the Open311 GeoReport v2 facade."""
