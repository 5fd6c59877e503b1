"""City pack files: parse a pack (YAML/JSON) and validate it into its normalised form.

A pack describes one city: units, categories, areas, routing rules, calendar overrides, reply
templates and settings. ``read(path)`` parses a ``.yaml``/``.yml``/``.json`` file; ``areas_geojson:``
names a GeoJSON file relative to the pack, which replaces ``areas``. ``validate(pack)`` checks every
section plus cross-references (a pack is self-contained: every unit, category and area it references
must be defined in it) and returns the normalised pack. Any problem raises ``InvalidInput`` with the
list of problems in ``details``. Dates without a time mean midnight in the city's timezone. Loading a
validated pack into the database is ``services.cities``' job.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from shapely.geometry import shape
from shapely.validation import explain_validity

from backend.errors import InvalidInput
from backend.models.categories import DEFAULT_SLA, Priority
from backend.models.reports import State
from backend.models.units import UnitKind
from backend.services.city import settings as city_settings

KINDS = ("units", "categories", "areas", "routing_rules", "calendar_overrides", "reply_templates", "settings")
DATATYPES = {"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}
SLA_KEYS = {"ack", "urgent", "normal", "complex"}
_CODE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_BUDGET = re.compile(r"^\d{1,4}[mhd]$")
_PRIORITIES = {p.value for p in Priority}
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C parser is ~7x faster


# --------------------------------------------------------------------------- reading


def read(path: str | Path) -> dict[str, Any]:
    """Parse and validate a pack file (``.yaml``/``.yml``/``.json``). Raises InvalidInput."""
    path = Path(path)
    pack = _parse(_read(path), path.suffix.lower(), path.name)
    if not isinstance(pack, dict):
        raise InvalidInput("Gói dữ liệu thành phố phải là một ánh xạ (mapping) ở cấp ngoài cùng.",
                           code="pack-invalid")
    geojson = pack.pop("areas_geojson", None)
    if geojson is not None:
        if not isinstance(geojson, str):
            raise InvalidInput("areas_geojson phải là đường dẫn tới tệp GeoJSON.", code="pack-invalid")
        pack["areas"] = _parse(_read(path.parent / geojson), ".json", geojson)
    validate(pack)
    return pack


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"Không đọc được tệp {path.name}: {exc}.", code="pack-unreadable") from exc


def _parse(text: str, suffix: str, name: str) -> Any:
    if suffix not in (".yaml", ".yml", ".json", ".geojson"):
        raise InvalidInput(f"Định dạng tệp {name} không được hỗ trợ (chỉ YAML hoặc JSON).", code="pack-format")
    try:
        return yaml.load(text, Loader=_YAML_LOADER) if suffix in (".yaml", ".yml") else json.loads(text)  # noqa: S506
    except (yaml.YAMLError, ValueError) as exc:
        raise InvalidInput(f"Tệp {name} sai cú pháp: {exc}", code="pack-syntax") from exc


# --------------------------------------------------------------------------- validation


class _Check:
    """Collects problems; each reader returns a safe value so checking continues after an error."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.errors: list[str] = []
        self.tz = tz

    def fail(self, where: str, message: str) -> None:
        self.errors.append(f"{where}: {message}")

    def text(self, where: str, item: dict, name: str, *, required: bool = False, max_len: int = 255,
             default: str | None = "") -> Any:
        value = item.get(name)
        if value is None or value == "":
            if required:
                self.fail(where, f"thiếu trường bắt buộc '{name}'")
            return default
        if (not isinstance(value, str | int | float) or isinstance(value, bool) or len(str(value)) > max_len
                or (isinstance(value, float) and not math.isfinite(value))):
            self.fail(where, f"'{name}' phải là chuỗi tối đa {max_len} ký tự")
            return default
        return str(value).strip()

    def code(self, where: str, item: dict, name: str = "code", *, required: bool = True) -> str | None:
        value = self.text(where, item, name, required=required, max_len=64, default=None)
        if value is not None and not _CODE.match(value):
            self.fail(where, f"mã '{value}' chỉ gồm chữ thường không dấu, số, '.', '_', '-'")
        return value

    def flag(self, where: str, item: dict, name: str, default: bool = False) -> bool:
        value = item.get(name, default)
        if not isinstance(value, bool):
            self.fail(where, f"'{name}' phải là true hoặc false")
            return default
        return value

    def number(self, where: str, item: dict, name: str, default: int) -> int:
        value = item.get(name, default)
        if not isinstance(value, int) or isinstance(value, bool) or abs(value) > 1_000_000:
            self.fail(where, f"'{name}' phải là số nguyên")
            return default
        return value

    def moment(self, where: str, item: dict, name: str) -> datetime | None:
        value = item.get(name)
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.strip())
            except ValueError:
                self.fail(where, f"'{name}' không phải ngày/giờ ISO 8601 hợp lệ: {value!r}")
                return None
        if isinstance(value, date) and not isinstance(value, datetime):
            value = datetime.combine(value, time(0, 0))
        if not isinstance(value, datetime):
            self.fail(where, f"'{name}' phải là ngày (YYYY-MM-DD) hoặc ngày giờ ISO 8601")
            return None
        return value if value.tzinfo is not None else value.replace(tzinfo=self.tz)

    def window(self, where: str, item: dict) -> dict[str, datetime | None]:
        start, end = self.moment(where, item, "active_from"), self.moment(where, item, "active_to")
        if start and end and end <= start:
            self.fail(where, "active_to phải sau active_from")
        return {"active_from": start, "active_to": end}

    def ref(self, where: str, value: str | None, known: set[str], what: str) -> None:
        if value is not None and value not in known:
            self.fail(where, f"{what} '{value}' không được khai báo trong gói")


