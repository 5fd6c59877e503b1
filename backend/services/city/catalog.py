"""The city's catalogue: categories (Open311 services) and units looked up by code.

Read-only helpers shared by the API, Open311, the bots and admin; unknown codes raise domain errors.
Any ORM flush that changes a category (city pack load, admin edit) rewrites the setting
:data:`CATALOG_VERSION_KEY` in the same flush: :func:`catalog_changed_at` is the time of the last change
(Open311 discovery's ``changeset``).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session, col, select

from backend.db import database_key
from backend.errors import InvalidInput, NotFound
from backend.models.categories import Category
from backend.models.settings import CitySetting
from backend.models.units import Unit
from backend.services.city import settings as city_settings

CATALOG_VERSION_KEY = "catalog_version"
city_settings.stamp_on_change(CATALOG_VERSION_KEY, (Category,))


def catalog_changed_at(session: Session) -> datetime:
    """When a category (a service, its definition) last changed; before any stamp, the newest category."""
    stamp = session.get(CitySetting, CATALOG_VERSION_KEY)
    if stamp is not None:
        return stamp.updated_at
    newest = session.exec(select(Category.created_at).order_by(col(Category.created_at).desc())).first()
    return newest or datetime(2026, 1, 1, tzinfo=UTC)


def active_categories(session: Session) -> list[Category]:
    """Active categories in display order."""
    return list(session.exec(select(Category).where(Category.active == True)  # noqa: E712
                             .order_by(Category.sort_order, Category.group_code, Category.code)))


def category_by_code(session: Session, code: str) -> Category | None:
    return session.exec(select(Category).where(Category.code == code)).first()


_by_code: dict[str, tuple[tuple[Any, ...], dict[str, Category]]] = {}
_by_code_lock = threading.Lock()
_generation = 0  # bumped whenever a session in this process flushes a Category change


@event.listens_for(OrmSession, "after_flush")
def _note_category_changes(session: OrmSession, _context: Any) -> None:
    global _generation
    if any(isinstance(obj, Category) for obj in (*session.new, *session.dirty, *session.deleted)):
        _generation += 1


def _snapshot(session: Session) -> dict[str, Category]:
    """Detached copies of every category by code, per database, valid while :data:`CATALOG_VERSION_KEY`
    (rewritten by any ORM flush of a Category, read with the transaction's settings snapshot) and this
    process's generation are unchanged. Whoever edits categories with raw SQL must rewrite that setting."""
    if city_settings.has_changes(session, (Category,)):
        session.flush()   # pending edits must count, as a query would autoflush them
    key = database_key(session)
    fingerprint = (city_settings.get(session, CATALOG_VERSION_KEY), _generation)
    cached = _by_code.get(key)
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    copies = {}
    for row in session.exec(select(Category)).all():
        copy = Category(**row.model_dump())
        make_transient_to_detached(copy)
        copies[copy.code] = copy
    with _by_code_lock:
        _by_code[key] = (fingerprint, copies)
    return copies


def cached_category(session: Session, code: str) -> Category | None:
    """The category ``code`` in ``session`` without a query while the catalogue is unchanged (the
    per-process snapshot merged in with ``load=False``; a copy already in the session is returned as is)."""
    cached = _snapshot(session).get(code)
    if cached is None:
        return None
    present = session.identity_map.get(identity_key(Category, cached.id))
    return present if present is not None else session.merge(cached, load=False)


def category_id_for(session: Session, code: str | None) -> int | None:
    """The id of the category ``code`` (None when no code is given); InvalidInput for an unknown code."""
    if not code:
        return None
    category = category_by_code(session, code)
    if category is None:
        raise InvalidInput("Lĩnh vực không tồn tại.", code="unknown-category")
    return category.id


def unit_id_for(session: Session, code: str | None) -> int | None:
    """The id of the unit ``code`` (None when no code is given); NotFound ``unknown-unit`` otherwise."""
    if not code:
        return None
    unit_id = session.exec(select(Unit.id).where(Unit.code == code)).first()
    if unit_id is None:
        raise NotFound(f"Không có đơn vị mã {code}.", code="unknown-unit")
    return unit_id


def categories_by_id(session: Session, ids: set[int]) -> dict[int, Category]:
    if not ids:
        return {}
    return {c.id: c for c in session.exec(select(Category).where(col(Category.id).in_(ids)))}  # type: ignore[misc]


def localized_attributes(category: Category, locale: str) -> list[dict[str, Any]]:
    """Open311-style attributes with descriptions/value names in ``locale`` (vi fallback)."""
    out = []
    for attr in category.attributes or []:
        if not isinstance(attr, dict) or not attr.get("code"):
            continue
        desc = attr.get(f"description_{locale}") or attr.get("description_vi") or attr.get("description") or ""
        values = [{"key": str(v.get("key")),
                   "name": str(v.get(f"name_{locale}") or v.get("name_vi") or v.get("name") or v.get("key"))}
                  for v in attr.get("values") or [] if isinstance(v, dict) and v.get("key") is not None]
        out.append({"code": str(attr["code"]), "datatype": str(attr.get("datatype") or "string"),
                    "required": bool(attr.get("required")), "order": int(attr.get("order") or 0),
                    "description": desc, "values": values})
    return sorted(out, key=lambda a: a["order"])
