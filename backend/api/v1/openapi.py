"""A small pydantic-based OpenAPI 3.1 layer for the v1 blueprint.

``route(...)`` registers a Flask view *and* its description (query model, body model, responses);
``document()`` builds ``/api/v1/openapi.json`` from those descriptions with pydantic's JSON Schema
(2020-12, which OpenAPI 3.1 uses as is). ``query(Model)`` / ``body(Model)`` parse and validate the
request inside the views and raise problem+json errors on bad input.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, request
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from backend.errors import InvalidInput, TooLarge, Unsupported
from backend.schemas import inputs
from backend.schemas.common import Problem

REF = "#/components/schemas/{model}"
MAX_JSON_BYTES = 64 * 1024
PROBLEM_MEDIA = "application/problem+json"


BadRequest = inputs.BadJSON


@dataclass
class Operation:
    method: str
    path: str  # Flask syntax: /reports/<code>
    summary: str
    tag: str
    responses: dict[int, type[BaseModel] | None]
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    multipart: dict[str, Any] | None = None
    auth: str = "none"  # none | required
    headers: list[dict[str, Any]] = field(default_factory=list)
    errors: tuple[int, ...] = ()
    description: str = ""

    @property
    def openapi_path(self) -> str:
        out = self.path
        while "<" in out:
            start, end = out.index("<"), out.index(">")
            name = out[start + 1:end].split(":")[-1]
            out = out[:start] + "{" + name + "}" + out[end + 1:]
        return out


OPERATIONS: list[Operation] = []


def route(bp: Blueprint, method: str, path: str, *, summary: str, tag: str,
          responses: dict[int, type[BaseModel] | None], **meta: Any) -> Callable[[Callable], Callable]:
    """Register ``fn`` on ``bp`` for ``method path`` and describe it in the OpenAPI document.

    ``auth="required"`` authenticates the caller before the view runs, so a request without a valid
    token is answered 401 before its query or body is read or validated.
    """
    op = Operation(method=method.lower(), path=path, summary=summary, tag=tag, responses=responses, **meta)
    OPERATIONS.append(op)

    def deco(fn: Callable) -> Callable:
        endpoint = f"{fn.__name__}_{method.lower()}"
        view = _authenticated(fn) if op.auth == "required" else fn
        bp.add_url_rule(path, endpoint=endpoint, view_func=view, methods=[method.upper()])
        fn.operation = op  # type: ignore[attr-defined]
        view.operation = op  # type: ignore[attr-defined]
        return view

    return deco


def _authenticated(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def view(*args: Any, **kwargs: Any) -> Any:
        from backend.api.v1.auth import current_resident_id  # auth imports services; keep this module light

        current_resident_id()  # raises Unauthorized (401) first; cached on g for the view
        return fn(*args, **kwargs)

    return view


# ---------------------------------------------------------------------------- request parsing


#: pydantic's error types in Vietnamese (its own messages are English: "Field required")
PYDANTIC_MESSAGES = {
    "missing": "Thiếu trường bắt buộc.", "extra_forbidden": "Trường này không được nhận.",
    "string_type": "Phải là chuỗi ký tự.", "string_too_long": "Quá dài.", "string_too_short": "Quá ngắn.",
    "int_type": "Phải là số nguyên.", "int_parsing": "Phải là số nguyên.", "float_type": "Phải là số.",
    "float_parsing": "Phải là số.", "bool_type": "Phải là true hoặc false.", "bool_parsing": "Phải là true hoặc false.",
    "greater_than_equal": "Giá trị quá nhỏ.", "less_than_equal": "Giá trị quá lớn.", "greater_than": "Giá trị quá nhỏ.",
    "less_than": "Giá trị quá lớn.", "list_type": "Phải là một danh sách.", "dict_type": "Phải là một đối tượng.",
    "model_type": "Phải là một đối tượng.", "too_long": "Quá nhiều phần tử.", "too_short": "Quá ít phần tử.",
    "literal_error": "Giá trị không nằm trong các giá trị cho phép.",
    "enum": "Giá trị không nằm trong các giá trị cho phép.",
    "finite_number": "Phải là một số hữu hạn.", "datetime_parsing": "Thời gian không hợp lệ.",
    "datetime_type": "Thời gian không hợp lệ.", "json_invalid": "JSON không hợp lệ.",
}


def _message(error: Any) -> str:
    if error["type"] == "value_error":  # our own validators speak Vietnamese already
        return str(error["msg"]).removeprefix("Value error, ")
    return PYDANTIC_MESSAGES.get(error["type"], "Giá trị không hợp lệ.")


def _invalid(exc: ValidationError) -> InvalidInput:
    errors = [{"loc": [str(p) if not isinstance(p, int) else p for p in e["loc"]], "msg": _message(e),
               "type": e["type"]} for e in exc.errors(include_url=False, include_context=False,
                                                      include_input=False)]
    return InvalidInput("Dữ liệu gửi lên không hợp lệ; xem chi tiết từng trường.", code="invalid-input",
                        details=errors)


def validate(model: type[BaseModel], data: Any) -> Any:
    """``data`` as ``model``; text the database cannot store (NUL, lone surrogates) is refused first."""
    inputs.refuse_unstorable(data)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc) from None


def query(model: type[BaseModel]) -> Any:
    """Validate the query string (repeated keys are refused, unknown keys are refused)."""
    data: dict[str, Any] = {}
    for key in request.args:
        values = request.args.getlist(key)
        if len(values) > 1:
            raise InvalidInput(f"Tham số {key!r} chỉ được có một giá trị.", code="invalid-input")
        data[key] = values[0]
    return validate(model, data)


def body(model: type[BaseModel]) -> Any:
    """Validate a JSON body (≤ 64 KiB, checked before reading it)."""
    if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
        raise TooLarge("Nội dung gửi lên quá lớn.", code="too-large")
    if not request.is_json:
        raise Unsupported("Nội dung phải là JSON (Content-Type: application/json).",
                          code="unsupported-media-type")
    raw = request.get_data(cache=True)
    if len(raw) > MAX_JSON_BYTES:
        raise TooLarge("Nội dung gửi lên quá lớn.", code="too-large")
    data = inputs.load_json(raw)  # 400 for non-JSON or nesting deeper than inputs.MAX_JSON_DEPTH
    if data is None:
        raise BadRequest("Nội dung JSON không đọc được.", code="bad-request")
    return validate(model, data)


def optional_body(model: type[BaseModel]) -> Any:
    """Like ``body`` but an empty request means the model's defaults."""
    if not request.content_length and not request.get_data(cache=True):
        return validate(model, {})
    return body(model)


