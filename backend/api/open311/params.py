"""Open311 request parameters: query string and body merged, empty values treated as absent.

The spec says a parameter passed empty must behave exactly like one not passed (``open311`` 1.1
and GeoReporter send ``jurisdiction_id=``). Datetimes are parsed tolerantly (``Z``, ``±HH:MM``,
fractions, naive = UTC, date only); attributes come as ``attribute[CODE]``, ``attribute[CODE][]``
or a repeated ``attribute[CODE]``.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

from flask import request

from backend.errors import InvalidInput
from backend.models.categories import Category
from backend.schemas import inputs

_ATTRIBUTE = re.compile(r"^attribute\[([^\[\]]{1,64})\](\[\])?$")
MAX_LIST_ITEMS = 200


def _raw(name: str, *, check: bool = True) -> list[str]:
    values = request.args.getlist(name)
    if request.method == "POST":
        values = values + request.form.getlist(name)
    for value in values if check else ():
        if value is not None and inputs.unstorable(value):
            raise InvalidInput(f"Tham số {name} có ký tự không hợp lệ (NUL).", code="invalid-characters")
    return [v.strip() for v in values if v is not None and v.strip() != ""]


def get(name: str) -> str | None:
    """The first non-empty value of ``name`` (body or query string), stripped; ``None`` if absent."""
    values = _raw(name)
    return values[0] if values else None


def get_all(name: str) -> list[str]:
    """Every non-empty value of a repeatable parameter (e.g. ``media_url``)."""
    return _raw(name)


def get_list(name: str) -> list[str]:
    """A comma-separated list parameter (``service_code=A,B``), empty items dropped."""
    items: list[str] = []
    for value in _raw(name):
        items.extend(part.strip() for part in value.split(",") if part.strip())
    if len(items) > MAX_LIST_ITEMS:
        raise InvalidInput(f"Tham số {name} có quá nhiều giá trị (tối đa {MAX_LIST_ITEMS}).",
                           code="too-many-values")
    return items


def get_int(name: str, *, default: int | None = None, minimum: int = 0, maximum: int | None = None
            ) -> int | None:
    value = get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise InvalidInput(f"Tham số {name} phải là số nguyên.", code="invalid-integer") from None
    if number < minimum or (maximum is not None and number > maximum):
        raise InvalidInput(f"Tham số {name} nằm ngoài khoảng cho phép.", code="out-of-range")
    return number


def get_float(name: str) -> float | None:
    value = get(name)
    if value is None:
        return None
    try:
        number = float(value.replace(",", "."))
    except ValueError:
        raise InvalidInput(f"Tham số {name} phải là số.", code="invalid-number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise InvalidInput(f"Tham số {name} phải là số hữu hạn.", code="invalid-number")
    return number


def get_datetime(name: str) -> datetime | None:
    value = get(name)
    return None if value is None else parse_datetime(value, name=name)


def attributes() -> dict[str, str | list[str]]:
    """``attribute[CODE]`` answers: a string, or a list for ``[]`` / repeated keys. Empty dropped."""
    sources = [request.args]
    if request.method == "POST":
        sources.append(request.form)
    answers: dict[str, str | list[str]] = {}
    for source in sources:
        for key in source:
            match = _ATTRIBUTE.match(key)
            if not match:
                continue
            values = [v.strip() for v in source.getlist(key) if v and v.strip()]
            if inputs.unstorable(key) or any(inputs.unstorable(v) for v in values):
                raise InvalidInput(f"Tham số {key[:80]!r} có ký tự không hợp lệ (NUL).", code="invalid-characters")
            if not values:
                continue
            code = match.group(1)
            previous = answers.get(code)
            if previous is not None:
                merged = (previous if isinstance(previous, list) else [previous]) + values
                answers[code] = merged
            elif match.group(2) or len(values) > 1:
                answers[code] = values
            else:
                answers[code] = values[0]
    return answers


def api_key() -> str | None:
    """``api_key`` from body or query string, else ``Authorization: Bearer KEY``. Read as sent (only
    compared by hash), so a malformed key is refused as a wrong key (403) before anything else."""
    keys = _raw("api_key", check=False)
    if keys:
        return keys[0].replace("\x00", "\ufffd")  # a NUL never matches a key, and never reaches SQL
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def sender_ref() -> str | None:
    """The sender's explicit id of a submission: ``Idempotency-Key`` (header or ``idempotency_key``), or
    its own id of the report (``external_id``, FixMyStreet's ``attribute[fixmystreet_id]``)."""
    header = (request.headers.get("Idempotency-Key") or "").strip()
    return header or get("idempotency_key") or get("external_id") or get("attribute[fixmystreet_id]")


def locale() -> str:
    """``vi`` unless ``locale=en…`` / ``lang=en`` or the client prefers English."""
    forced = get("locale") or get("lang")
    if forced:
        return "en" if forced.lower().startswith("en") else "vi"
    best = request.accept_languages.best_match(["vi", "en"], default="vi")
    return best or "vi"


def parse_datetime(value: str, *, name: str = "datetime") -> datetime:
    """Tolerant W3C/ISO 8601: ``Z``, ``±HH:MM``/``±HHMM``, fractions, naive (= UTC), date only.

    Returns an aware UTC datetime within the years :mod:`backend.schemas.inputs` accepts (1970–2099).
    Raises InvalidInput.
    """
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text)
    if " " in text and "T" not in text:
        text = text.replace(" ", "T", 1)
    text = re.sub(r"T(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$", r"T\1+\2", text)  # unencoded "+"
    try:
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        if not inputs.within_range(parsed):
            raise InvalidInput(f"{name} phải nằm trong khoảng {inputs.EARLIEST.year}–{inputs.LATEST.year - 1}.",
                               code="out-of-range")
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidInput(f"{name} không phải ngày giờ hợp lệ (ISO 8601, ví dụ 2025-01-31T08:00:00Z).",
                           code="invalid-datetime") from None


