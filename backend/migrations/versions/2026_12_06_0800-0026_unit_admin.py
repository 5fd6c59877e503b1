"""Unit and staff administration: a unit can scope its officers' queues to their own categories
(``units.category_scoped``, with ``staff.category_ids`` from 0024), and an account whose password an admin
reset must choose a new one before anything else (``staff.must_change_password``).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 07:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | Sequence[str] | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.add_column(sa.Column("category_scoped", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.add_column(sa.Column("must_change_password", sa.Boolean(), server_default=sa.false(),
                                      nullable=False))


def downgrade() -> None:
    # plain DROP COLUMN (SQLite ≥ 3.35), as 0019 and 0024 do
    op.drop_column("staff", "must_change_password")
    op.drop_column("units", "category_scoped")
