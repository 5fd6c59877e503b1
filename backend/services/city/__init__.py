"""The city's set-up and its people: settings, working calendar, routing, the city pack, the catalogue of
units and categories, staff accounts and who may see what, Open311 API clients, admin edits.

Everything else builds on this package; it imports no other capability.

Public functions (channels import these names from ``backend.services.city``):

- settings: ``city_name timezone hotlines jurisdiction_id moderation_required quiet_hours
  reopen_window_days close_after_days open311_sender_status_changes setting zalo_policy``;
- Zalo messaging policy (windows, ZNS templates): ``ZaloPolicy ZnsTemplate ZNS_FIELDS``;
- calendar: ``WorkingCalendar load_calendar set_override remove_override parse_duration``;
- routing: ``route triage_unit within_city Route is_unit_active``; finding a ward by its typed name (the staff
  forms' address search): ``find_places Place``;
- the city pack: ``read_pack load_city_pack load_demo``;
- catalogue: ``active_categories categories_by_id category_by_code category_id_for localized_attributes
  unit_id_for catalog_changed_at``;
- staff: ``authenticate_staff verify_staff staff_signed_in staff_by_email change_password create_staff get_staff
  end_sessions audit_staff``;
- sign-in throttling: ``login_counter throttle_login login_succeeded LoginCounter LoginVerdict``;
- second factor: ``totp`` (the module: ``new_secret provisioning_uri use_code enable disable required
  missing``);
- access: ``sees_all_units visible_unit_ids can_see_report ensure_can_see can_act ensure_can_act
  home_unit``;
- API clients: ``create_client authenticate_client revoke_client``;
- admin edits: ``ensure_admin set_staff_active sign_out_everywhere admin_create_staff create_unit
  update_category create_rule end_rule save_template delete_template local_day_start``;
- units in the admin pages: ``create_unit update_unit get_unit validate_unit_code check_unit_end
  open_report_count staff_count`` (ending a unit moves reports: ``services/reports/handover.py``);
- staff in the admin pages: ``update_staff reset_password temporary_password``; queue scoping:
  ``category_scope``.
"""

from backend.services.city import totp
from backend.services.city.access import (
    can_act,
    can_see_report,
    category_scope,
    ensure_can_act,
    ensure_can_see,
    home_unit,
    sees_all_units,
    visible_unit_ids,
)
from backend.services.city.admin import (
    create_rule,
    delete_template,
    end_rule,
    ensure_admin,
    local_day_start,
    save_template,
    set_staff_active,
    sign_out_everywhere,
    update_category,
)
from backend.services.city.admin import create_staff as admin_create_staff
from backend.services.city.calendar import (
    WorkingCalendar,
    load_calendar,
    parse_duration,
    remove_override,
    set_override,
)
from backend.services.city.catalog import (
    active_categories,
    catalog_changed_at,
    categories_by_id,
    category_by_code,
    category_id_for,
    localized_attributes,
    unit_id_for,
)
from backend.services.city.clients import authenticate as authenticate_client
from backend.services.city.clients import create_client
from backend.services.city.clients import revoke as revoke_client
from backend.services.city.loading import load_city_pack, load_demo, read_pack
from backend.services.city.messaging import ZNS_FIELDS, ZaloPolicy, ZnsTemplate
from backend.services.city.places import Place, find_places
from backend.services.city.routing import Route, route, triage_unit, unit_name, within_city
from backend.services.city.routing import is_active as is_unit_active
from backend.services.city.settings import (
    bounds,
    city_name,
    close_after_days,
    hotlines,
    jurisdiction_id,
    moderation_required,
    open311_sender_status_changes,
    quiet_hours,
    reopen_window_days,
    timezone,
    zalo_policy,
)
from backend.services.city.settings import get as setting
from backend.services.city.staff import audit as audit_staff
from backend.services.city.staff import authenticate as authenticate_staff
from backend.services.city.staff import by_email as staff_by_email
from backend.services.city.staff import change_password, create_staff, end_sessions
from backend.services.city.staff import get as get_staff
from backend.services.city.staff import signed_in as staff_signed_in
from backend.services.city.staff import verify as verify_staff
from backend.services.city.staff_admin import reset_password, temporary_password, update_staff
from backend.services.city.throttle import Counter as LoginCounter
from backend.services.city.throttle import Verdict as LoginVerdict
from backend.services.city.throttle import check as throttle_login
from backend.services.city.throttle import make_counter as login_counter
from backend.services.city.throttle import succeeded as login_succeeded
from backend.services.city.units import check_end as check_unit_end
from backend.services.city.units import create_unit, get_unit, open_report_count, staff_count, update_unit
from backend.services.city.units import validate_code as validate_unit_code

__all__ = [
    "ZNS_FIELDS",
    "LoginCounter",
    "LoginVerdict",
    "Place",
    "Route",
    "WorkingCalendar",
    "ZaloPolicy",
    "ZnsTemplate",
    "active_categories",
    "admin_create_staff",
    "audit_staff",
    "authenticate_client",
    "authenticate_staff",
    "bounds",
    "can_act",
    "can_see_report",
    "catalog_changed_at",
    "categories_by_id",
    "category_by_code",
    "category_id_for",
    "category_scope",
    "change_password",
    "check_unit_end",
    "city_name",
    "close_after_days",
    "create_client",
    "create_rule",
    "create_staff",
    "create_unit",
    "delete_template",
    "end_rule",
    "end_sessions",
    "ensure_admin",
    "ensure_can_act",
    "ensure_can_see",
    "find_places",
    "get_staff",
    "get_unit",
    "home_unit",
    "hotlines",
    "is_unit_active",
    "jurisdiction_id",
    "load_calendar",
    "load_city_pack",
    "load_demo",
    "local_day_start",
    "localized_attributes",
    "login_counter",
    "login_succeeded",
    "moderation_required",
    "open311_sender_status_changes",
    "open_report_count",
    "parse_duration",
    "quiet_hours",
    "read_pack",
    "remove_override",
    "reopen_window_days",
    "reset_password",
    "revoke_client",
    "route",
    "save_template",
    "sees_all_units",
    "set_override",
    "set_staff_active",
    "setting",
    "sign_out_everywhere",
    "staff_by_email",
    "staff_count",
    "staff_signed_in",
    "temporary_password",
    "throttle_login",
    "timezone",
    "totp",
    "triage_unit",
    "unit_id_for",
    "unit_name",
    "update_category",
    "update_staff",
    "update_unit",
    "validate_unit_code",
    "verify_staff",
    "visible_unit_ids",
    "within_city",
    "zalo_policy",
]
