"""Reply templates: formal Vietnamese (and English) public replies per category x target state."""

from __future__ import annotations

from sqlmodel import Field, SQLModel, UniqueConstraint


class ReplyTemplate(SQLModel, table=True):
    __tablename__ = "reply_templates"
    __table_args__ = (UniqueConstraint("category_id", "state", "locale", "title", name="uq_reply_template"),)

    id: int | None = Field(default=None, primary_key=True)
    category_id: int | None = Field(default=None, foreign_key="categories.id")
    state: str = Field(max_length=32)
    locale: str = Field(default="vi", max_length=8)
    title: str = Field(max_length=255)
    body: str = Field(max_length=4000)