def validate_attributes(category: Category, answers: dict[str, str | list[str]]) -> dict[str, Any]:
    """Check ``attribute[CODE]`` answers against the service definition; unknown codes are dropped.

    Numbers become numbers, datetimes W3C strings, list answers are checked against the keys.
    Raises InvalidInput whose ``details`` lists one message per problem.
    """
    problems: list[str] = []
    clean: dict[str, Any] = {}
    for attr in sorted(category.attributes or [], key=lambda a: a.get("order") or 0):
        code = str(attr.get("code"))
        if attr.get("variable") is False:
            continue
        answer = answers.get(code)
        if answer is None or answer == []:
            if attr.get("required"):
                problems.append(f"{code} required: thiếu thuộc tính bắt buộc attribute[{code}].")
            continue
        try:
            clean[code] = _answer(attr, answer)
        except ValueError as exc:
            problems.append(f"{code}: {exc}")
    if problems:
        raise InvalidInput(problems[0], code="invalid-attribute", details=problems)
    return clean


def _answer(attr: dict[str, Any], answer: str | list[str]) -> Any:
    datatype = attr.get("datatype", "string")
    values = answer if isinstance(answer, list) else [answer]
    keys = {str(v.get("key")) for v in attr.get("values") or []}
    if datatype == "multivaluelist":
        bad = [v for v in values if v not in keys]
        if bad:
            raise ValueError(f"giá trị không hợp lệ: {', '.join(bad)[:200]}.")
        return list(dict.fromkeys(values))
    if len(values) > 1:
        raise ValueError("chỉ nhận một giá trị.")
    value = values[0]
    if datatype == "singlevaluelist":
        if value not in keys:
            raise ValueError(f"giá trị không hợp lệ: {value[:100]}.")
        return value
    if datatype == "number":
        try:
            number = float(value.replace(",", "."))
        except ValueError:
            raise ValueError("phải là số.") from None
        if not math.isfinite(number):
            raise ValueError("phải là số hữu hạn.")
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if datatype == "datetime":
        try:
            return parse_datetime(value).strftime("%Y-%m-%dT%H:%M:%SZ")
        except InvalidInput:
            raise ValueError("phải là ngày giờ ISO 8601.") from None
    limit = 4000 if datatype == "text" else 500
    if len(value) > limit:
        raise ValueError(f"dài quá {limit} ký tự.")
    return value
