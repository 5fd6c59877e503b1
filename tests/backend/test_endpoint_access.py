"""Every route × every kind of caller: the endpoint access matrix (``access_matrix.MATRIX``).

- A route or method of ``app.url_map`` without an access decision fails the suite, so no endpoint
  ships without one (HEAD and OPTIONS follow GET and are answered by Flask).
- ``access_matrix.EXTRA`` adds decisions for a route on other rows (an Open311 report's sender).
- Each route is called with real credentials — anonymous, two residents (Firebase emulator ID
  tokens), the five staff roles (signed in through the login form), an Open311 key, a unit-bound
  key and a revoked key — and real identifiers, with a body that would change data if accepted.
- A refused caller gets the channel's answer (problem+json 401/403/404, the Open311 error array,
  a redirect to the login page or an HTML 403/404) and no stored row changed (a digest of every table).
- An allowed caller gets past authorisation (no 401/403, no login redirect, no 5xx, no 404); its
  changes are rolled back (a SAVEPOINT per call) so every call sees the same world.
"""

from __future__ import annotations

import hashlib
import io
import time
from typing import Any
from urllib.parse import urlparse

import pytest
from access_matrix import EXTRA, MATRIX, Case, channel, params, refusal
from access_world import COOKIE, CREDENTIALS, PROJECT, Credential, World, build
from sqlalchemy import select
from sqlmodel import SQLModel

from backend.services.residents import firebase

from fakes import zalo as fz
from fixtures.images import jpeg

IGNORED_METHODS = {"HEAD", "OPTIONS"}


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same argon2id code path, test-sized cost."""
    from argon2 import PasswordHasher

    from backend.services.city import staff as staff_service

    monkeypatch.setattr(staff_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def settings(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Firebase Auth emulator tokens (nothing listens: they are verified locally) and a Zalo OA secret."""
    monkeypatch.setenv(firebase.EMULATOR_ENV, "127.0.0.1:9")
    settings.firebase_project_id = PROJECT
    settings.zalo_app_id, settings.zalo_oa_secret_key = fz.APP_ID, fz.OA_SECRET_KEY
    yield settings
    firebase.delete_app(settings)


@pytest.fixture
def world(app: Any, session: Any, settings: Any) -> World:
    return build(app, session, settings)


def declared_routes(app: Any) -> set[tuple[str, str]]:
    return {(method, rule.rule) for rule in app.url_map.iter_rules()
            for method in (rule.methods or set()) - IGNORED_METHODS}


def test_every_route_has_an_access_decision(app: Any) -> None:
    routes = declared_routes(app)
    missing = sorted(routes - set(MATRIX))
    stale = sorted((set(MATRIX) | {route for route, _case in EXTRA}) - routes)
    assert not missing, "routes without an access decision in tests/backend/access_matrix.py:\n" + "\n".join(
        f"  {m} {r}" for m, r in missing)
    assert not stale, "access decisions for routes that no longer exist:\n" + "\n".join(
        f"  {m} {r}" for m, r in stale)


def test_every_route_refuses_the_wrong_callers(app: Any, world: World, session: Any, connection: Any) -> None:
    client = app.test_client(use_cookies=False)
    values = params(world)
    failures: list[str] = []
    calls, started = 0, time.perf_counter()
    base = fingerprint(session)  # every route starts from it: each call is undone by its SAVEPOINT
    for (method, rule), case in [*MATRIX.items(), *EXTRA]:
        refused = [c for c in CREDENTIALS if c not in case.access.allowed]
        allowed = [c for c in CREDENTIALS if c in case.access.allowed]
        savepoint = connection.begin_nested()
        for name in refused:
            resp = send(client, method, case, world.credentials[name], values)
            failures += [f"{method} {rule} as {name}: {p}" for p in refusal_problems(app, case, name, resp)]
        if refused and fingerprint(session) != base:
            failures.append(f"{method} {rule}: a refused call changed stored data")
        savepoint.rollback()
        for name in allowed:
            savepoint = connection.begin_nested()
            resp = send(client, method, case, world.credentials[name], values)
            savepoint.rollback()
            failures += [f"{method} {rule} as {name}: {p}" for p in allowed_problems(case, resp)]
        session.expire_all()
        calls += len(refused) + len(allowed)
    elapsed = time.perf_counter() - started
    print(f"access matrix: {len(MATRIX) + len(EXTRA)} cases × {len(CREDENTIALS)} credentials = {calls} calls "
          f"in {elapsed:.1f} s")
    assert not failures, f"{len(failures)} access problems:\n" + "\n".join(failures)


def test_zalo_webhook_takes_a_valid_signature(app: Any, world: World, session: Any) -> None:
    """The webhook's one credential: the same kind of event, signed with the OA secret key, is accepted."""
    payload = fz.text_event("u-access", "tra cứu")
    raw, headers = fz.signed(payload)
    resp = app.test_client().post("/bots/zalo/webhook", data=raw, headers=headers)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    forged = app.test_client().post("/bots/zalo/webhook", data=raw,
                                    headers={**headers, "X-ZEvent-Signature": "0" * 64})
    assert forged.status_code == 401 and forged.mimetype == "application/problem+json"


