"""The time an Open311 client says its update happened (``updated_datetime``), kept for the audit trail.

The report event itself is recorded at the time we apply the update (events are appended with the
current time; KPIs rely on it); the client's own instant is stored beside its dedup row.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 04:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backend.models.base import UTCDateTime

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("external_updates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_updated_at", UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("external_updates", schema=None) as batch_op:
        batch_op.drop_column("external_updated_at")
