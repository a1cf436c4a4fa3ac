"""Hostile input against the foundation: each case a clean 4xx (or harmless page), and nothing
leaked or changed. Cases already in test_catalog / test_accounts / test_pages are not repeated
(simple bad JSON, 2 MB body, lone invalid UTF-8 byte, 5-try login lockout, CSRF on one POST,
four ?next= forms on the sign-in form, <script> in title/summary/body).
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from aiohttp.test_utils import TestClient, TestServer

from taichi_cloud.app import create_app
from taichi_cloud.keys import SEARCH

from .conftest import problem
from .test_catalog import VIDEO, create, publish

MARKUP = '"><img src=x onerror=alert(1)>'
SCRIPT = "<script>alert(1)</script>"
PASSWORD = "correct horse battery"


def no_leak(text: str) -> None:
    for needle in ("Traceback", "root:x:0:0", "sqlalchemy", "asyncpg", 'File "/'):
        assert needle not in text, needle


async def entry_count(client, headers) -> int:
    r = await client.get("/api/v1/entries?per_page=100&status=", headers=headers)
    return len((await r.json())["items"]) if r.status == 200 else -1


async def login_cookie(client, email: str) -> str:
    r = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status == 200
    return str((await r.json())["csrf_token"])


# -- JSON bodies -------------------------------------------------------------------------------

async def test_deeply_nested_json_under_the_size_limit_is_400(client, make_user):
    curator = await make_user("curator")
    before = await entry_count(client, curator.headers)
    for body in ('{"dc": ' * 50_000 + "1" + "}" * 50_000,
                 '{"translations": {"en": {"title": ' + "[" * 200_000 + "]" * 200_000 + "}}}"):
        assert len(body) < 1024**2
        r = await client.post("/api/v1/entries", data=body.encode(),
                              headers={**curator.headers, "Content-Type": "application/json"})
        assert r.status == 400, r.status
        text = await r.text()
        no_leak(text)
        problem(json.loads(text), 400)
    r = await client.post("/api/v1/auth/register", data=('{"email": ' + "[" * 100_000 + "]" * 100_000 + "}").encode(),
                          headers={"Content-Type": "application/json"})
    assert r.status == 400
    assert await entry_count(client, curator.headers) == before


async def test_oversized_bodies_are_413_everywhere_json_is_read(client, make_user):
    curator = await make_user("curator")
    huge = b'{"email": "' + b"a" * (1024**2 + 10) + b'"}'
    for path, headers in (("/api/v1/auth/register", {}), ("/api/v1/auth/login", {}),
                          ("/api/v1/entries", curator.headers)):
        r = await client.post(path, data=huge, headers={**headers, "Content-Type": "application/json"})
        assert r.status == 413, (path, r.status)
        problem(await r.json(), 413)
    # A Content-Length that lies about a huge body is refused before it is read.
    r = await client.post("/api/v1/auth/register", data=b"{}",
                          headers={"Content-Type": "application/json", "Content-Length": "2"},
                          )
    assert r.status == 400


async def test_invalid_utf8_and_lone_surrogates_are_400(client, make_user):
    curator = await make_user("curator")
    before = await entry_count(client, curator.headers)
    for raw in (b'{"kind": "video", "source_locale": "en", "translations": {"en": {"title": "\xc3\x28"}}}',
                b'{"kind": "video", "source_locale": "en", "translations": {"en": {"title": "\xed\xa0\x80"}}}',
                b"\xff\xfe{\x00}\x00"):
        r = await client.post("/api/v1/entries", data=raw,
                              headers={**curator.headers, "Content-Type": "application/json"})
        assert r.status == 400, raw
        no_leak(await r.text())
    assert await entry_count(client, curator.headers) == before


async def test_escaped_lone_surrogates_in_json_strings_are_refused(client, make_user):
    curator = await make_user("curator")
    body = '{"kind": "video", "source_locale": "en", "translations": {"en": {"title": "a\\ud800b"}}}'
    r = await client.post("/api/v1/entries", data=body.encode(),
                          headers={**curator.headers, "Content-Type": "application/json"})
    assert r.status == 400, r.status
    no_leak(await r.text())


# -- control characters ------------------------------------------------------------------------

async def test_control_characters_in_text_fields_and_headers(client, make_user):
    curator = await make_user("curator")
    body = {**VIDEO, "source_locale": "en",
            "translations": {"en": {"title": "Form\x00with\x07bell\x1b[31m", "summary": "\u202eevil"}}}
    r = await client.post("/api/v1/entries", json=body, headers=curator.headers)
    assert r.status == 400, r.status
    assert (await r.json())["field"] == "translations.en.title"
    no_leak(await r.text())
    listing = await (await client.get("/api/v1/entries?status=draft", headers=curator.headers)).json()
    assert listing["total"] == 0
    r = await client.get("/healthz", headers={"X-Request-Id": "evil\u00e9id"})
    assert r.status == 200 and r.headers["X-Request-Id"] != "evil\u00e9id"
    r = await client.get("/api/v1/entries?kind=%00&style=%1b")
    assert r.status in (200, 400)
    no_leak(await r.text())


async def test_control_characters_in_ids_are_404(client):
    for path in ("/api/v1/entries/%0d%0aSet-Cookie:%20x=1", "/api/v1/people/%01/lineage",
                 "/api/v1/entries/a%00b", "/videos/a%00b"):
        r = await client.get(path, headers={"Accept": "application/json"})
        assert r.status in (400, 404), (path, r.status)
        assert "Set-Cookie" not in r.headers, path
        no_leak(await r.text())


# -- path traversal in ids ---------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/api/v1/entries/..%2F..%2Fetc%2Fpasswd", "/api/v1/entries/..%252F..%252Fetc%252Fpasswd",
    "/api/v1/entries/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/api/v1/people/..%2F..%2Fetc%2Fpasswd/lineage",
    "/videos/..%2F..%2Fetc%2Fpasswd", "/people/..%2F..%2F..%2Fetc%2Fpasswd",
    "/static/..%2F..%2F..%2F..%2Fetc%2Fpasswd", "/static/../../../../etc/passwd",
    "/streams/..%2F..%2Fetc/master.m3u8",
])
async def test_path_traversal_in_ids_is_404_and_reads_nothing(client, path):
    r = await client.get(path)
    assert r.status in (400, 403, 404), (path, r.status)
    no_leak(await r.text())
    r = await client.patch(path, json={"level": "advanced"})
    assert r.status in (400, 401, 403, 404, 405), (path, r.status)


# -- markup in every translated field ----------------------------------------------------------

async def test_markup_in_every_translated_field_is_escaped_on_every_page(client, make_user):
    curator, reviewer = await make_user("curator"), await make_user("reviewer")
    m = MARKUP
    person = await create(client, curator.headers, {
        "id": "evil-person", "kind": "person", "source_locale": "en",
        "translations": {"en": {"title": f"P{m}", "summary": f"S{m}", "body": f"B{SCRIPT}"}},
        "names": {"en": f"N{m}", "zh-Hans": f"名{m}"}, "born": "1900", "birthplace": {"en": f"Town{m}"},
        "honors": [{"title": f"H{m}", "event": f"E{m}", "year": 1950}], "tags": [f"t{m}"]})
    await publish(client, person["id"], curator, reviewer)
    video = await create(client, curator.headers, {
        **VIDEO, "source_locale": "en", "tags": [f"tag{m}"], "people": [{"id": "evil-person", "role": f"teacher{m}"}],
        "translations": {"en": {"title": f"V{m}", "summary": f"S{m}", "body": f"B{m}\n\n{SCRIPT}"}},
        "chapters": [{"start": 0, "end": 4, "title": {"en": f"C{m}"}}],
        "dc": {k: f"{k}{m}" for k in ("creator", "contributor", "date", "coverage", "rights",
                                      "source", "publisher", "identifier", "type")}})
    await publish(client, video["id"], curator, reviewer)
    archive = await create(client, curator.headers, {
        "kind": "archive", "source_locale": "en", "archive_type": "document",
        "translations": {"en": {"title": f"A{m}", "summary": f"S{m}", "body": SCRIPT}},
        "people": [{"id": "evil-person", "role": f"author{m}"}],
        "dc": {"date": "1921", "creator": f"c{m}", "source": "javascript:alert(1)"}})
    await publish(client, archive["id"], curator, reviewer)
    collection = await create(client, curator.headers, {
        "kind": "collection", "source_locale": "en",
        "translations": {"en": {"title": f"K{m}", "summary": f"S{m}", "body": SCRIPT}},
        "items": [{"entry": video["id"], "text": {"en": f"I{m}"}}, {"entry": archive["id"]}]})
    await publish(client, collection["id"], curator, reviewer)

    await client.app[SEARCH].flush()  # the search page shows their snippets too
    pages = ["/", f"/videos/{video['id']}", "/people/evil-person", f"/archives/{archive['id']}",
             f"/collections/{collection['id']}", f"/?lang=en&q={m}", f"/login?next={m}",
             "/search?q=img+script+alert&lang=en", f"/search?q={m}&lang=en"]
    for path in pages:
        r = await client.get(path, params={"lang": "en"} if "?" not in path else None)
        assert r.status == 200, path
        html = await r.text()
        assert "<img src=x" not in html and "<script>alert" not in html, path
        if path.startswith("/search"):
            assert 'class="hit"' in html, path  # the marked-up entries are really listed
        assert 'href="javascript:' not in html.lower(), path
        injected = InjectedMarkup()
        injected.feed(html)
        assert not injected.found, (path, injected.found)
    html = await (await client.get(f"/videos/{video['id']}?lang=en")).text()
    assert "&lt;img src=x onerror=alert(1)&gt;" in html  # shown as text, not dropped


class InjectedMarkup(HTMLParser):
    """Elements or event-handler attributes that only the hostile text could have made."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img" and dict(attrs).get("src") == "x":
            self.found.append("<img src=x>")
        self.found += [name for name, _ in attrs if name.startswith("on")]
        if tag == "script" and not dict(attrs).get("src"):
            self.found.append("inline <script>")


