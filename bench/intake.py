"""Intake benchmark (DESIGN §14): ``POST /api/v1/reports`` vs its reference (``bench/reference.py``).

    python -m bench.intake [--seconds 15] [--rounds 5] [--connections 16] [--database-url URL]

Budget: intake sustains >= 50 % of the reference's throughput at 16 connections (median of the
alternating rounds; min/max quoted), p99 <= 2x the reference's, single-request p50 <= 2x the
reference's, and every report answered 201 is in the database afterwards. The bare hello is measured
in the same rounds as the stack's ceiling. Each report is the JSON an app sends (category, description,
location, one photo uploaded beforehand by the same resident, an ``Idempotency-Key``); residents
authenticate with RS256 Firebase-style ID tokens signed by a local key (``bench/tokens.py``) that both
apps verify, as production does. PostgreSQL and Redis are private instances (or ``--database-url``: a
throw-away database on that server). Rate limiting is off (one IP); nothing consumes the jobs.
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness, loadgen, sidebyside, tokens

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


def upload_requests(n: int, residents: int, token: Callable[[str], str], photos: int = 16) -> list[loadgen.Req]:
    """``n`` photo uploads, round-robin over ``residents`` (tag = resident uid)."""
    images = [photo_bytes(k) for k in range(photos)]
    out = []
    for i in range(n):
        uid = f"bench-{i % residents}"
        body, ctype = multipart(images[i % photos])
        out.append(loadgen.Req("POST", "/api/v1/media", {"Authorization": "Bearer " + token(uid),
                                                          "Content-Type": ctype}, body, tag=uid, label="media"))
    return out


def report_body(i: int, media_id: int | None, rnd: random.Random) -> bytes:
    lat = CENTRE[0] + rnd.uniform(-0.01, 0.01)
    lon = CENTRE[1] + rnd.uniform(-0.01, 0.01)
    payload = {"category": CATEGORY, "description": f"Ổ gà lớn trước nhà số {i}, xe máy dễ té ngã.",
               "location": {"lat": round(lat, 6), "lon": round(lon, 6), "accuracy_m": 8.0},
               "media_ids": [media_id] if media_id else [], "is_anonymous": False}
    return json.dumps(payload, ensure_ascii=False).encode()


def report_requests(photos: list[tuple[str, int]], token: Callable[[str], str], seed: int = 7
                    ) -> list[loadgen.Req]:
    """One report per (resident uid, photo id); tag = the Idempotency-Key."""
    rnd = random.Random(seed)
    out = []
    for i, (uid, media_id) in enumerate(photos):
        key = uuid.uuid4().hex
        out.append(loadgen.Req("POST", "/api/v1/reports",
                               {"Authorization": "Bearer " + token(uid), "Content-Type": "application/json",
                                "Idempotency-Key": key}, report_body(i, media_id, rnd), tag=key, label="report"))
    return out


def upload_photos(base: str, residents: int, token: Callable[[str], str], connections: int = 16) -> int:
    """One photo per resident through ``POST /api/v1/media`` (creates the residents); how many were stored."""
    res = loadgen.run(base, loadgen.requests_task(upload_requests(residents, residents, token)), residents,
                      seconds=600, connections=connections, collect=True)
    if res.ok() < residents:
        print(f"warning: {residents - res.ok()} uploads failed: {res.statuses()}", file=sys.stderr)
    return res.ok()


def clone_photos(engine: Any, n: int) -> list[tuple[str, int]]:
    """``n`` unattached photo rows, copies of the uploaded ones (same owner, same state): (uid, photo id).
    Copying rows in SQL instead of uploading thousands of JPEGs keeps the setup short."""
    from sqlalchemy import text

    with engine.begin() as conn:
        cols = [c for c in conn.execute(text("SELECT column_name FROM information_schema.columns WHERE "
                                             "table_name = 'photos' AND column_name <> 'id'")).scalars()]
        names = ", ".join(f'"{c}"' for c in cols)
        rows = conn.execute(text(
            f"INSERT INTO photos ({names}) SELECT {names} FROM photos CROSS JOIN generate_series(1, :k) "  # noqa: S608
            "WHERE report_id IS NULL RETURNING id, resident_id"), {"k": n // max(1, _count(conn)) + 1}).all()
        uids = dict(conn.execute(text("SELECT resident_id, subject FROM identities WHERE provider = 'firebase'")).all())
    random.Random(3).shuffle(rows)
    return [(uids[rid], pid) for pid, rid in rows[:n]]


def _count(conn: Any) -> int:
    from sqlalchemy import text

    return int(conn.execute(text("SELECT count(*) FROM photos WHERE report_id IS NULL")).scalar() or 0)


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


def measure(stack: harness.Stack, args: argparse.Namespace) -> tuple[sidebyside.Rounds, dict[str, int]]:
    """Hello, the reference and ours side by side (alternating rounds), then single requests; and how
    many reports answered 201 are missing from the database, per side."""
    with tokens.Signer() as signer:
        stack.env.pop("FIREBASE_AUTH_EMULATOR_HOST", None)  # real RS256 verification, as in production
        stack.env.update(signer.env())
        with sidebyside.apps(stack, args) as bases:
            started = time.monotonic()
            stored = upload_photos(bases["ours"], args.residents, signer.token, args.connections)
            per_side = args.warmup + args.max_requests + args.single
            engine = stack.engine()
            try:
                photos = clone_photos(engine, 2 * per_side)
            finally:
                engine.dispose()
            print(f"{stored} residents uploaded a photo, {len(photos)} photo rows ready "
                  f"in {time.monotonic() - started:.1f} s", file=sys.stderr)
            reqs = {"reference": report_requests(photos[:per_side], signer.token, 7),
                    "ours": report_requests(photos[per_side:], signer.token, 8)}
            split = {side: (r[:args.warmup], r[args.warmup:args.warmup + args.max_requests],
                            r[args.warmup + args.max_requests:]) for side, r in reqs.items()}
            hello = hello_requests(200_000)
            res = sidebyside.alternate(bases, {"hello": hello[:500], **{s: v[0] for s, v in split.items()}},
                                       {"hello": hello, **{s: v[1] for s, v in split.items()}}, args)
            sidebyside.single(bases, {s: v[2] for s, v in split.items()}, res)
    engine = stack.engine()
    try:
        missing = {side: missing_in_db(engine, created_codes(merge_all(res, side))) for side in ("reference", "ours")}
    finally:
        engine.dispose()
    return res, missing


def merge_all(res: sidebyside.Rounds, side: str) -> loadgen.Result:
    return sidebyside.merge([*res.rounds[side], res.single[side]])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sidebyside.add_arguments(parser, max_requests=4000, warmup=200, subject="intake")
    parser.add_argument("--residents", type=int, default=400, help="residents (one uploaded photo each)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    harness.exit_on_sigterm()
    with harness.Stack(database_url=args.database_url) as stack:
        res, missing = measure(stack, args)
    print(sidebyside.header(args))
    lines = sidebyside.report_lines("intake", res)
    print("\n".join(lines[:-1]))
    print(sidebyside.load_line())
    ours = sidebyside.merge([*res.rounds["ours"], res.single["ours"]])
    print(f"reports answered 201: {ours.ok()}, missing in the database: {missing['ours']} "
          f"(reference: {missing['reference']})")
    print(lines[-1] + f" intake_missing={missing['ours']} intake_errors={res.merged('ours').errors()}")
    _, med, _ = res.spread()
    ok = (med >= 0.50 and res.merged("ours").pct(0.99) <= 2 * res.merged("reference").pct(0.99)
          and res.single["ours"].pct(0.5) <= 2 * res.single["reference"].pct(0.5) and missing["ours"] == 0)
    print(f"DESIGN §14 intake: ratio >= 0.50, p99 <= 2x, single p50 <= 2x the reference's, none missing -> "
          f"{'OK' if ok else 'OVER BUDGET'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
