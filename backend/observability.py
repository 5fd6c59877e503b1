"""Observability: Prometheus ``/metrics``, JSON logs carrying the request id and the job id.

Metrics: request latency histograms by endpoint, job durations and failures by queue, queue
depths, outbox lag, deliveries by state, open and overdue reports by unit. Gauges that need the
database are computed when ``/metrics`` is scraped (cheap grouped counts on indexed columns).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from flask import Flask, Response, g, has_app_context, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import func, select

from backend import http, queue, runners
from backend.models import OPEN_STATES, Delivery, Outbox, Report
from backend.models.base import utcnow

REGISTRY = CollectorRegistry()
REQUESTS = Histogram("phananh_request_seconds", "HTTP request latency", ["endpoint", "method", "status"],
                     registry=REGISTRY, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
JOBS = Histogram("phananh_job_seconds", "Job duration", ["job", "queue"], registry=REGISTRY)
JOB_FAILURES = Counter("phananh_job_failures_total", "Failed job runs", ["queue"], registry=REGISTRY)
QUEUE_DEPTH = Gauge("phananh_queue_depth", "Jobs waiting in each RQ queue", ["queue"], registry=REGISTRY)
OUTBOX_PENDING = Gauge("phananh_outbox_pending", "Outbox rows not yet dispatched", registry=REGISTRY)
OUTBOX_LAG = Gauge("phananh_outbox_lag_seconds", "Age of the oldest undispatched outbox row", registry=REGISTRY)
DELIVERIES = Gauge("phananh_deliveries", "Deliveries by channel and state", ["channel", "state"],
                   registry=REGISTRY)
REPORTS_OPEN = Gauge("phananh_reports_open", "Open reports by unit", ["unit_id"], registry=REGISTRY)
REPORTS_OVERDUE = Gauge("phananh_reports_overdue", "Open reports past their resolve deadline by unit",
                        ["unit_id"], registry=REGISTRY)

_installed_observer = False
QUIET_LOGGERS = ("google", "google.auth", "google.auth.transport", "urllib3", "firebase_admin", "httpx",
                 "httpcore")


class JsonFormatter(logging.Formatter):
    """One JSON object per line with time, level, logger, message, request id and job id."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {"ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
                                 "logger": record.name, "message": record.getMessage()}
        if has_app_context():
            entry["request_id"] = g.get("request_id")
        job = queue.current_job()
        if job:
            entry["job_id"], entry["job"] = job["outbox_id"], job["job_name"]
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, as_json: bool) -> None:
    root = logging.getLogger()
    if as_json and not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        root.handlers = [handler]
    root.setLevel(level.upper())
    # third-party request/response debug logs can carry OAuth tokens and keys: never below INFO
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)


def _observe_job(name: str, queue_name: str, seconds: float, ok: bool) -> None:
    JOBS.labels(name, queue_name).observe(seconds)
    if not ok:
        JOB_FAILURES.labels(queue_name).inc()


def init_app(app: Flask) -> None:
    """Time every request; serve ``/metrics``."""
    global _installed_observer
    if not _installed_observer:
        queue.add_observer(_observe_job)
        _installed_observer = True

    @app.before_request
    @http.lean_hook
    def _start_timer() -> None:
        g.metrics_start = time.perf_counter()

    @app.after_request
    @http.lean_hook
    def _record(response: Response) -> Response:
        start = g.get("metrics_start")
        if start is not None:
            REQUESTS.labels(request.url_rule.rule if request.url_rule else "unmatched", request.method,
                            str(response.status_code)).observe(time.perf_counter() - start)
        return response

    @app.get("/metrics")
    def metrics() -> Response:
        _refresh_gauges(app)
        return Response(generate_latest(REGISTRY), mimetype=CONTENT_TYPE_LATEST)


def _refresh_gauges(app: Flask) -> None:
    database = app.extensions["phananh.db"]
    now = utcnow()
    with database.session() as session:
        pending = session.execute(select(func.count(), func.min(Outbox.created_at))
                                  .where(Outbox.dispatched_at.is_(None))).one()
        OUTBOX_PENDING.set(pending[0])
        OUTBOX_LAG.set((now - pending[1]).total_seconds() if pending[1] else 0)
        DELIVERIES.clear()
        for channel, state, count in session.execute(
                select(Delivery.channel, Delivery.send_state, func.count())
                .group_by(Delivery.channel, Delivery.send_state)):
            DELIVERIES.labels(channel, state).set(count)
        REPORTS_OPEN.clear()
        REPORTS_OVERDUE.clear()
        open_states = [str(s) for s in OPEN_STATES]
        for unit_id, count, overdue in session.execute(
                select(Report.unit_id, func.count(),
                       func.count().filter(Report.resolve_due_at < now))
                .where(Report.status.in_(open_states)).group_by(Report.unit_id)):
            REPORTS_OPEN.labels(str(unit_id)).set(count)
            REPORTS_OVERDUE.labels(str(unit_id)).set(overdue)
    runner = app.extensions["phananh.runner"]
    if isinstance(runner, runners.RQRunner):
        for name in queue.QUEUES:
            try:
                QUEUE_DEPTH.labels(name).set(runner.queue(name).count)
            except Exception:  # noqa: BLE001 - Redis down: the gauge keeps its last value
                break
