"""The ``phananh`` command line; the same commands are reachable as ``flask --app wsgi ...``.

Commands: run, db upgrade|downgrade|current, demo seed, city load, staff create, worker, cron,
jobs relay, calendar add|between, apikey create, anonymize.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from backend import db as dbmod
from backend import queue, relay, runners
from backend.errors import DomainError

log = logging.getLogger(__name__)

DEMO_PASSWORD = "phananh-demo-2026"  # noqa: S105 - printed on purpose for the demo city only
DEMO_STAFF = (
    ("admin@demo.phananh.vn", "admin", None, "Quản trị hệ thống"),
    ("dieuphoi@demo.phananh.vn", "dispatcher", "ioc", "Điều phối viên IOC"),
    ("truongphong@demo.phananh.vn", "head", "so-xd", "Trưởng phòng Sở Xây dựng"),
    ("canbo@demo.phananh.vn", "officer", "so-xd", "Cán bộ Sở Xây dựng"),
    ("xem@demo.phananh.vn", "viewer", None, "Lãnh đạo (chỉ xem)"),
)


def _db() -> dbmod.Database:
    return current_app.extensions["phananh.db"]


def _settings() -> Any:
    return current_app.extensions["phananh.settings"]


def _fail(exc: DomainError) -> None:
    click.echo(f"Lỗi: {exc.message}", err=True)
    sys.exit(2)


# --------------------------------------------------------------------------- db


@click.group("db", help="Database schema migrations (Alembic).")
def db_group() -> None:
    pass


@db_group.command("upgrade")
@click.argument("revision", default="head")
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    dbmod.upgrade(_settings().database_url, revision)
    click.echo(f"Database upgraded to {revision}.")


@db_group.command("downgrade")
@click.argument("revision", default="-1")
@with_appcontext
def db_downgrade(revision: str) -> None:
    """Revert migrations down to REVISION (default: one step)."""
    dbmod.downgrade(_settings().database_url, revision)
    click.echo(f"Database downgraded to {revision}.")


@db_group.command("current")
@with_appcontext
def db_current() -> None:
    """Print the current revision."""
    from alembic import command

    command.current(dbmod.alembic_config(_settings().database_url))


# --------------------------------------------------------------------------- city data


@click.group("city", help="City packs: units, categories, wards, routing, calendar, templates.")
def city_group() -> None:
    pass


@city_group.command("load")
@click.argument("path", type=click.Path(dir_okay=False))
@with_appcontext
def city_load(path: str) -> None:
    """Load (or update, idempotently) a YAML/JSON city pack from PATH."""
    from backend.services import city

    try:
        pack = city.read_pack(path)
        with _db().session_scope() as session:
            counts = city.load_city_pack(session, pack)
    except DomainError as exc:
        _fail(exc)
    except OSError as exc:
        _fail(DomainError(f"Không đọc được tệp {path}: {exc.strerror or exc}."))
    click.echo("Loaded: " + ", ".join(f"{k}={v}" for k, v in counts.items()))


@click.group("demo", help="The demo city (synthetic data around Sóc Trăng).")
def demo_group() -> None:
    pass


def seed_demo(database: dbmod.Database) -> bool:
    """Load the demo city and demo staff when the database has no unit yet. True if seeded."""
    from sqlmodel import select

    from backend.models import Unit
    from backend.services import city

    with database.session_scope() as session:
        if session.exec(select(Unit.id).limit(1)).first() is not None:
            return False
        city.load_demo(session=session)
        session.flush()
        for email, role, unit, name in DEMO_STAFF:
            city.create_staff(session, email=email, password=DEMO_PASSWORD, role=role, unit_code=unit,
                               name=name)
    return True


@demo_group.command("seed")
@with_appcontext
def demo_seed() -> None:
    """Load the demo city pack and demo staff accounts into an empty database."""
    if seed_demo(_db()):
        _print_demo_logins()
    else:
        click.echo("Database already has data; demo not loaded.")


def _print_demo_logins() -> None:
    click.echo(f"Demo staff accounts (password for all: {DEMO_PASSWORD}):")
    for email, role, unit, _ in DEMO_STAFF:
        click.echo(f"  {email:32} {role:10} {unit or ''}")


# --------------------------------------------------------------------------- staff


@click.group("staff", help="Staff accounts.")
def staff_group() -> None:
    pass


@staff_group.command("create")
@click.option("--email", required=True)
@click.option("--password", required=True, help="At least 10 characters.")
@click.option("--role", required=True, type=click.Choice(["admin", "dispatcher", "head", "officer", "viewer"]))
@click.option("--unit", "unit_code", default=None, help="Unit code (required for head and officer).")
@click.option("--name", default="")
@with_appcontext
def staff_create(email: str, password: str, role: str, unit_code: str | None, name: str) -> None:
    """Create a staff account."""
    from backend.services import city

    try:
        with _db().session_scope() as session:
            account = city.create_staff(session, email=email, password=password, role=role,
                                         unit_code=unit_code, name=name)
            click.echo(f"Created staff #{account.id} {account.email} ({account.role}).")
    except DomainError as exc:
        _fail(exc)


# --------------------------------------------------------------------------- jobs


@click.command("worker")
@click.option("--queues", "-q", multiple=True, default=queue.QUEUES, show_default=True)
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--simple", is_flag=True,
              help="Run jobs in this process instead of forking a work-horse per job: many more jobs/s "
                   "for the bot and default queues; keep the forking worker for media (Pillow memory).")
@with_appcontext
def worker(queues: tuple[str, ...], burst: bool, simple: bool) -> None:
    """Run an RQ worker (needs REDIS_URL). The app is built once; jobs run in its context.

    A job killed with its process (SIGKILL, OOM) is retried by RQ's abandoned-job handling or, at the
    latest, re-dispatched by the outbox relay: either way it runs to completion once."""
    unknown = sorted(set(queues) - set(queue.QUEUES))
    if unknown:
        click.echo(f"Unknown queue(s): {', '.join(unknown)}; known: {', '.join(queue.QUEUES)}.", err=True)
        sys.exit(2)
    runner = current_app.extensions["phananh.runner"]
    if not isinstance(runner, runners.RQRunner):
        click.echo("REDIS_URL is not set: embedded mode runs jobs inside `phananh run`.", err=True)
        sys.exit(2)
    relay.relay_outbox(min_age_s=0)
    runner.worker(queues, simple=simple).work(burst=burst, with_scheduler=True)


@click.command("cron")
@with_appcontext
def cron() -> None:
    """Run RQ's cron scheduler for the periodic jobs (outbox relay, SLA sweep, digests, tokens)."""
    runner = current_app.extensions["phananh.runner"]
    if not isinstance(runner, runners.RQRunner):
        click.echo("REDIS_URL is not set: embedded mode runs periodic jobs inside `phananh run`.", err=True)
        sys.exit(2)
    runner.cron().start()


