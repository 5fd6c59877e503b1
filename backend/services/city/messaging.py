"""How the city may message its Zalo residents: the setting ``zalo_delivery`` of the city pack.

Zalo's rules (``docs/zalo.md`` §3, §6): a customer-service (CS) message is free within 48 hours of the
resident's last interaction with the Official Account, allowed and charged up to 7 days, refused after
that; past it only a ZNS template message by phone number reaches them, with a template the city had
approved by Zalo for that kind of notification. The city pack can narrow the windows (never widen the
paid one past Zalo's 7 days) and names its approved templates::

    settings:
      zalo_delivery:
        free_window_hours: 48        # default: Zalo's published value
        paid_window_hours: 168       # default and maximum: 7 days
        zns_templates:
          resolved: "231677"                                   # parameters named as ZNS_FIELDS
          acknowledged: {template_id: "231678", params: {ma_pa: code, trang_thai: status}}

``params`` maps each parameter of the approved template to one of our fields (:data:`ZNS_FIELDS`, with
the length we cut each value to); without it the template's parameters are our field names. Pure
parsing and validation here (no database): ``settings.zalo_policy(session)`` reads the stored value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any

SETTING = "zalo_delivery"
FREE_WINDOW_HOURS = 48
PAID_WINDOW_HOURS = 7 * 24  # also Zalo's limit: a CS message after 7 days is refused (-230)
#: what we can put in a ZNS template, and the length each value is cut to (ZNS parameter types:
#: code / label / status 30 characters, names and addresses up to 200)
ZNS_FIELDS: Mapping[str, int] = MappingProxyType({"code": 30, "status": 30, "unit": 100, "content": 200,
                                                  "date": 20})
#: notifications a resident receives (services.notify), the kinds a ZNS template can be named for
RESIDENT_KINDS = ("received", "routed", "acknowledged", "reply", "resolved", "rejected", "not_competent",
                  "duplicate", "reopened")
_TEMPLATE_ID = re.compile(r"^[0-9A-Za-z_-]{1,32}$")
_PARAM = re.compile(r"^[A-Za-z_][0-9A-Za-z_]{0,63}$")


@dataclass(frozen=True)
class ZnsTemplate:
    """An approved ZNS template: its id and ``params`` (template parameter → our field)."""

    template_id: str
    params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({f: f for f in ZNS_FIELDS}))


@dataclass(frozen=True)
class ZaloPolicy:
    free_window: timedelta = timedelta(hours=FREE_WINDOW_HOURS)
    paid_window: timedelta = timedelta(hours=PAID_WINDOW_HOURS)
    zns_templates: Mapping[str, ZnsTemplate] = field(default_factory=lambda: MappingProxyType({}))


def _hours(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= PAID_WINDOW_HOURS


def _template_problem(kind: Any, entry: Any) -> str | None:
    if kind not in RESIDENT_KINDS:
        return f"loại thông báo '{kind}' không tồn tại ({', '.join(RESIDENT_KINDS)})"
    if isinstance(entry, str | int) and not isinstance(entry, bool):
        entry = {"template_id": entry}
    if not isinstance(entry, dict) or set(entry) - {"template_id", "params"}:
        return f"mẫu ZNS của '{kind}' phải là mã mẫu hoặc {{template_id, params}}"
    if not _TEMPLATE_ID.match(str(entry.get("template_id") or "")):
        return f"mã mẫu ZNS của '{kind}' không hợp lệ"
    params = entry.get("params", {f: f for f in ZNS_FIELDS})
    if not isinstance(params, dict) or not params:
        return f"'params' của mẫu '{kind}' phải là ánh xạ tham số mẫu → trường dữ liệu"
    for name, ours in params.items():
        if not isinstance(name, str) or not _PARAM.match(name):
            return f"tên tham số '{name}' của mẫu '{kind}' không hợp lệ"
        if ours not in ZNS_FIELDS:
            return f"trường '{ours}' của mẫu '{kind}' không tồn tại ({', '.join(ZNS_FIELDS)})"
    return None


def problem(value: Any) -> str | None:
    """Why ``value`` is not a valid ``zalo_delivery`` setting (Vietnamese), else None."""
    if not isinstance(value, dict):
        return "phải là ánh xạ {free_window_hours, paid_window_hours, zns_templates}"
    unknown = set(value) - {"free_window_hours", "paid_window_hours", "zns_templates"}
    if unknown:
        return f"khoá không hợp lệ: {', '.join(sorted(map(str, unknown)))}"
    free = value.get("free_window_hours", FREE_WINDOW_HOURS)
    paid = value.get("paid_window_hours", PAID_WINDOW_HOURS)
    if not _hours(free) or not _hours(paid):
        return f"số giờ phải là số nguyên từ 0 đến {PAID_WINDOW_HOURS} (giới hạn 7 ngày của Zalo)"
    if free > paid:
        return "free_window_hours không được lớn hơn paid_window_hours"
    templates = value.get("zns_templates", {})
    if not isinstance(templates, dict):
        return "zns_templates phải là ánh xạ loại thông báo → mẫu ZNS"
    for kind, entry in templates.items():
        if found := _template_problem(kind, entry):
            return found
    return None


def parse(value: Any) -> ZaloPolicy:
    """The policy in ``value`` (a stored setting, validated when it was loaded); Zalo's defaults when
    it is missing or, defensively, invalid."""
    if value is None or problem(value) is not None:
        return ZaloPolicy()
    templates = {}
    for kind, entry in (value.get("zns_templates") or {}).items():
        entry = entry if isinstance(entry, dict) else {"template_id": entry}
        params = entry.get("params") or {f: f for f in ZNS_FIELDS}
        templates[kind] = ZnsTemplate(str(entry["template_id"]), MappingProxyType(dict(params)))
    return ZaloPolicy(free_window=timedelta(hours=value.get("free_window_hours", FREE_WINDOW_HOURS)),
                      paid_window=timedelta(hours=value.get("paid_window_hours", PAID_WINDOW_HOURS)),
                      zns_templates=MappingProxyType(templates))
