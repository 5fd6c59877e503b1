"""The phananh CLI: good input does the job, bad input gets a clear message, exit code 2, no change."""

from __future__ import annotations

import pytest
from sqlalchemy import func
from sqlmodel import select

from backend.models import Category, Staff, Unit


@pytest.fixture
def cli(app):
    return app.test_cli_runner()


def count(session, model):
    return session.exec(select(func.count()).select_from(model)).one()


def test_demo_seed_loads_city_and_staff_once(cli, session):
    first = cli.invoke(args=["demo", "seed"])
    assert first.exit_code == 0, first.output
    assert "phananh-demo-2026" in first.output and "dieuphoi@demo.phananh.vn" in first.output
    units, staff = count(session, Unit), count(session, Staff)
    assert units > 5 and staff == 5
    again = cli.invoke(args=["demo", "seed"])
    assert again.exit_code == 0 and "already has data" in again.output
    assert (count(session, Unit), count(session, Staff)) == (units, staff)


def test_staff_create(cli, session, demo_city):
    ok = cli.invoke(args=["staff", "create", "--email", "Lan@SoXD.gov.vn", "--password", "mat-khau-dai-1",
                          "--role", "officer", "--unit", "so-xd", "--name", "Trần Thị Lan"])
    assert ok.exit_code == 0, ok.output
    staff = session.exec(select(Staff).where(Staff.email == "lan@soxd.gov.vn")).one()
    assert staff.name == "Trần Thị Lan" and staff.password_hash.startswith("$argon2id$")


@pytest.mark.parametrize("args, message", [
    (["--email", "not-an-email", "--password", "mat-khau-dai-1", "--role", "admin"], "e-mail"),
    (["--email", "a@b.vn", "--password", "short", "--role", "admin"], "ít nhất 10"),
    (["--email", "a@b.vn", "--password", "mat-khau-dai-1", "--role", "officer"], "phải thuộc một đơn vị"),
    (["--email", "a@b.vn", "--password", "mat-khau-dai-1", "--role", "officer", "--unit", "nope"], "nope"),
])
def test_staff_create_refuses_bad_input(cli, session, demo_city, args, message):
    before = count(session, Staff)
    result = cli.invoke(args=["staff", "create", *args])
    assert result.exit_code == 2 and message in result.output
    assert count(session, Staff) == before


def test_staff_create_refuses_unknown_role_and_duplicates(cli, session, demo_city):
    bad_role = cli.invoke(args=["staff", "create", "--email", "a@b.vn", "--password", "x" * 12, "--role", "god"])
    assert bad_role.exit_code == 2 and "god" in bad_role.output
    args = ["staff", "create", "--email", "a@b.vn", "--password", "x" * 12, "--role", "admin"]
    assert cli.invoke(args=args).exit_code == 0
    dup = cli.invoke(args=args)
    assert dup.exit_code == 2 and "đã được dùng" in dup.output


def test_city_load_bad_files_change_nothing(cli, session, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("units: [\n  - code: x\n name: ???", encoding="utf-8")
    for path in (str(broken), str(tmp_path / "missing.yaml")):
        result = cli.invoke(args=["city", "load", path])
        assert result.exit_code == 2, result.output
        assert "Lỗi" in result.output
    assert count(session, Unit) == 0 and count(session, Category) == 0


def test_city_load_demo_pack_is_idempotent(cli, session):
    from backend.services.city.loading import DEMO_PACK

    assert cli.invoke(args=["city", "load", str(DEMO_PACK)]).exit_code == 0
    units, categories = count(session, Unit), count(session, Category)
    assert cli.invoke(args=["city", "load", str(DEMO_PACK)]).exit_code == 0
    assert (count(session, Unit), count(session, Category)) == (units, categories)


@pytest.mark.parametrize("period", ["", "24", "lots", "-1m"])
def test_anonymize_refuses_bad_periods(cli, period):
    result = cli.invoke(args=["anonymize", "--older-than", period])
    assert result.exit_code == 2 and "không hợp lệ" in result.output


def test_anonymize_dry_run(cli, demo_city):
    result = cli.invoke(args=["anonymize", "--older-than", "24m", "--dry-run"])
    assert result.exit_code == 0 and "Would anonymise: 0 report(s)" in result.output


def test_worker_and_cron_need_redis_in_embedded_mode(app, settings, db):
    from backend import runners
    from backend.app import create_app

    embedded = create_app(settings, database=db, runner=runners.ThreadRunner())
    runner = embedded.test_cli_runner()
    for cmd in ("worker", "cron"):
        result = runner.invoke(args=[cmd])
        assert result.exit_code == 2 and "REDIS_URL" in result.output
    embedded.extensions["phananh.runner"].close()


@pytest.mark.parametrize("start, duration, expected", [
    ("2026-11-20T16:55:00+07:00", "8h", "2026-11-25T07:55:00+07:00"),  # Fri 16:55 + 8 working hours
    ("2026-11-23T12:00:00+07:00", "90m", "2026-11-23T15:00:00+07:00"),  # lunch: counts from 13:30
    ("2026-04-29T15:00:00+07:00", "1d", "2026-05-04T17:00:00+07:00"),  # over 30/4–1/5
])
def test_calendar_add_prints_iso_instants_on_the_demo_calendar(cli, demo_city, start, duration, expected):
    result = cli.invoke(args=["calendar", "add", start, duration])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == expected


def test_calendar_between_prints_working_minutes(cli, demo_city):
    result = cli.invoke(args=["calendar", "between", "2026-11-23T07:30:00+07:00", "2026-11-23T17:00:00+07:00"])
    assert result.exit_code == 0 and result.output.strip() == "450"


@pytest.mark.parametrize("args", [["add", "yesterday", "8h"], ["add", "2026-11-20T10:00:00", "8 hours"],
                                  ["add", "--", "2026-11-20T10:00:00", "-3d"], ["between", "2026-13-01", "2026-01-01"]])
def test_calendar_refuses_bad_input(cli, args):
    result = cli.invoke(args=["calendar", *args])
    assert result.exit_code == 2 and "Lỗi" in result.output


def test_simple_worker_runs_jobs_in_its_own_process(app, db, runner):
    from backend import queue
    from backend.models import CitySetting

    import jobs_for_tests

    queue.register_job(queue.JobSpec("jobs_for_tests.touch", queue="default", retry=()))
    jobs_for_tests.CALLS.clear()
    with db.session_scope() as s:
        queue.enqueue(s, "jobs_for_tests.touch", key="simple-worker")
    result = app.test_cli_runner().invoke(args=["worker", "--simple", "--burst", "-q", "default"])
    assert result.exit_code == 0, result.output
    assert jobs_for_tests.CALLS == ["simple-worker"]  # ran here, not in a forked work-horse
    with db.session() as s:
        assert s.get(CitySetting, "simple-worker") is not None


def test_worker_refuses_an_unknown_queue(app):
    result = app.test_cli_runner().invoke(args=["worker", "-q", "bot", "-q", "urgentissimo"])
    assert result.exit_code == 2 and "urgentissimo" in result.output