# -- CSRF on cookie sessions -------------------------------------------------------------------

async def test_csrf_every_unsafe_method_and_a_token_from_another_session(client, make_user, settings):
    curator = await make_user("curator")
    entry = await create(client, curator.headers)
    url = f"/api/v1/entries/{entry['id']}"
    csrf = await login_cookie(client, curator.email)
    other = create_app(settings)
    other_accounts_token = None
    for method, path, body in (("PATCH", url, {"level": "advanced"}),
                               ("POST", f"{url}/transitions", {"to": "review"}),
                               ("DELETE", url, None), ("POST", "/api/v1/auth/logout", None)):
        r = await client.request(method, path, json=body)
        assert r.status == 403, (method, path, r.status)
        r = await client.request(method, path, json=body, headers={"X-CSRF-Token": csrf[:-2] + "xx"})
        assert r.status == 403, (method, path)
    # A token minted for a different session does not open this one.
    second = TestClient(TestServer(other))
    await second.start_server()
    try:
        other_accounts_token = await login_cookie(second, curator.email)
    finally:
        await second.close()
    assert other_accounts_token != csrf
    r = await client.patch(url, json={"level": "advanced"}, headers={"X-CSRF-Token": other_accounts_token})
    assert r.status == 403
    # A form post with a forged token field, and a text/plain "simple request" from another site.
    r = await client.post("/logout", data={"csrf_token": "forged"})
    assert r.status == 403
    r = await client.post(f"{url}/transitions", data='{"to": "review"}',
                          headers={"Content-Type": "text/plain", "Origin": "https://evil.example"})
    assert r.status in (403, 415)
    after = await (await client.get(url, headers=curator.headers)).json()
    assert after["status"] == entry["status"] and after["level"] == entry["level"]
    assert (await client.get("/api/v1/me")).status == 200  # the session survived every attempt


