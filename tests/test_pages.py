"""Server-rendered pages: language, escaping, entry pages per kind, sign-in, HTML errors."""

from __future__ import annotations

import re

from .test_catalog import VIDEO, create, publish

XSS = '<script>alert("x")</script>'


async def published(client, curator, reviewer, body):
    entry = await create(client, curator.headers, body)
    await publish(client, entry["id"], curator, reviewer)
    return entry


async def test_pages_have_lang_title_and_escape_user_text(client, make_user):
    curator, reviewer = await make_user("curator"), await make_user("reviewer")
    body = {**VIDEO, "translations": {**VIDEO["translations"],
                                      "en": {"title": f"Form {XSS}", "summary": XSS, "body": XSS}}}
    video = await published(client, curator, reviewer, body)
    await published(client, curator, reviewer, {
        "id": "sun-lutang", "kind": "person", "source_locale": "zh-Hans",
        "translations": {"zh-Hans": {"title": "孙禄堂"}, "en": {"title": "Sun Lutang"}},
        "names": {"zh-Hans": "孙禄堂", "zh-Hant": "孫祿堂", "en": "Sun Lutang"}, "born": "1860", "died": "1933"})
    archive = await published(client, curator, reviewer, {
        "kind": "archive", "source_locale": "en", "archive_type": "document",
        "translations": {"en": {"title": "A Study of Taijiquan"}},
        "people": [{"id": "sun-lutang", "role": "author"}], "dc": {"date": "1921", "creator": "Sun Lutang"}})
    collection = await published(client, curator, reviewer, {
        "kind": "collection", "source_locale": "en", "translations": {"en": {"title": "Masters"}},
        "items": [{"entry": "sun-lutang", "text": {"en": f"Sun's path {XSS}"}}, {"entry": archive["id"]}]})

    for path in ("/", f"/videos/{video['id']}", "/people/sun-lutang", f"/archives/{archive['id']}",
                 f"/collections/{collection['id']}", "/login"):
        r = await client.get(path + "?lang=en")
        assert r.status == 200, path
        html = await r.text()
        assert re.search(r'<html lang="en">', html), path
        assert re.search(r"<title>[^<]+</title>", html), path
        assert "<script>alert" not in html, path
    html = await (await client.get(f"/videos/{video['id']}?lang=en")).text()
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "Commencement" in html and "1956" in html and "rightsstatements.org" in html
    html = await (await client.get("/people/sun-lutang?lang=zh-Hant")).text()
    assert '<html lang="zh-Hant">' in html and "孫祿堂" in html and "1860" in html
    html = await (await client.get(f"/collections/{collection['id']}?lang=en")).text()
    assert html.index("Sun Lutang") < html.index("A Study of Taijiquan")
    assert "Sun&#39;s path &lt;script&gt;" in html


async def test_page_language_follows_accept_language(client):
    r = await client.get("/", headers={"Accept-Language": "ja,en;q=0.5"})
    assert '<html lang="ja">' in await r.text() and r.headers["Content-Language"] == "ja"
    r = await client.get("/", headers={"Accept-Language": "zh-HK"})
    assert '<html lang="zh-Hant">' in await r.text()


async def test_wrong_kind_and_unknown_pages_render_html_errors(client, make_user):
    curator, reviewer = await make_user("curator"), await make_user("reviewer")
    video = await published(client, curator, reviewer, VIDEO)
    r = await client.get(f"/people/{video['id']}", headers={"Accept": "text/html"})
    assert r.status == 404 and r.content_type == "text/html"
    assert "<html lang=" in await r.text()
    r = await client.get("/no/such/page", headers={"Accept": "text/html"})
    assert r.status == 404 and r.content_type == "text/html"


async def test_sign_in_form_and_safe_redirects(client, make_user):
    curator = await make_user("curator")
    form = {"email": curator.email, "password": "wrong password", "next": "/people/x"}
    r = await client.post("/login", data=form, allow_redirects=False)
    assert r.status == 401 and "role=\"alert\"" in await r.text()
    for target, expected in (("/people/x", "/people/x"), ("//evil.example/", "/"),
                             ("https://evil.example/", "/"), ("/\\evil.example", "/")):
        r = await client.post("/login", data={**form, "password": "correct horse battery", "next": target},
                              allow_redirects=False)
        assert r.status == 303 and r.headers["Location"] == expected, target
    html = await (await client.get("/")).text()
    assert curator.email.split("@")[0].title() in html or "Curator" in html
    r = await client.post("/login", data=form, headers={"Origin": "https://evil.example"}, allow_redirects=False)
    assert r.status == 403
