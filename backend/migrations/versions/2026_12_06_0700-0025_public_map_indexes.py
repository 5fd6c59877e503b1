"""Partial indexes for the city's public map and list (``/``, ``/map.json``): the newest publicly listed
reports overall, of one ward and of one category, in the order the page shows them (``created_at``, ``id``
newest first).

The predicate is the part of the public rule (``publication.public_clause``) without a bound parameter —
not hidden, not a duplicate, with a point — so PostgreSQL's generic plans can use the indexes too; the rest
of the rule (not rejected, moderation) is filtered during the scan. At 1,000,000 reports ``/map.json?ward=``
read every report of the ward and sorted them (386 ms p95); with ``ix_reports_public_area`` it reads the
newest ones in index order (figures in bench/RESULTS.md).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 07:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | Sequence[str] | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PUBLIC_LISTED = "hidden_at IS NULL AND duplicate_of_id IS NULL AND lat IS NOT NULL AND lon IS NOT NULL"
INDEXES = {"ix_reports_public_created": ["created_at", "id"],
           "ix_reports_public_area": ["area_id", "created_at", "id"],
           "ix_reports_public_category": ["category_id", "created_at", "id"]}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "reports", columns, unique=False, postgresql_where=sa.text(PUBLIC_LISTED),
                        sqlite_where=sa.text(PUBLIC_LISTED))


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="reports")