@click.group("jobs", help="Job outbox maintenance.")
def jobs_group() -> None:
    pass


@jobs_group.command("relay")
@with_appcontext
def jobs_relay() -> None:
    """Dispatch outbox rows that never reached the broker; prints how many."""
    click.echo(f"Dispatched {relay.relay_outbox(min_age_s=0)} job(s); {relay.pending_outbox()} still pending.")


# --------------------------------------------------------------------------- run (embedded)


@click.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=None, help="Default: PORT or 5000.")
@click.option("--no-seed", is_flag=True, help="Do not load the demo city into an empty database.")
@with_appcontext
def run(host: str, port: int | None, no_seed: bool) -> None:
    """All-in-one: migrate, seed the demo city if empty, serve with jobs (embedded mode)."""
    from werkzeug.serving import run_simple

    settings = _settings()
    dbmod.upgrade(settings.database_url)
    if not no_seed and seed_demo(_db()):
        click.echo("Demo city loaded.")
    _print_demo_logins()
    runner = current_app.extensions["phananh.runner"]
    if isinstance(runner, runners.ThreadRunner):
        runner.enable_periodic()
    port = port or settings.port
    click.echo(f"phananh serving on http://{host}:{port} (jobs: "
               f"{'RQ ' + str(settings.redis_url) if settings.redis_url else 'embedded'})")
    run_simple(host, port, current_app._get_current_object(), threaded=True, use_reloader=False)  # type: ignore[attr-defined]


