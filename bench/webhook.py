"""Zalo webhook benchmark (DESIGN §14): ``POST /bots/zalo/webhook`` vs a bare Flask hello, same gunicorn.

    python -m bench.webhook [--seconds 15] [--connections 16] [--max-requests 20000] [--database-url URL]

Budget: the webhook (verify the signature, record the event once, write the outbox row, push the job
to the ``bot`` queue, answer 200) sustains >= 60 % of the hello throughput. Every request is a distinct,
correctly signed ``user_send_text`` event (unique ``msg_id``, 2,000 users) with the compact UTF-8 JSON
Zalo sends; the per-user rate limit is on (Redis), as in production. Hello and webhook run side by side
under the same gunicorn settings and are measured in alternating rounds (fair on a busy machine).
PostgreSQL and Redis are private instances (or ``--database-url``: a throw-away database on that
server). Nothing consumes the jobs. Afterwards every event answered 200 must be in ``inbound_messages``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness, loadgen, sidebyside

APP_ID = "bench-app-id"
OA_SECRET = "bench-oa-secret"  # noqa: S105 - the value harness.app_env gives the benchmark app


def event_requests(n: int, users: int) -> list[loadgen.Req]:
    """``n`` signed text events (tag = msg_id), round-robin over ``users``."""
    now = int(time.time() * 1000)
    out = []
    for i in range(n):
        msg_id = f"{uuid.uuid4().hex}{i:06d}"
        payload = {"app_id": APP_ID, "user_id_by_app": f"app{i % users}", "event_name": "user_send_text",
                   "sender": {"id": f"bench-user-{i % users}"}, "recipient": {"id": "bench-oa"},
                   "message": {"msg_id": msg_id, "text": f"Ổ gà lớn trước nhà số {i}, đường Lê Lợi"},
                   "timestamp": str(now + i)}
        raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        mac = hashlib.sha256(APP_ID.encode() + raw + payload["timestamp"].encode() + OA_SECRET.encode()).hexdigest()
        out.append(loadgen.Req("POST", "/bots/zalo/webhook",
                               {"Content-Type": "application/json", "X-ZEvent-Signature": f"mac={mac}"},
                               raw, tag=msg_id, label="webhook"))
    return out


def hello_requests(n: int) -> list[loadgen.Req]:
    body = event_requests(1, 1)[0].body
    return [loadgen.Req("POST", "/hello", {"Content-Type": "application/json"}, body, label="hello")] * n


def missing_in_db(stack: harness.Stack, msg_ids: list[str]) -> int:
    from sqlalchemy import text

    engine = stack.engine()
    try:
        with engine.connect() as conn:
            found = conn.execute(text("SELECT count(*) FROM inbound_messages WHERE channel = 'zalo' "
                                      "AND external_id = ANY(:ids)"), {"ids": msg_ids}).scalar()
    finally:
        engine.dispose()
    return len(set(msg_ids)) - int(found or 0)


def measure(stack: harness.Stack, args: argparse.Namespace) -> tuple[loadgen.Result, loadgen.Result, int]:
    stack.env["RATELIMIT_ENABLED"] = "true"  # the per-Zalo-user limit is part of the webhook's work
    with sidebyside.apps(stack, args) as hello_base:
        reqs = event_requests(args.max_requests + args.warmup, args.users)
        hello, hooks = sidebyside.alternate(hello_base, hello_requests(200_000), stack.base, reqs[:args.warmup],
                                            reqs[args.warmup:], args)
    accepted = [s.tag for s in hooks.samples if s.status == 200]
    return hello, hooks, missing_in_db(stack, accepted)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sidebyside.add_arguments(parser, max_requests=20_000, warmup=300, subject="webhook")
    parser.add_argument("--users", type=int, default=2000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    with harness.Stack(database_url=args.database_url, seed=False) as stack:
        hello, hook, missing = measure(stack, args)
    ratio = hook.rps() / hello.rps() if hello.rps() else 0.0
    print(sidebyside.header(args))
    print(f"hello  : {hello.summary()}")
    print(f"webhook: {hook.summary()}")
    print(sidebyside.load_line())
    print(f"events answered 200: {hook.ok()}, missing in the database: {missing}")
    ok = ratio >= 0.60 and missing == 0
    print(f"RESULT webhook_ratio={ratio:.3f} webhook_p99_ms={hook.pct(0.99):.1f} webhook_rps={hook.rps():.1f} "
          f"hello_rps={hello.rps():.1f} webhook_missing={missing} webhook_errors={hook.errors()}")
    print(f"ratio webhook/hello: {ratio:.2f} (budget >= 0.60) -> {'OK' if ok else 'BELOW BUDGET'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
