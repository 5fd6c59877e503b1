"""Load test (``make load``): mixed traffic on gunicorn + 2 RQ workers (as in production: bot/default
jobs in-process, media/bulk forking) + PostgreSQL + Redis on 127.0.0.1.

    python -m bench.load [--count 2000] [--seconds 45] [--connections 16] [--forking-workers]

Bounded by a task count AND a time limit. Traffic mix per 10 tasks: 3 app intakes (photo upload
then a report with it), 3 signed Zalo webhook events (the bot answers through a fake Zalo API),
2 public map reads (bbox), 1 nearby lookup, 1 staff inbox page (signed-in session).
Afterwards (the outbox relay runs as the cron would, bounded wait): every report answered 201 is
in the database, every webhook event answered 200 is recorded exactly once, every outbox job ran
to completion once, no push was sent twice. Prints throughput, p50/p99 per kind and errors;
exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bench import harness, intake, loadgen  # noqa: E402
from bench.faults import FaultStack, query_one  # noqa: E402

STAFF = ("dieuphoi@demo.phananh.vn", "phananh-demo-2026")
MIX = ("intake", "intake", "intake", "webhook", "webhook", "webhook", "map", "map", "nearby", "inbox")


def staff_cookie(base: str) -> str:
    """Sign in once through the login form (CSRF token included); returns the Cookie header value."""
    import requests

    s = requests.Session()
    page = s.get(base + "/auth/login", timeout=30).text
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    resp = s.post(base + "/auth/login", data={"email": STAFF[0], "password": STAFF[1],
                                              "csrf_token": csrf.group(1) if csrf else ""},
                  allow_redirects=False, timeout=30)
    if resp.status_code != 303:
        raise RuntimeError(f"staff sign-in failed: {resp.status_code}")
    return "; ".join(f"{c.name}={c.value}" for c in s.cookies)


class Mix:
    def __init__(self, base: str, cookie: str) -> None:
        from fakes import zalo as fz

        self.fz = fz
        self.cookie = cookie
        self.photo = intake.photo_bytes(11)
        self.codes: list[str] = []
        self.msg_ids: list[str] = []

    def task(self, i: int, client: loadgen.Client) -> None:
        kind = MIX[i % len(MIX)]
        rnd = random.Random(i)
        if kind == "intake":
            auth = {"Authorization": "Bearer " + intake.id_token(f"load-{i % 400}")}
            body, ctype = intake.multipart(self.photo)
            status, data, _ = client.request("POST", "/api/v1/media", {**auth, "Content-Type": ctype}, body,
                                             label="media upload")
            if status != 201:
                return
            report = intake.report_body(i, json.loads(data)["id"], rnd)
            status, data, _ = client.request(
                "POST", "/api/v1/reports",
                {**auth, "Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex}, report,
                label="report intake")
            if status == 201:
                self.codes.append(json.loads(data)["code"])
        elif kind == "webhook":
            event = self.fz.text_event(f"zl-{i % 300}", rnd.choice(["Xin chào", "Đèn đường hỏng ở hẻm 12",
                                                                    "Rác thải chưa được thu gom", "cảm ơn"]))
            raw, headers = self.fz.signed(event)
            status, _, _ = client.request("POST", "/bots/zalo/webhook", headers, raw, label="zalo webhook")
            if status == 200:
                self.msg_ids.append(event["message"]["msg_id"])
        elif kind == "map":
            lat, lon = intake.CENTRE
            d = rnd.uniform(0.005, 0.03)
            bbox = f"{lon - d:.5f},{lat - d:.5f},{lon + d:.5f},{lat + d:.5f}"
            client.request("GET", f"/api/v1/reports?bbox={bbox}", label="map read")
        elif kind == "nearby":
            lat, lon = intake.CENTRE
            client.request("GET", f"/api/v1/reports/nearby?lat={lat + rnd.uniform(-0.01, 0.01):.5f}"
                                  f"&lon={lon + rnd.uniform(-0.01, 0.01):.5f}", label="nearby read")
        else:
            client.request("GET", "/inbox", {"Cookie": self.cookie}, label="inbox read")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000, help="max tasks")
    parser.add_argument("--seconds", type=float, default=45.0, help="max seconds of traffic")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2,
                        help="RQ workers, alternating as in production: in-process jobs for bot/default, "
                             "forking for media/bulk (docs/operations.md)")
    parser.add_argument("--forking-workers", action="store_true",
                        help="instead, every worker forks a work-horse per job, on every queue")
    parser.add_argument("--drain", type=float, default=600.0, help="max seconds to wait for the jobs")
    args = parser.parse_args(argv)
    harness.exit_on_sigterm()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    reason = harness.postgres_unavailable()
    if reason:
        print(f"load test skipped: {reason}")
        return 0
    from fakes import zalo as fz

    zalo = fz.FakeZalo().start()
    failures: list[str] = []
    try:
        env = {"ZALO_APP_ID": fz.APP_ID, "ZALO_APP_SECRET": fz.APP_SECRET, "ZALO_OA_SECRET_KEY": fz.OA_SECRET_KEY,
               "ZALO_ACCESS_TOKEN": "at-initial", "ZALO_REFRESH_TOKEN": "rt-initial", "ZALO_API_BASE": zalo.base,
               "ZALO_OAUTH_BASE": zalo.base, "ZALO_MEDIA_HOSTS": zalo.host}
        with FaultStack(workers=args.workers, extra_env=env, split=not args.forking_workers) as stack:
            mix = Mix(stack.base, staff_cookie(stack.base))
            res = loadgen.run(stack.base, mix.task, args.count, seconds=args.seconds, connections=args.connections)
            traffic_end = time.monotonic()
            drained, waited = stack.drain(args.drain)
            jobs_seconds = time.monotonic() - traffic_end
            pending = stack.pending()
            codes = list(set(mix.codes))
            in_db = int(query_one(stack.database_url, "SELECT count(*) FROM reports WHERE code = ANY(%(c)s)",
                                  {"c": codes}))
            msg_ids = mix.msg_ids
            recorded = int(query_one(stack.database_url, "SELECT count(*) FROM inbound_messages "
                                                         "WHERE external_id = ANY(%(m)s)", {"m": msg_ids}))
            retried = int(query_one(stack.database_url, "SELECT count(*) FROM outbox WHERE attempts > 0"))
            pushes = [json.dumps(m, sort_keys=True) for m in stack.google.sent_messages()]
            zalo_sends = len(zalo.requests)
    finally:
        zalo.stop()

    total_ok = res.ok()
    print(f"load: {len(res.samples)} requests in {res.elapsed:.1f} s ({args.connections} connections, "
          f"gunicorn gthread {harness.GUNICORN_WORKERS}x{harness.GUNICORN_THREADS}, {args.workers} RQ workers"
          f"{' forking' if args.forking_workers else ': bot/default in-process, media/bulk forking'}); "
          f"{total_ok / res.elapsed:.1f} ok req/s overall; load average {__import__('os').getloadavg()[0]:.1f}")
    for label in sorted({s.label for s in res.samples}):
        print(f"  {label:14s} {res.summary(label)}")
    print(f"reports acknowledged: {len(codes)}, in the database: {in_db}")
    print(f"webhook events acknowledged: {len(msg_ids)}, recorded: {recorded}")
    print(f"jobs: {pending['total']} outbox rows, not done: {pending['not_done']}, retried: {retried}; "
          f"all done {jobs_seconds:.0f} s after the traffic; Zalo API calls: {zalo_sends}; pushes: {len(pushes)}")
    if in_db != len(codes):
        failures.append(f"{len(codes) - in_db} acknowledged report(s) missing")
    if recorded != len(set(msg_ids)):
        failures.append(f"webhook events recorded {recorded} != acknowledged {len(set(msg_ids))}")
    if not drained:
        failures.append(f"outbox not drained after {waited:.0f} s: {pending}")
    if len(pushes) != len(set(pushes)):
        failures.append(f"{len(pushes) - len(set(pushes))} duplicated push(es)")
    if res.errors():
        failures.append(f"{res.errors()} request(s) failed: {res.statuses()}")
    print(f"RESULT load_rps={total_ok / res.elapsed:.1f} load_p50_ms={res.pct(0.5):.1f} "
          f"load_p99_ms={res.pct(0.99):.1f} load_errors={res.errors()} load_lost={len(codes) - in_db}")
    for f in failures:
        print(f"FAILED: {f}")
    print("load: OK" if not failures else "load: FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
