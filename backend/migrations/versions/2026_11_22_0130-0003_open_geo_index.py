"""Partial index on the location of open, non-duplicate reports for the nearby-duplicate lookup.

The duplicate suggestion shown before submitting (``GET /api/v1/reports/nearby``) only looks at open
reports that are not duplicates; at 1,000,000 reports this index took the lookup's p95 from 11 ms to
0.2 ms (EXPLAIN ANALYZE in bench/RESULTS.md).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 01:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_NOT_DUPLICATE = ("status IN ('received','triage','assigned','acknowledged','in_progress','on_hold','reopened')"
                      " AND duplicate_of_id IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index("ix_reports_open_geo", ["lat", "lon"], unique=False,
                              postgresql_where=sa.text(OPEN_NOT_DUPLICATE), sqlite_where=sa.text(OPEN_NOT_DUPLICATE))


def downgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index("ix_reports_open_geo", postgresql_where=sa.text(OPEN_NOT_DUPLICATE),
                            sqlite_where=sa.text(OPEN_NOT_DUPLICATE))