def dump(model: type[BaseModel], obj: Any) -> dict[str, Any]:
    """Serialise through the response model (so the document and the answer agree)."""
    return _validated(model, obj).model_dump(mode="json")


def dump_json(model: type[BaseModel], obj: Any) -> str:
    """:func:`dump` as compact JSON text (encoded by pydantic's serializer in one pass; non-ASCII as is)."""
    return _validated(model, obj).model_dump_json()


def _validated(model: type[BaseModel], obj: Any) -> BaseModel:
    return obj if isinstance(obj, model) else model.model_validate(obj, from_attributes=True)


# ---------------------------------------------------------------------------- the document


def _strip_null(schema: dict[str, Any]) -> dict[str, Any]:
    """Optional query parameters are simply absent: drop the ``null`` branch."""
    any_of = schema.get("anyOf")
    if any_of:
        rest = [s for s in any_of if s.get("type") != "null"]
        if len(rest) == 1:
            merged = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
            merged.update(rest[0])
            return merged
    return {k: v for k, v in schema.items() if not (k == "default" and v is None)}


def _query_params(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema.get("properties", {}).items():
        prop = _strip_null(dict(prop))
        desc = prop.pop("description", None)
        prop.pop("title", None)
        param = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if desc:
            param["description"] = desc
        params.append(param)
    return params


def _path_params(op: Operation) -> list[dict[str, Any]]:
    out = []
    for part in op.path.split("/"):
        if part.startswith("<"):
            conv, _, name = part[1:-1].rpartition(":")
            schema = {"type": "integer", "minimum": 1} if conv == "int" else {"type": "string", "maxLength": 64}
            out.append({"name": name, "in": "path", "required": True, "schema": schema})
    return out


def document(*, title: str, version: str, server_url: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every registered operation."""
    models: list[tuple[type[BaseModel], str]] = [(Problem, "serialization")]
    for op in OPERATIONS:
        if op.body is not None:
            models.append((op.body, "validation"))
        models += [(m, "serialization") for m in op.responses.values() if m is not None]
    keyed, defs = models_json_schema(list(dict.fromkeys(models)), ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.openapi_path, {})[op.method] = _operation(op, keyed)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "API cho ứng dụng di động phản ánh hiện trường (Smart City).\n\n"
                                "Mobile app API: residents authenticate with a Firebase ID token."},
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"firebase": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                             "description": "Firebase ID token"}},
        },
    }


def _operation(op: Operation, keyed: dict[Any, Any]) -> dict[str, Any]:
    problem = {"description": "Problem", "content": {PROBLEM_MEDIA: {"schema": keyed[(Problem, "serialization")]}}}
    out: dict[str, Any] = {"summary": op.summary, "tags": [op.tag],
                           "operationId": f"{op.method}_{op.openapi_path.strip('/').replace('/', '_')}"
                           .replace("{", "").replace("}", "")}
    if op.description:
        out["description"] = op.description
    params = _path_params(op) + (_query_params(op.query) if op.query else []) + op.headers
    if params:
        out["parameters"] = params
    if op.body is not None:
        out["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": keyed[(op.body, "validation")]}}}
    elif op.multipart is not None:
        out["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": op.multipart}}}
    responses: dict[str, Any] = {}
    for status, model in op.responses.items():
        if model is None:
            responses[str(status)] = {"description": "No content"}
        else:
            responses[str(status)] = {"description": "OK", "content": {
                "application/json": {"schema": keyed[(model, "serialization")]}}}
    for status in sorted({400, 413, 415, 422, 429, 503, *op.errors}):
        responses.setdefault(str(status), problem)
    if op.auth == "required":
        out["security"] = [{"firebase": []}]
        responses.setdefault("401", problem)
    responses["default"] = problem
    out["responses"] = responses
    return out


@functools.cache
def cached_document(title: str, version: str, server_url: str) -> dict[str, Any]:
    return document(title=title, version=version, server_url=server_url)
