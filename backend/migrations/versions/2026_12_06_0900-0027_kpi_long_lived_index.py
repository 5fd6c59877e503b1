"""Partial index of long-lived reports for the KPIs of an old month.

``deadlines.candidates.candidate_ids`` searches a unit's reports over [start, end + 31 days) only; a report
created before the month's end that changed more than 31 days later is found through this index (on PostgreSQL
only the long-lived ones: 0.5 % of the benchmark's million). Before it, the IOC's month of May cost 241–500 ms
in candidate search alone, growing with the month's age (figures in bench/RESULTS.md).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | Sequence[str] | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LONG_LIVED = "updated_at - created_at > interval '31 days'"


def upgrade() -> None:
    op.create_index("ix_reports_long_lived", "reports", ["updated_at", "unit_id", "created_at"], unique=False,
                    postgresql_where=sa.text(LONG_LIVED))


def downgrade() -> None:
    op.drop_index("ix_reports_long_lived", table_name="reports")
