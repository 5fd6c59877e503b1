"""The Open311 client that sent a report (its "sender"), and the sender's own id of the report.

A sender may post updates on the reports it created (mySociety's servicerequestupdates extension), so
a report remembers which API client's POST created it: ``reports.api_client_id``, filled for existing
reports from their ``created`` event. ``sender_ref`` is the sender's explicit id of a submission
(``Idempotency-Key``, ``external_id`` or ``attribute[fixmystreet_id]``): a repeat of the POST with the
same one finds the first report (unique per sender); without it, identical POSTs are two reports.

Plain columns and an index, no foreign key: SQLite adds and drops them in place (a foreign key would
make it rebuild ``reports``, which its children's foreign keys forbid inside the migration's
transaction). API clients are never deleted, only revoked.

Revision ID: 0019
Revises: 0004
Create Date: 2026-12-06 03:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL = """
UPDATE reports SET api_client_id = (
    SELECT CAST(e.actor_id AS INTEGER) FROM report_events e
    WHERE e.report_id = reports.id AND e.kind = 'created' AND e.actor_kind = 'api_client'
      AND CAST(e.actor_id AS INTEGER) IN (SELECT id FROM api_clients)
    ORDER BY e.id LIMIT 1)
WHERE channel = 'open311'
"""


def upgrade() -> None:
    op.add_column("reports", sa.Column("api_client_id", sa.Integer(), nullable=True))
    op.add_column("reports", sa.Column("sender_ref", sa.String(length=128), nullable=True))
    op.create_index("uq_reports_sender_ref", "reports", ["api_client_id", "sender_ref"], unique=True)
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_index("uq_reports_sender_ref", table_name="reports")
    op.drop_column("reports", "sender_ref")
    op.drop_column("reports", "api_client_id")