# -- open redirects in ?next= ------------------------------------------------------------------

@pytest.mark.parametrize("target", [
    "//evil.example", "///evil.example", "/\\/evil.example", "\\\\evil.example", "https:evil.example",
    "http://evil.example", "javascript:alert(1)", "/%2F%2Fevil.example", "/\t/evil.example",
    "/ /evil.example", "/\r\nLocation: https://evil.example", "//%09evil.example", "data:text/html,x",
    "HTTPS://EVIL.EXAMPLE", "/login?next=//evil.example",
])
async def test_open_redirects_in_next_stay_on_this_site(client, make_user, target):
    curator = await make_user("curator")
    r = await client.get("/login", params={"next": target})
    assert r.status == 200
    fields = re.findall(r'name="next" value="([^"]*)"', await r.text())
    if fields:  # the sign-in form's field (the last one) already holds a same-site path
        value = fields[-1].replace("&#34;", '"').replace("&amp;", "&")
        assert value.startswith("/") and not value.startswith(("//", "/\\")), value
    r = await client.post("/login", data={"email": curator.email, "password": PASSWORD, "next": target},
                          allow_redirects=False)
    assert r.status == 303
    location = r.headers["Location"]
    assert "\r" not in location and "\n" not in location
    assert browser_host(location) == "testserver", location


