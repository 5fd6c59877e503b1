"""Zalo webhook benchmark (DESIGN §14): ``POST /bots/zalo/webhook`` vs its reference (``bench/reference.py``).

    python -m bench.webhook [--seconds 15] [--connections 16] [--max-requests 20000] [--database-url URL]

Budget: the webhook (verify the signature, record the event once, write the outbox row, push the job
to the ``bot`` queue, the per-user limit, answer 200) sustains >= 80 % of the reference's throughput
(median of alternating rounds, min/max quoted); the bare hello is measured alongside as the ceiling.
Every request is a distinct, correctly signed ``user_send_text`` event (unique ``msg_id``, 2,000 users)
with the compact UTF-8 JSON Zalo sends; the per-user rate limit is on (Redis), as in production.
Hello, reference and webhook run side by side under the same gunicorn settings and are measured in
alternating rounds (fair on a busy machine).
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


def measure(stack: harness.Stack, args: argparse.Namespace) -> tuple[sidebyside.Rounds, dict[str, int]]:
    stack.env["RATELIMIT_ENABLED"] = "true"  # the per-Zalo-user limit is part of the webhook's work
    with sidebyside.apps(stack, args) as bases:
        per_side = args.warmup + args.max_requests + args.single
        split = {}
        for side in ("reference", "ours"):
            reqs = event_requests(per_side, args.users)
            split[side] = (reqs[:args.warmup], reqs[args.warmup:args.warmup + args.max_requests],
                           reqs[args.warmup + args.max_requests:])
        hello = hello_requests(200_000)
        res = sidebyside.alternate(bases, {"hello": hello[:500], **{s: v[0] for s, v in split.items()}},
                                   {"hello": hello, **{s: v[1] for s, v in split.items()}}, args)
        sidebyside.single(bases, {s: v[2] for s, v in split.items()}, res)
    missing = {}
    for side in ("reference", "ours"):
        merged = sidebyside.merge([*res.rounds[side], res.single[side]])
        missing[side] = missing_in_db(stack, [s.tag for s in merged.samples if s.status == 200])
    return res, missing


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sidebyside.add_arguments(parser, max_requests=20_000, warmup=300, subject="webhook")
    parser.add_argument("--users", type=int, default=2000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    harness.exit_on_sigterm()
    with harness.Stack(database_url=args.database_url, seed=False) as stack:
        res, missing = measure(stack, args)
    print(sidebyside.header(args))
    lines = sidebyside.report_lines("webhook", res)
    print("\n".join(lines[:-1]))
    print(sidebyside.load_line())
    print(f"events answered 200 missing in the database: {missing['ours']} (reference: {missing['reference']})")
    print(lines[-1] + f" webhook_missing={missing['ours']} webhook_errors={res.merged('ours').errors()}")
    _, med, _ = res.spread()
    ok = med >= 0.80 and missing["ours"] == 0
    print(f"DESIGN §14 webhook: ratio >= 0.80 of the reference, none missing -> {'OK' if ok else 'BELOW BUDGET'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
