"""Indexes for unit KPIs: reports by unit and last update, and hops out of a unit (DESIGN §14).

A unit's monthly KPIs start from the reports that may carry a fact for the unit in the month:
reports now held by the unit and updated since the month began (``ix_reports_unit_updated``),
and reports that left the unit since then (``ix_report_events_from_unit``, hop events only).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 01:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index("ix_reports_unit_updated", ["unit_id", "updated_at"], unique=False)
    with op.batch_alter_table("report_events", schema=None) as batch_op:
        batch_op.create_index("ix_report_events_from_unit", ["from_unit_id", "at"], unique=False,
                              postgresql_where=sa.text("from_unit_id IS NOT NULL"),
                              sqlite_where=sa.text("from_unit_id IS NOT NULL"))


def downgrade() -> None:
    with op.batch_alter_table("report_events", schema=None) as batch_op:
        batch_op.drop_index("ix_report_events_from_unit", postgresql_where=sa.text("from_unit_id IS NOT NULL"),
                            sqlite_where=sa.text("from_unit_id IS NOT NULL"))
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index("ix_reports_unit_updated")