def browser_host(location: str) -> str:
    """The host a browser goes to for ``Location`` on http://testserver/ (WHATWG drops tabs and
    newlines and reads backslashes as slashes in http(s) URLs)."""
    cleaned = re.sub(r"[\t\r\n]", "", location).replace("\\", "/")
    return urlsplit(urljoin("http://testserver/login", cleaned)).hostname or ""


# -- tampered and expired tokens ---------------------------------------------------------------

async def test_tampered_bearer_tokens_and_cookies_are_refused(client, make_user):
    curator = await make_user("curator")
    token = curator.token
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (flipped, token + "x", token[:-4], token.upper() if token.upper() != token else token + "Q",
                "x" * 5000, "../../../etc/passwd", "' OR '1'='1", "null"):
        r = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {bad}"})
        assert r.status in (400, 401), (bad[:20], r.status)
        no_leak(await r.text())
    r = await client.post("/api/v1/entries", json=VIDEO, headers={"Authorization": f"Bearer {flipped}"})
    assert r.status == 401
    client.session.cookie_jar.update_cookies({"taichi_session": flipped})
    r = await client.get("/api/v1/me")
    assert r.status == 401  # unknown cookie: anonymous, not an error
    r = await client.get("/")
    assert r.status == 200


async def test_expired_tokens_are_refused_even_when_recently_used(client, make_user):
    from sqlalchemy import update

    from taichi_cloud.accounts.service import token_digest
    from taichi_cloud.accounts.tables import auth_tokens
    from taichi_cloud.keys import DB
    from taichi_cloud.util import iso, utcnow

    stale, soon = await make_user("curator"), await make_user("learner")
    async with client.app[DB].write() as conn:  # age the rows as time would
        await conn.execute(update(auth_tokens).where(auth_tokens.c.token_hash == token_digest(stale.token))
                           .values(expires_at="2000-01-01T00:00:00Z"))
        await conn.execute(update(auth_tokens).where(auth_tokens.c.token_hash == token_digest(soon.token))
                           .values(expires_at=iso(utcnow() + timedelta(seconds=1.5))))
    r = await client.get("/api/v1/me", headers=stale.headers)
    assert r.status == 401
    problem(await r.json(), 401)
    client.session.cookie_jar.update_cookies({"taichi_session": stale.token})
    assert (await client.get("/api/v1/me")).status == 401
    client.session.cookie_jar.clear()
    assert (await client.get("/api/v1/me", headers=soon.headers)).status == 200  # now cached
    await asyncio.sleep(2.0)
    assert (await client.get("/api/v1/me", headers=soon.headers)).status == 401


# -- login brute force -------------------------------------------------------------------------

async def test_login_lockout_cannot_be_dodged_by_case_spaces_or_the_form(client, make_user):
    curator = await make_user("curator")
    email = curator.email
    variants = [email, email.upper(), f" {email} ", email.title(), email]
    for variant in variants:
        r = await client.post("/api/v1/auth/login", json={"email": variant, "password": "wrong guess"})
        assert r.status in (400, 401, 429), r.status
    r = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status == 429 and int(r.headers["Retry-After"]) > 0
    r = await client.post("/login", data={"email": email.upper(), "password": PASSWORD, "next": "/"},
                          allow_redirects=False)
    assert r.status == 429 and int(r.headers["Retry-After"]) > 0
    assert "taichi_session" not in r.cookies


# -- bodies that arrive in pieces --------------------------------------------------------------

async def test_a_json_body_sent_in_pieces_is_read_whole(settings):
    app = create_app(settings)
    server = TestServer(app)
    await server.start_server()
    try:
        body = json.dumps({"email": "slow@example.org", "password": PASSWORD, "name": "Slow"}).encode()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST /api/v1/auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body[:12])
        await writer.drain()
        await asyncio.sleep(0.3)
        writer.write(body[12:])
        await writer.drain()
        status_line = await reader.readline()
        writer.close()
        assert status_line.split()[1] == b"201", status_line
    finally:
        await server.close()
