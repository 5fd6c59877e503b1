"""Migration 0019: existing Open311 reports learn their sender from their ``created`` event."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Integer, MetaData, String, Text, insert, select
from test_migrations import scratch_url  # noqa: F401 - the scratch database fixture

from backend import db as dbmod


def _row(table: Any, **values: Any) -> dict[str, Any]:
    """``values`` plus a plausible value for every other NOT NULL column without a server default."""
    now = datetime(2026, 11, 1, tzinfo=UTC)
    for column in table.columns:
        if column.name in values or column.nullable or column.server_default is not None or column.primary_key:
            continue
        kind = column.type
        values[column.name] = (now if isinstance(kind, DateTime) else False if isinstance(kind, Boolean)
                               else 0 if isinstance(kind, Integer) else "x" if isinstance(kind, String | Text)
                               else {})
    return values


def test_open311_reports_get_their_sender(scratch_url):  # noqa: F811
    dbmod.upgrade(scratch_url, "0004")
    engine = dbmod.make_engine(scratch_url)
    meta = MetaData()
    meta.reflect(engine)
    clients, reports, events = meta.tables["api_clients"], meta.tables["reports"], meta.tables["report_events"]
    with engine.begin() as conn:
        conn.execute(insert(clients).values(_row(clients, id=7, name="FixMyStreet", key_prefix="pa_x",
                                                 key_hash="h", is_active=True)))
        for rid, channel in ((1, "open311"), (2, "app"), (3, "open311")):
            conn.execute(insert(reports).values(_row(reports, id=rid, code=f"PA-00000{rid}", channel=channel,
                                                     status="assigned", attributes={}, flags={})))
        conn.execute(insert(events).values(_row(events, report_id=1, kind="created", actor_kind="api_client",
                                                actor_id="7", data={})))
        conn.execute(insert(events).values(_row(events, report_id=2, kind="created", actor_kind="resident",
                                                actor_id="7", data={})))
        conn.execute(insert(events).values(_row(events, report_id=3, kind="created", actor_kind="api_client",
                                                actor_id="99", data={})))  # a client that no longer exists
    engine.dispose()
    dbmod.upgrade(scratch_url)
    engine = dbmod.make_engine(scratch_url)
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        rows = conn.execute(select(meta.tables["reports"].c.id, meta.tables["reports"].c.api_client_id)
                            .order_by(meta.tables["reports"].c.id)).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [(1, 7), (2, None), (3, None)]
    dbmod.downgrade(scratch_url, "0004")