def test_other_residents_get_only_public_data(app: Any, world: World) -> None:
    """The owner view (timeline, private fields) and "my reports" never leak to another resident."""
    client = app.test_client(use_cookies=False)
    alice, bob = world.credentials["resident"].headers(), world.credentials["resident2"].headers()
    owner = client.get(f"/api/v1/reports/{world.road}", headers=alice).get_json()
    public = client.get(f"/api/v1/reports/{world.road}", headers=bob).get_json()
    private_fields = set(owner) - set(public)
    assert private_fields, "the owner view has fields the public view lacks"
    assert public == client.get(f"/api/v1/reports/{world.road}").get_json()
    mine = client.get("/api/v1/me/reports", headers=alice).get_data(as_text=True)
    theirs = client.get("/api/v1/me/reports", headers=bob).get_data(as_text=True)
    assert world.road in mine and world.road not in theirs


# --------------------------------------------------------------------------- one call


def send(client: Any, method: str, case: Case, cred: Credential, values: dict[str, Any]) -> Any:
    req = case.req
    query = {k: v.format(**values) for k, v in req.query.items()}
    headers = cred.headers()
    if cred.api_key and channel(req.path) == "open311":
        query["api_key"] = cred.api_key  # the GeoReport v2 way
    elif cred.api_key:
        headers["Authorization"] = f"Bearer {cred.api_key}"  # a key offered where a token is expected
    kwargs: dict[str, Any] = {"headers": headers, "query_string": query}
    if req.form is not None:
        kwargs["data"] = {k: v.format(**values) for k, v in req.form.items()}
    elif req.json is not None:
        kwargs["json"] = req.json
    elif req.raw is not None:
        kwargs["data"], kwargs["content_type"] = req.raw, "application/json"
    elif req.photo:
        kwargs["data"] = {"file": (io.BytesIO(jpeg(64, 48)), "anh.jpg")}
        kwargs["content_type"] = "multipart/form-data"
    resp = client.open(req.path.format(**values), method=method, **kwargs)
    resp.get_data()  # a streamed download ends (and closes its session) before the SAVEPOINT is undone
    resp.close()
    return resp


def refusal_problems(app: Any, case: Case, credential: str, resp: Any) -> list[str]:
    """What is wrong with ``resp`` as the refusal ``credential`` must get (empty: a proper refusal)."""
    how, where = refusal(case, credential), channel(case.req.path)
    status = resp.status_code
    if where in ("web", "resident"):
        if how == "unauthenticated":
            location = urlparse(resp.headers.get("Location", "")).path
            ok = status in (302, 303) and location == "/auth/login"
            return [] if ok else [f"expected a redirect to the login page, got {status} {location}"]
        want = {"forbidden": 403, "not-found": 404}[how]
        ok = status == want and resp.mimetype == "text/html"
        if how == "not-found" and resp.request.method == "POST":  # a form post goes back with the message
            ok = ok or (status == 303 and "error" in flashed(app, resp))
        return [] if ok else [f"expected an HTML {want} page, got {status} {resp.mimetype}"]
    if where == "open311":
        body = resp.get_json(silent=True)
        ok = status == 403 and isinstance(body, list) and body and all(
            isinstance(e, dict) and e.get("code") == 403 and e.get("description") for e in body)
        return [] if ok else [f"expected the Open311 403 error array, got {status} {resp.get_data()[:120]!r}"]
    want = {"unauthenticated": 401, "forbidden": 403, "not-found": 404}[how]
    body = resp.get_json(silent=True) or {}
    ok = status == want and resp.mimetype == "application/problem+json" and body.get("status") == want
    if ok and where == "api" and want == 401:
        ok = resp.headers.get("WWW-Authenticate", "").startswith("Bearer")
    return [] if ok else [f"expected problem+json {want}, got {status} {resp.mimetype} {resp.get_data()[:120]!r}"]


def allowed_problems(case: Case, resp: Any) -> list[str]:
    status = resp.status_code
    location = urlparse(resp.headers.get("Location", "")).path
    if status in (401, 403) or status >= 500 or (location == "/auth/login" and not case.req.signs_out):
        return [f"allowed caller refused or failed: {status} {location} {resp.get_data()[:160]!r}"]
    if status == 404 and not case.req.missing:
        return [f"404 for an allowed caller: the path parameters do not point at real rows: {resp.get_data()[:160]!r}"]
    return []


def flashed(app: Any, resp: Any) -> list[str]:
    """Categories of the messages a response flashed (read from the session cookie it sets)."""
    for header in resp.headers.getlist("Set-Cookie"):
        name, _, rest = header.partition("=")
        if name == COOKIE:
            data = app.session_interface.get_signing_serializer(app).loads(rest.split(";", 1)[0])
            return [category for category, _message in data.get("_flashes", [])]
    return []


def fingerprint(session: Any) -> str:
    """A digest of every row of every table (the test database is small)."""
    digest = hashlib.sha256()
    for table in SQLModel.metadata.sorted_tables:
        pk = list(table.primary_key.columns) or list(table.columns)
        for row in session.execute(select(table).order_by(*pk)):
            digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()
