"""Zalo delivery tiers and the consented phone: deliveries.tier (cs_free | cs_paid | zns) with an index for
the month's paid-message counts, and identities.phone / phone_consented_at (the number a resident shared
for ZNS notifications; personal data, erased with the identity by retention).

Revision ID: 0017
Revises: 0019
Create Date: 2026-12-06 04:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backend.models.base import UTCDateTime

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tier", sa.String(length=8), nullable=True))
        batch_op.create_index("ix_deliveries_tier", ["tier", "sent_at"], unique=False)
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("phone_consented_at", UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.drop_column("phone_consented_at")
        batch_op.drop_column("phone")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_tier")
        batch_op.drop_column("tier")
