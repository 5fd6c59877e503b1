"""Category shapes for the app: localized names, Open311-style attributes, emergency hotline."""

from __future__ import annotations

from pydantic import BaseModel


class AttributeValue(BaseModel):
    key: str
    name: str


class CategoryAttribute(BaseModel):
    """An Open311 service-definition attribute, localized."""

    code: str
    datatype: str
    required: bool = False
    order: int = 0
    description: str = ""
    values: list[AttributeValue] = []


class CategoryGroup(BaseModel):
    code: str
    name: str


class CategoryPublic(BaseModel):
    """A category residents may pick. Emergencies are not accepted: call ``hotline`` instead."""

    code: str
    name: str
    description: str = ""
    group: CategoryGroup
    is_emergency: bool = False
    hotline: str | None = None
    requires_after_photo: bool = False
    attributes: list[CategoryAttribute] = []


class CategoryList(BaseModel):
    items: list[CategoryPublic]
    hotlines: dict[str, str] = {}