def _items(check: _Check, pack: dict, key: str) -> list[dict]:
    value = pack.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        check.fail(key, "phải là danh sách các ánh xạ")
        return []
    return value


def _unique(check: _Check, kind: str, keys: list[Any]) -> None:
    seen: set[Any] = set()
    for key in keys:
        if key in seen and key is not None:
            check.fail(kind, f"khai báo trùng {key}")
        seen.add(key)


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value, ensure_ascii=False, default=str, allow_nan=False))


def _unit(check: _Check, i: int, item: dict) -> dict[str, Any]:
    where = f"units[{i}]"
    kind = check.text(where, item, "kind", default=UnitKind.DEPARTMENT.value)
    if kind not in {k.value for k in UnitKind}:
        check.fail(where, f"loại đơn vị '{kind}' không hợp lệ")
    return {"code": check.code(where, item), "name_vi": check.text(where, item, "name_vi", required=True),
            "name_en": check.text(where, item, "name_en"), "kind": kind,
            "is_triage": check.flag(where, item, "is_triage"), "parent": check.code(where, item, "parent",
                                                                                   required=False),
            "successor": check.code(where, item, "successor", required=False),
            "email": check.text(where, item, "email", default=None),
            "phone": check.text(where, item, "phone", max_len=32, default=None), **check.window(where, item)}


def _attributes(check: _Check, where: str, value: Any) -> list[dict]:
    if not isinstance(value, list):
        check.fail(where, "'attributes' phải là danh sách")
        return []
    out = []
    for j, attr in enumerate(value):
        at = f"{where}.attributes[{j}]"
        if not isinstance(attr, dict):
            check.fail(at, "phải là ánh xạ")
            continue
        datatype = attr.get("datatype")
        if not isinstance(datatype, str) or datatype not in DATATYPES:
            check.fail(at, f"datatype '{datatype}' không hợp lệ ({', '.join(sorted(DATATYPES))})")
            datatype = None
        values = attr.get("values") or []
        if datatype in ("singlevaluelist", "multivaluelist") and (not isinstance(values, list) or not values
                                                                  or not all(isinstance(v, dict) and v.get("key")
                                                                             and v.get("name_vi") for v in values)):
            check.fail(at, "danh sách lựa chọn cần 'values' gồm các mục có 'key' và 'name_vi'")
        out.append({"code": check.code(at, attr), "datatype": datatype,
                    "required": check.flag(at, attr, "required"), "order": check.number(at, attr, "order", j + 1),
                    "description_vi": check.text(at, attr, "description_vi", required=True, max_len=500),
                    "description_en": check.text(at, attr, "description_en", max_len=500),
                    "values": _choices(values)})
    _unique(check, f"{where}.attributes", [a["code"] for a in out])
    return _json(out)


def _choices(values: Any) -> list[dict[str, str]]:
    if not isinstance(values, list):
        return []
    return [{"key": str(v["key"]), "name_vi": str(v["name_vi"]), "name_en": str(v.get("name_en") or "")}
            for v in values if isinstance(v, dict) and v.get("key") and v.get("name_vi")]


