"""Moderation: staff edit or redact what the public reads of a report, and hide it from public channels.

Three workflow actions (``workflow.apply`` runs them: role × unit check, version, savepoint), staff only —
never an Open311 unit system:

- ``edit_text`` (``description``, ``reason``): the public description changes; the reporter's own words are
  kept privately in ``reports.original_description`` the first time; an internal ``text_edited`` event says
  who and why (with the text before the change, for the record).
- ``hide`` / ``unhide`` (``reason``): ``reports.hidden_at`` set or cleared; internal ``hidden`` /
  ``unhidden`` events with the reason. What "hidden" means for each channel is ``visibility.listed``.

Blurring a region of a photo is ``photos.redact`` (the public copy and thumbnails are regenerated; the
original is untouched).
"""

from __future__ import annotations

from backend.errors import Conflict, Forbidden, InvalidInput
from backend.models.categories import Category
from backend.models.reports import ActorKind, EventKind, ReportEvent
from backend.services.reports.effects import Context, Effect, build_search_text, record
from backend.services.reports.fields import MAX_REASON, text_field

MAX_DESCRIPTION = 4000


def _staff_only(ctx: Context) -> None:
    if ctx.actor.kind != ActorKind.STAFF:
        raise Forbidden("Chỉ cán bộ mới được biên tập phản ánh.", code="action-forbidden")


def edit_text(ctx: Context) -> Effect:
    """Replace the public description (a redaction is an edit); the original is kept privately."""
    _staff_only(ctx)
    report = ctx.report
    text = text_field(ctx, "description", max_len=MAX_DESCRIPTION)
    reason = text_field(ctx, "reason", max_len=MAX_REASON)
    if text == report.description:
        raise InvalidInput("Nội dung mới giống hệt nội dung hiện tại.", code="description-unchanged")

    def effect() -> ReportEvent:
        before = report.description
        if report.original_description is None:
            report.original_description = before
        report.description = text or ""
        category = ctx.session.get(Category, report.category_id) if report.category_id else None
        report.search_text = build_search_text(report, category)
        return record(ctx, EventKind.TEXT_EDITED, is_public=False,
                      data={"reason": reason, "before": before, "actor_name": ctx.actor.name})

    return effect


def hide(ctx: Context) -> Effect:
    """Hide the report from public channels, with a reason."""
    _staff_only(ctx)
    reason = text_field(ctx, "reason", max_len=MAX_REASON)
    if ctx.report.hidden_at is not None:
        raise Conflict("Phản ánh này đã được ẩn.", code="already-hidden")

    def effect() -> ReportEvent:
        ctx.report.hidden_at = ctx.at
        return record(ctx, EventKind.HIDDEN, is_public=False, data={"reason": reason, "actor_name": ctx.actor.name})

    return effect


def unhide(ctx: Context) -> Effect:
    """Show a hidden report on public channels again, with a reason."""
    _staff_only(ctx)
    reason = text_field(ctx, "reason", max_len=MAX_REASON)
    if ctx.report.hidden_at is None:
        raise Conflict("Phản ánh này đang hiển thị công khai.", code="not-hidden")

    def effect() -> ReportEvent:
        ctx.report.hidden_at = None
        return record(ctx, EventKind.UNHIDDEN, is_public=False,
                      data={"reason": reason, "actor_name": ctx.actor.name})

    return effect


PREPARE = {"edit_text": edit_text, "hide": hide, "unhide": unhide}
