"""Accounts over real HTTP: register, login, sessions, bearer tokens, CSRF, roles, throttling."""

from __future__ import annotations

import sqlalchemy as sa

from taichi_cloud.accounts.tables import auth_tokens, users
from taichi_cloud.keys import DB

from .conftest import problem

ENTRY = {"kind": "video", "source_locale": "en", "translations": {"en": {"title": "Form"}}}


async def register(client, email="ada@example.org", password="long enough pw"):
    return await client.post("/api/v1/auth/register",
                             json={"email": email, "password": password, "name": "Ada"})


async def test_register_login_me_logout(client):
    r = await register(client)
    assert r.status == 201
    body = await r.json()
    assert body["user"]["role"] == "learner" and body["user"]["email"] == "ada@example.org"
    cookie = r.cookies["taichi_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"

    r = await client.post("/api/v1/auth/login", json={"email": "ADA@example.org",
                                                      "password": "long enough pw"})
    assert r.status == 200
    token = (await r.json())["token"]
    r = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status == 200 and (await r.json())["user"]["email"] == "ada@example.org"

    r = await client.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert r.status == 204
    r = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status == 401
    problem(await r.json(), 401)


async def test_passwords_are_argon2id_and_tokens_are_hashed(client):
    r = await register(client)
    token = (await r.json())["token"]
    async with client.app[DB].read() as conn:
        digest = (await conn.execute(sa.select(users.c.password_hash))).scalar_one()
        stored = [row.token_hash for row in await conn.execute(sa.select(auth_tokens))]
    assert digest.startswith("$argon2id$")
    assert token not in stored and len(stored[0]) == 64


async def test_register_rejects_bad_input_and_duplicates(client):
    r = await client.post("/api/v1/auth/register", json={"email": "x@example.org"})
    assert r.status == 400
    body = await r.json()
    problem(body, 400)
    assert "password" in body["detail"]
    r = await client.post("/api/v1/auth/register",
                          json={"email": "x@example.org", "password": "p" * 10, "role": "admin"})
    assert r.status == 400 and "role" in (await r.json())["detail"]
    r = await register(client, password="short")
    assert r.status == 400 and (await r.json())["field"] == "password"
    assert (await register(client)).status == 201
    r = await register(client)
    assert r.status == 409


async def test_wrong_password_and_unknown_email_are_401(client):
    await register(client)
    r = await client.post("/api/v1/auth/login", json={"email": "ada@example.org", "password": "nope nope"})
    assert r.status == 401
    r = await client.post("/api/v1/auth/login", json={"email": "who@example.org", "password": "nope nope"})
    assert r.status == 401


async def test_login_brute_force_is_rate_limited(client):
    await register(client)
    for _ in range(5):
        r = await client.post("/api/v1/auth/login", json={"email": "ada@example.org", "password": "guess guess"})
        assert r.status == 401
    r = await client.post("/api/v1/auth/login", json={"email": "ada@example.org", "password": "long enough pw"})
    assert r.status == 429
    assert int(r.headers["Retry-After"]) > 0
    problem(await r.json(), 429)


async def test_cookie_writes_need_the_csrf_token(client, make_user):
    curator = await make_user("curator")
    r = await client.post("/api/v1/auth/login", json={"email": curator.email, "password": "correct horse battery"})
    csrf = (await r.json())["csrf_token"]
    # The client keeps the session cookie; a write without the header is refused.
    r = await client.post("/api/v1/entries", json=ENTRY)
    assert r.status == 403
    assert "CSRF" in (await r.json())["detail"]
    r = await client.post("/api/v1/entries", json=ENTRY, headers={"X-CSRF-Token": "forged"})
    assert r.status == 403
    r = await client.post("/api/v1/entries", json=ENTRY, headers={"X-CSRF-Token": csrf})
    assert r.status == 201
    me = await (await client.get("/api/v1/me")).json()
    assert me["csrf_token"] == csrf


async def test_bad_authorization_header(client):
    r = await client.get("/api/v1/me", headers={"Authorization": "Basic abc"})
    assert r.status == 400
    r = await client.get("/api/v1/me", headers={"Authorization": "Bearer not-a-token"})
    assert r.status == 401
    r = await client.get("/api/v1/me")
    assert r.status == 401


async def test_roles_are_checked(client, make_user):
    learner = await make_user("learner")
    r = await client.post("/api/v1/entries", json=ENTRY, headers=learner.headers)
    assert r.status == 403
    problem(await r.json(), 403)
    r = await client.post("/api/v1/entries", json=ENTRY)
    assert r.status == 401
