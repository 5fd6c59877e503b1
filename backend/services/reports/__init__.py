"""Reports: intake (every channel's new report), the lifecycle (the transitions table of DESIGN §6, the
workflow service that applies actions, their effects and field checks), public tracking codes,
idempotent retries, reading reports (by code, lists, map, nearby, the public timeline) and the staff
report page model.

Public functions:

- intake: ``submit create_report NewReport``; staff entering a report for a caller (hotline, counter):
  ``submit_on_behalf check_behalf BehalfForm Entered entered_by caller_number caller_phone BEHALF_CHANNELS
  BEHALF_MAX_PHOTOS``;
- lifecycle: ``apply allowed_actions close_resolved reopen_deadline TRANSITIONS``;
- codes: ``normalize_code find_code is_code``;
- idempotency: ``claim_key complete_key request_hash once_per_sender sent_report``;
- reading: ``get_by_code state_label open311_status public_timeline public_text states_after EVENT_LABELS
  STATE_LABELS list_reports ReportFilter parse_bbox nearby_open NEARBY_LIMIT report_flags haversine_m``;
- staff page: ``build_page ReportPage reporter_contact ACTION_LABELS``; after the ``relocate`` action,
  ``routing_suggestion`` (the unit routing would pick at the new point);
- the city map and list of ``/`` (the one rule for which reports it shows, within ``is_listed``):
  ``public_clause PublicFilter parse_filter public_points latest_event_id PublicPoint MAP_LIMIT
  PERIODS STATUS_GROUPS``;
- the reporter's signed link: ``reporter_link reporter_of`` (make / check; they live in ``notify``, which
  sends them, and are re-exported here);
- the public report page: ``public_report find_public PublicReport`` (``is_listed`` is the one
  rule for which reports are public);
- moderation (workflow actions ``edit_text hide unhide``, ``services/reports/moderation.py``); which reports
  public channels list: ``listed`` (SQL clause) and ``is_listed`` (one report) — the one rule;
- a unit that ends hands its open reports to its successor through the workflow: ``end_unit hand_over_due``
  (``services/reports/handover.py``);
- visibility: ``is_public_field`` (what residents will see of a staff form field; the rule itself is
  ``events.resident_fields``, which ``public_text`` and ``public_timeline`` apply).
"""

from backend.services.notify import reporter_link, reporter_of  # made and checked where notifications are
from backend.services.reports.behalf import CHANNELS as BEHALF_CHANNELS
from backend.services.reports.behalf import MAX_PHOTOS as BEHALF_MAX_PHOTOS
from backend.services.reports.behalf import (
    BehalfForm,
    Entered,
    caller_number,
    caller_phone,
    entered_by,
    submit_on_behalf,
)
from backend.services.reports.behalf import check_form as check_behalf
from backend.services.reports.codes import find_code, is_code, normalize_code
from backend.services.reports.handover import end_unit, hand_over_due
from backend.services.reports.idempotency import claim as claim_key
from backend.services.reports.idempotency import complete as complete_key
from backend.services.reports.idempotency import once_per_sender, request_hash, sent_report
from backend.services.reports.intake import NewReport, create_report, submit
from backend.services.reports.location import routing_suggestion
from backend.services.reports.lookup import (
    EVENT_LABELS,
    NEARBY_LIMIT,
    STATE_LABELS,
    ReportFilter,
    get_by_code,
    haversine_m,
    list_reports,
    nearby_open,
    open311_status,
    parse_bbox,
    public_text,
    public_timeline,
    report_flags,
    state_label,
    states_after,
)
from backend.services.reports.page import ACTION_LABELS, ReportPage, reporter_contact
from backend.services.reports.page import build as build_page
from backend.services.reports.publication import (
    LIST_LIMIT,
    MAP_LIMIT,
    PERIODS,
    STATUS_GROUPS,
    PublicFilter,
    PublicPoint,
    latest_event_id,
    parse_filter,
    public_clause,
    public_points,
)
from backend.services.reports.tracking import PublicReport, find_public, public_report
from backend.services.reports.transitions import TRANSITIONS
from backend.services.reports.visibility import is_listed, listed
from backend.services.reports.visibility import is_public as is_public_field
from backend.services.reports.workflow import allowed_actions, apply, close_resolved, reopen_deadline

__all__ = [
    "ACTION_LABELS",
    "BEHALF_CHANNELS",
    "BEHALF_MAX_PHOTOS",
    "EVENT_LABELS",
    "LIST_LIMIT",
    "MAP_LIMIT",
    "NEARBY_LIMIT",
    "PERIODS",
    "STATE_LABELS",
    "STATUS_GROUPS",
    "TRANSITIONS",
    "BehalfForm",
    "Entered",
    "NewReport",
    "PublicFilter",
    "PublicPoint",
    "PublicReport",
    "ReportFilter",
    "ReportPage",
    "allowed_actions",
    "apply",
    "build_page",
    "caller_number",
    "caller_phone",
    "check_behalf",
    "claim_key",
    "close_resolved",
    "complete_key",
    "create_report",
    "end_unit",
    "entered_by",
    "find_code",
    "find_public",
    "get_by_code",
    "hand_over_due",
    "haversine_m",
    "is_code",
    "is_listed",
    "is_public_field",
    "latest_event_id",
    "list_reports",
    "listed",
    "nearby_open",
    "normalize_code",
    "once_per_sender",
    "open311_status",
    "parse_bbox",
    "parse_filter",
    "public_clause",
    "public_points",
    "public_report",
    "public_text",
    "public_timeline",
    "reopen_deadline",
    "report_flags",
    "reporter_contact",
    "reporter_link",
    "reporter_of",
    "request_hash",
    "routing_suggestion",
    "sent_report",
    "state_label",
    "states_after",
    "submit",
    "submit_on_behalf",
]