@click.group("calendar", help="Lịch làm việc của thành phố (giờ hành chính, ngày lễ, ngày làm bù).")
def calendar_group() -> None:
    pass


@calendar_group.command("add")
@click.argument("start")
@click.argument("duration")
@with_appcontext
def calendar_add(start: str, duration: str) -> None:
    """Print START + DURATION of working time as ISO 8601 (DURATION: 8h, 90m, 3d = working days).

    START is ISO 8601; without an offset it is read in the city's time zone."""
    from backend.services.city import load_calendar

    try:
        with _db().session() as session:
            cal = load_calendar(session)
            click.echo(cal.add(cal.parse_instant(start), duration).isoformat())
    except DomainError as exc:
        _fail(exc)


@calendar_group.command("between")
@click.argument("start")
@click.argument("end")
@with_appcontext
def calendar_between(start: str, end: str) -> None:
    """Print the working minutes from START to END (negative if END is before START)."""
    from backend.services.city import load_calendar

    try:
        with _db().session() as session:
            cal = load_calendar(session)
            click.echo(str(cal.between(cal.parse_instant(start), cal.parse_instant(end))))
    except DomainError as exc:
        _fail(exc)


@click.group("apikey", help="Open311 API keys (shown once, stored hashed).")
def apikey_group() -> None:
    pass


@apikey_group.command("create")
@click.option("--name", required=True, help="Who uses the key (application or department system).")
@click.option("--unit", "unit_code", default=None,
              help="Bind the key to a unit: its own system may then post servicerequestupdates for its reports.")
@with_appcontext
def apikey_create(name: str, unit_code: str | None) -> None:
    """Create an Open311 API key and print it once (only its SHA-256 hash is stored)."""
    from backend.services import city

    try:
        with _db().session_scope() as session:
            client, key = city.create_client(session, name=name, unit_code=unit_code)
            client_id = client.id
    except DomainError as exc:
        _fail(exc)
        return
    bound = f", đơn vị {unit_code}" if unit_code else ""
    click.echo(f"Đã tạo ứng dụng #{client_id} ({name}{bound}). Khoá API chỉ hiển thị một lần:", err=True)
    click.echo(key)


@apikey_group.command("revoke")
@click.option("--id", "client_id", required=True, type=int)
@with_appcontext
def apikey_revoke(client_id: int) -> None:
    """Revoke an Open311 API key: it stops working at once."""
    from backend.services import city

    try:
        with _db().session_scope() as session:
            city.revoke_client(session, client_id=client_id)
    except DomainError as exc:
        _fail(exc)
        return
    click.echo(f"Đã thu hồi khoá của ứng dụng #{client_id}.")


@click.command("anonymize")
@click.option("--older-than", "older_than", required=True, help="Period since closure, e.g. 24m, 730d, 2y.")
@click.option("--dry-run", is_flag=True, help="Only count what would be anonymised.")
@with_appcontext
def anonymize(older_than: str, dry_run: bool) -> None:
    """Remove reporter identity, contact data, EXIF and private originals of old closed reports."""
    from backend.services import photos, retention

    try:
        with _db().session_scope() as session:
            counts = retention.anonymize(session, older_than=older_than, dry_run=dry_run,
                                         storage=photos.get_storage(_settings()))
    except DomainError as exc:
        _fail(exc)
    verb = "Would anonymise" if dry_run else "Anonymised"
    click.echo(f"{verb}: {counts['reports']} report(s), {counts['photos']} photo(s), "
               f"{counts['residents']} resident(s), {counts['chat_messages']} chat message(s).")


COMMANDS = (db_group, city_group, demo_group, staff_group, worker, cron, jobs_group, run, anonymize,
            calendar_group, apikey_group)


def register_commands(app: Any) -> None:
    """Attach the phananh commands to ``app.cli`` (called by create_app)."""
    for command in COMMANDS:
        app.cli.add_command(command)
