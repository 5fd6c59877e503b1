"""Intake benchmark (DESIGN §14): ``POST /api/v1/reports`` vs a bare Flask hello, same gunicorn settings.

    python -m bench.intake [--seconds 15] [--connections 16] [--max-requests 6000] [--database-url URL]

Budget: intake sustains >= 40 % of the hello throughput, p99 < 100 ms at 16 connections, and every
report answered 201 is in the database afterwards. Each report is the JSON an app sends (category,
description, location, one photo uploaded beforehand by the same resident through ``POST /api/v1/media``,
an ``Idempotency-Key``); residents authenticate with emulator-style Firebase ID tokens. PostgreSQL and
Redis are private instances (or ``--database-url`` for an existing server: a throw-away database).
Rate limiting is off for both runs (everything comes from one IP); nothing consumes the jobs.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness, loadgen, sidebyside

CATEGORY = "duong-hu-hong"
CENTRE = (9.6025, 105.9740)  # Sóc Trăng, inside the demo city


def id_token(uid: str, project: str = harness.PROJECT) -> str:
    """An unsigned, emulator-style Firebase ID token (accepted only with FIREBASE_AUTH_EMULATOR_HOST)."""
    now = int(time.time())
    claims = {"iss": f"https://securetoken.google.com/{project}", "aud": project, "sub": uid, "user_id": uid,
              "iat": now - 5, "auth_time": now - 5, "exp": now + 3600, "email": f"{uid}@example.com",
              "email_verified": True, "firebase": {"identities": {}, "sign_in_provider": "password"}}

    def b64(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    return f'{b64({"alg": "none", "typ": "JWT"})}.{b64(claims)}.'


def photo_bytes(seed: int = 0, size: tuple[int, int] = (800, 600)) -> bytes:
    """A small photo-like JPEG (distinct per seed)."""
    from PIL import Image, ImageDraw

    rnd = random.Random(seed)
    img = Image.new("RGB", size, (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x, y = rnd.randrange(size[0]), rnd.randrange(size[1])
        draw.rectangle((x, y, x + rnd.randrange(40, 200), y + rnd.randrange(40, 200)),
                       fill=(rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def multipart(data: bytes, filename: str = "photo.jpg", mime: str = "image/jpeg") -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            f"Content-Type: {mime}\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def upload_requests(n: int, residents: int, photos: int = 16) -> list[loadgen.Req]:
    """``n`` photo uploads, round-robin over ``residents`` (tag = resident index)."""
    images = [photo_bytes(k) for k in range(photos)]
    out = []
    for i in range(n):
        r = i % residents
        body, ctype = multipart(images[i % photos])
        out.append(loadgen.Req("POST", "/api/v1/media", {"Authorization": "Bearer " + id_token(f"bench-{r}"),
                                                          "Content-Type": ctype}, body, tag=r, label="media"))
    return out


def report_body(i: int, media_id: int | None, rnd: random.Random) -> bytes:
    lat = CENTRE[0] + rnd.uniform(-0.01, 0.01)
    lon = CENTRE[1] + rnd.uniform(-0.01, 0.01)
    payload = {"category": CATEGORY, "description": f"Ổ gà lớn trước nhà số {i}, xe máy dễ té ngã.",
               "location": {"lat": round(lat, 6), "lon": round(lon, 6), "accuracy_m": 8.0},
               "media_ids": [media_id] if media_id else [], "is_anonymous": False}
    return json.dumps(payload, ensure_ascii=False).encode()


def report_requests(uploaded: list[tuple[int, int]], seed: int = 7) -> list[loadgen.Req]:
    """One report per uploaded (resident, media id); tag = the Idempotency-Key."""
    rnd = random.Random(seed)
    out = []
    for i, (resident, media_id) in enumerate(uploaded):
        key = uuid.uuid4().hex
        out.append(loadgen.Req("POST", "/api/v1/reports",
                               {"Authorization": "Bearer " + id_token(f"bench-{resident}"),
                                "Content-Type": "application/json", "Idempotency-Key": key},
                               report_body(i, media_id, rnd), tag=key, label="report"))
    return out


def upload_photos(base: str, n: int, residents: int, connections: int = 16) -> list[tuple[int, int]]:
    res = loadgen.run(base, loadgen.requests_task(upload_requests(n, residents)), n, seconds=600,
                      connections=connections, collect=True)
    out = [(s.tag, json.loads(s.body)["id"]) for s in res.samples if s.status == 201]
    if len(out) < n:
        print(f"warning: {n - len(out)} uploads failed: {res.statuses()}", file=sys.stderr)
    return out


def created_codes(result: loadgen.Result) -> list[str]:
    return [json.loads(s.body)["code"] for s in result.samples if s.status == 201 and s.body]


def missing_in_db(engine: Any, codes: list[str]) -> int:
    from sqlalchemy import text

    with engine.connect() as conn:
        found = conn.execute(text("SELECT count(*) FROM reports WHERE code = ANY(:c)"), {"c": codes}).scalar()
    return len(set(codes)) - int(found or 0)


def hello_requests(n: int) -> list[loadgen.Req]:
    return [loadgen.Req("POST", "/hello", {"Content-Type": "application/json"}, b'{"hello": "world"}',
                        label="hello")] * n


def measure(stack: harness.Stack, args: argparse.Namespace) -> tuple[loadgen.Result, loadgen.Result, int]:
    """Hello and intake served side by side; measured in alternating rounds (fair on a busy machine)."""
    with sidebyside.apps(stack, args) as hello_base:
        started = time.monotonic()
        uploaded = upload_photos(stack.base, args.max_requests + args.warmup, args.residents, args.connections)
        print(f"uploaded {len(uploaded)} photos in {time.monotonic() - started:.1f} s", file=sys.stderr)
        reqs = report_requests(uploaded)
        hello, intake = sidebyside.alternate(hello_base, hello_requests(200_000), stack.base, reqs[:args.warmup],
                                             reqs[args.warmup:], args)
    engine = stack.engine()
    try:
        missing = missing_in_db(engine, created_codes(intake))
    finally:
        engine.dispose()
    return hello, intake, missing


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sidebyside.add_arguments(parser, max_requests=1500, warmup=200, subject="intake")
    parser.add_argument("--residents", type=int, default=2000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    harness.exit_on_sigterm()
    with harness.Stack(database_url=args.database_url) as stack:
        hello, intake, missing = measure(stack, args)
    ratio = intake.rps() / hello.rps() if hello.rps() else 0.0
    p99 = intake.pct(0.99)
    print(sidebyside.header(args))
    print(f"hello : {hello.summary()}")
    print(f"intake: {intake.summary()}")
    print(sidebyside.load_line())
    print(f"reports answered 201: {intake.ok()}, missing in the database: {missing}")
    ok = ratio >= 0.40 and p99 < 100 and missing == 0
    print(f"RESULT intake_ratio={ratio:.3f} intake_p99_ms={p99:.1f} intake_rps={intake.rps():.1f} "
          f"hello_rps={hello.rps():.1f} intake_missing={missing} intake_errors={intake.errors()}")
    print(f"ratio intake/hello: {ratio:.2f} (budget >= 0.40), p99 {p99:.1f} ms (budget < 100) -> "
          f"{'OK' if ok else 'OVER BUDGET'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