def _category(check: _Check, i: int, item: dict) -> dict[str, Any]:
    where = f"categories[{i}]"
    sla = item.get("sla") or {}
    if not isinstance(sla, dict) or set(sla) - SLA_KEYS or not all(
            isinstance(v, str) and _BUDGET.match(v) for v in sla.values()):
        check.fail(where, "'sla' phải có dạng {ack, urgent, normal, complex: '8h' | '30m' | '3d'}")
        sla = {}
    keywords = item.get("keywords") or ""
    if isinstance(keywords, list):
        keywords = ", ".join(str(k).strip() for k in keywords)
    priority = check.text(where, item, "priority_default", default=Priority.NORMAL.value)
    if priority not in _PRIORITIES:
        check.fail(where, f"priority_default '{priority}' không hợp lệ")
    is_emergency = check.flag(where, item, "is_emergency")
    hotline = check.text(where, item, "hotline", max_len=32, default=None)
    if is_emergency and not hotline:
        check.fail(where, "danh mục khẩn cấp phải có số đường dây nóng (hotline)")
    return {"code": check.code(where, item), "name_vi": check.text(where, item, "name_vi", required=True),
            "name_en": check.text(where, item, "name_en"),
            "description_vi": check.text(where, item, "description_vi", max_len=1000),
            "description_en": check.text(where, item, "description_en", max_len=1000),
            "group_code": check.code(where, item, "group_code", required=False) or "other",
            "group_vi": check.text(where, item, "group_vi"), "group_en": check.text(where, item, "group_en"),
            "default_unit": check.code(where, item, "default_unit", required=False),
            "priority_default": priority, "sla": {**DEFAULT_SLA, **sla},
            "attributes": _attributes(check, where, item.get("attributes") or []),
            "keywords": check.text(where, {"keywords": keywords}, "keywords", max_len=2000),
            "requires_after_photo": check.flag(where, item, "requires_after_photo"),
            "is_emergency": is_emergency, "hotline": hotline, "active": check.flag(where, item, "active", True),
            "sort_order": check.number(where, item, "sort_order", (i + 1) * 10)}


def _area_items(check: _Check, value: Any) -> list[dict]:
    if isinstance(value, dict) and value.get("type") == "FeatureCollection":
        value = value.get("features")
    if not isinstance(value, list):
        check.fail("areas", "phải là GeoJSON FeatureCollection hoặc danh sách khu vực")
        return []
    out = []
    for item in value:
        if isinstance(item, dict) and item.get("type") == "Feature":
            props = item.get("properties")
            item = {**(props if isinstance(props, dict) else {}), "geometry": item.get("geometry")}
        out.append(item if isinstance(item, dict) else {})
    return out


def _area(check: _Check, i: int, item: dict) -> dict[str, Any]:
    where = f"areas[{i}]"
    code = check.code(where, item)
    geometry, box = item.get("geometry"), (0.0, 0.0, 0.0, 0.0)
    try:
        if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
            raise ValueError("chỉ chấp nhận Polygon hoặc MultiPolygon")
        geom = shape(geometry)
        if geom.is_empty or not geom.is_valid:
            raise ValueError(explain_validity(geom) if not geom.is_empty else "hình rỗng")
        box = tuple(float(v) for v in geom.bounds)
        if not all(math.isfinite(v) for v in box) or not (box[0] >= -180 and box[2] <= 180
                                                           and box[1] >= -90 and box[3] <= 90):
            raise ValueError("toạ độ phải là [kinh độ, vĩ độ] hợp lệ")
        geometry = {"type": geometry["type"], "coordinates": _json(geometry["coordinates"])}
    except Exception as exc:  # noqa: BLE001 - shapely raises many kinds for garbage input
        check.fail(where, f"ranh giới của khu vực '{code}' không hợp lệ: {exc}")
        geometry = {}
    return {"code": code, "name": check.text(where, item, "name", required=True),
            "kind": check.text(where, item, "kind", max_len=16, default="ward"), "geometry": geometry,
            "min_lon": box[0], "min_lat": box[1], "max_lon": box[2], "max_lat": box[3],
            "is_synthetic": check.flag(where, item, "is_synthetic"), **check.window(where, item)}


def _rule(check: _Check, i: int, item: dict) -> dict[str, Any]:
    where = f"routing_rules[{i}]"
    category, area = check.code(where, item, "category", required=False), check.code(where, item, "area",
                                                                                        required=False)
    if category is None and area is None:
        check.fail(where, "quy tắc phải có ít nhất 'category' hoặc 'area'")
    priority = check.text(where, item, "priority", max_len=16, default=None)
    if priority is not None and priority not in _PRIORITIES:
        check.fail(where, f"priority '{priority}' không hợp lệ")
    return {"category": category, "area": area, "unit": check.code(where, item, "unit"),
            "priority": priority, "note": check.text(where, item, "note", max_len=500),
            **check.window(where, item)}


def _override(check: _Check, i: int, item: dict) -> dict[str, Any]:
    where = f"calendar_overrides[{i}]"
    day = item.get("day")
    if isinstance(day, str):
        try:
            day = date.fromisoformat(day.strip())
        except ValueError:
            day = None
    if not isinstance(day, date) or isinstance(day, datetime):
        check.fail(where, "'day' phải là ngày dạng YYYY-MM-DD")
        day = None
    if not isinstance(item.get("is_working"), bool):
        check.fail(where, "'is_working' phải là true (ngày làm việc bù) hoặc false (ngày nghỉ)")
    return {"day": day, "is_working": item.get("is_working") is True,
            "note": check.text(where, item, "note")}


