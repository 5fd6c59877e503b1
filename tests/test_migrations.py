"""The schema is defined once: one Alembic head, a working downgrade, and models == migrations."""

from __future__ import annotations

import os
import uuid

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

import backend.models  # noqa: F401
from backend import db as dbmod


def test_single_head_and_dated_names():
    script = ScriptDirectory.from_config(dbmod.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1
    for rev in script.walk_revisions():
        name = os.path.basename(rev.path)
        assert name[:4].isdigit() and name[4] == "_", f"{name} is not a dated file name"
        assert rev.doc and len(rev.doc) > 20, f"{name} needs a real message"


@pytest.fixture
def scratch_url(tmp_path):
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
        return
    url = make_url(dbmod.normalize_url(base))
    name = f"phananh_m_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _tables(url):
    engine = dbmod.make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(scratch_url):
    dbmod.upgrade(scratch_url)
    assert _tables(scratch_url) == set(SQLModel.metadata.tables)
    dbmod.downgrade(scratch_url, "base")
    assert _tables(scratch_url) == set()
    dbmod.upgrade(scratch_url)
    assert _tables(scratch_url) == set(SQLModel.metadata.tables)


def test_models_match_migrations(scratch_url):
    dbmod.upgrade(scratch_url)
    engine = dbmod.make_engine(scratch_url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(ctx, SQLModel.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations disagree: {diff}"


def test_offline_sql_renders():
    cfg = dbmod.alembic_config("postgresql://postgres@127.0.0.1/none")
    command.upgrade(cfg, "head", sql=True)
