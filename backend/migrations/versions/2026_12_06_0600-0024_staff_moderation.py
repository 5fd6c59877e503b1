"""Staff moderation and administration: a report hidden from public channels (``reports.hidden_at``; the
reason is on its ``hidden`` event) and the reporter's original text kept privately once staff edit it
(``reports.original_description``); categories scoped per staff account (``staff.category_ids``); a unit's
successor for reroutes once it ends (``units.successor_id``).

Revision ID: 0024
Revises: 0021
Create Date: 2026-12-06 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backend.models.base import JSONType, UTCDateTime

revision: str = "0024"
down_revision: str | Sequence[str] | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hidden_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("original_description", sa.Text(), nullable=True))
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.add_column(sa.Column("category_ids", JSONType, server_default="[]", nullable=False))
    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.add_column(sa.Column("successor_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    # plain ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35), as 0019 does: a batch copy would drop and recreate the
    # table, which SQLite refuses once rows of other tables reference it
    op.drop_column("units", "successor_id")
    op.drop_column("staff", "category_ids")
    op.drop_column("reports", "original_description")
    op.drop_column("reports", "hidden_at")