def _template(check: _Check, i: int, item: dict) -> dict[str, Any]:
    where = f"reply_templates[{i}]"
    state, locale = check.text(where, item, "state", required=True), check.text(where, item, "locale",
                                                                                 default="vi")
    if state and state not in {s.value for s in State}:
        check.fail(where, f"trạng thái '{state}' không tồn tại")
    if locale not in ("vi", "en"):
        check.fail(where, "locale phải là 'vi' hoặc 'en'")
    return {"category": check.code(where, item, "category", required=False), "state": state, "locale": locale,
            "title": check.text(where, item, "title", required=True),
            "body": check.text(where, item, "body", required=True, max_len=4000)}


def _settings(check: _Check, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        check.fail("settings", "phải là ánh xạ khoá → giá trị")
        return {}
    for key, item in value.items():
        if not isinstance(key, str) or len(key) > 64 or key == "areas_version":
            check.fail("settings", f"khoá '{key}' không hợp lệ")
        elif problem := city_settings.problem(key, item):
            check.fail(f"settings.{key}", problem)
    try:
        return _json(value)
    except ValueError:
        check.fail("settings", "giá trị phải là JSON hợp lệ (không có NaN/Infinity)")
        return {}


def validate(pack: dict[str, Any]) -> dict[str, Any]:
    """Check the whole pack and return it normalised. Raises InvalidInput listing every problem."""
    if not isinstance(pack, dict):
        raise InvalidInput("Gói dữ liệu thành phố phải là một ánh xạ.", code="pack-invalid")
    tz_name = (pack.get("settings") or {}).get("timezone") if isinstance(pack.get("settings"), dict) else None
    if city_settings.problem("timezone", tz_name or city_settings.DEFAULT_TIMEZONE):
        tz_name = None   # reported by _settings
    check = _Check(ZoneInfo(tz_name or city_settings.DEFAULT_TIMEZONE))
    data = {
        "units": [_unit(check, i, x) for i, x in enumerate(_items(check, pack, "units"))],
        "categories": [_category(check, i, x) for i, x in enumerate(_items(check, pack, "categories"))],
        "areas": [_area(check, i, x) for i, x in enumerate(_area_items(check, pack.get("areas") or []))],
        "routing_rules": [_rule(check, i, x) for i, x in enumerate(_items(check, pack, "routing_rules"))],
        "calendar_overrides": [_override(check, i, x)
                               for i, x in enumerate(_items(check, pack, "calendar_overrides"))],
        "reply_templates": [_template(check, i, x) for i, x in enumerate(_items(check, pack, "reply_templates"))],
        "settings": _settings(check, pack.get("settings") or {}),
    }
    _cross_check(check, data)
    if check.errors:
        more = f" (và {len(check.errors) - 1} lỗi khác)" if len(check.errors) > 1 else ""
        raise InvalidInput(f"Gói dữ liệu thành phố không hợp lệ: {check.errors[0]}{more}.",
                           code="pack-invalid", details=check.errors)
    return data


def _cross_check(check: _Check, data: dict[str, Any]) -> None:
    units = {u["code"] for u in data["units"]}
    categories = {c["code"] for c in data["categories"]}
    areas = {a["code"] for a in data["areas"]}
    for kind in ("units", "categories", "areas"):
        _unique(check, kind, [x["code"] for x in data[kind]])
    _unique(check, "routing_rules", [(r["category"], r["area"], r["active_from"]) for r in data["routing_rules"]])
    _unique(check, "calendar_overrides", [o["day"] for o in data["calendar_overrides"]])
    _unique(check, "reply_templates", [(t["category"], t["state"], t["locale"], t["title"])
                                       for t in data["reply_templates"]])
    if sum(1 for u in data["units"] if u["is_triage"]) != 1:
        check.fail("units", "phải có đúng một đơn vị is_triage (Trung tâm điều hành IOC)")
    for i, u in enumerate(data["units"]):
        check.ref(f"units[{i}]", u["parent"], units, "đơn vị cấp trên")
        check.ref(f"units[{i}]", u["successor"], units, "đơn vị kế nhiệm")
        if u["successor"] is not None and u["successor"] == u["code"]:
            check.fail(f"units[{i}]", "đơn vị kế nhiệm phải là một đơn vị khác")
    for i, c in enumerate(data["categories"]):
        check.ref(f"categories[{i}]", c["default_unit"], units, "đơn vị")
    for i, r in enumerate(data["routing_rules"]):
        check.ref(f"routing_rules[{i}]", r["unit"], units, "đơn vị")
        check.ref(f"routing_rules[{i}]", r["category"], categories, "danh mục")
        check.ref(f"routing_rules[{i}]", r["area"], areas, "khu vực")
    for i, t in enumerate(data["reply_templates"]):
        check.ref(f"reply_templates[{i}]", t["category"], categories, "danh mục")
