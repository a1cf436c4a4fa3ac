"""Embed pages (frame-ancestors CSP, playlist, resume) and oEmbed 1.0 through real HTTP."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from urllib.parse import parse_qs, quote, urlsplit

from tests.conftest import problem
from tests.test_courses_helpers import beat, course, enrol, lesson_ids, video

BASE = "http://testserver.example"  # settings.public_url in the test fixture


def frame_ancestors(response) -> list[str]:
    csp = response.headers["Content-Security-Policy"]
    directive = next(d.strip() for d in csp.split(";") if d.strip().startswith("frame-ancestors"))
    return directive.split()[1:]


def embed_data(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="embed-data">(.*?)</script>', html, re.S)
    assert match
    return json.loads(match[1])


class Iframe(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.attrs: dict[str, str | None] = {}

    def handle_starttag(self, tag, attrs):
        if tag == "iframe":
            self.attrs = dict(attrs)


async def _catalog(client, make_user):
    curator, reviewer = await make_user("curator"), await make_user("reviewer")
    a = await video(client, curator, "Ward off", 120.0, reviewer=reviewer)
    b = await video(client, curator, "Roll back", 90.0, reviewer=reviewer)
    r = await client.post("/api/v1/entries", headers=curator.headers, json={
        "kind": "collection", "translations": {"en": {"title": "Thirteen postures"}},
        "items": [{"entry": a}, {"entry": b}]})
    collection = (await r.json())["id"]
    await client.post(f"/api/v1/entries/{collection}/transitions", json={"to": "review"}, headers=curator.headers)
    await client.post(f"/api/v1/entries/{collection}/transitions", json={"to": "published"}, headers=reviewer.headers)
    return curator, a, b, collection


async def test_embed_pages_send_frame_ancestors_from_the_owners_origins(client, make_user):
    curator, a, b, collection = await _catalog(client, make_user)
    r = await client.get(f"/embed/videos/{a}")
    assert r.status == 200
    assert frame_ancestors(r) == ["'self'"]  # nothing allowed yet: same origin only
    assert "X-Frame-Options" not in r.headers
    created = await course(client, curator, [[a, b]],
                           embed_origins=["https://school.example", "https://lms.example:8443"])
    for path in (f"/embed/courses/{created['id']}", f"/embed/videos/{a}", f"/embed/collections/{collection}"):
        r = await client.get(path)
        assert r.status == 200, path
        allowed = frame_ancestors(r)
        assert allowed[0] == "'self'"
        assert sorted(allowed[1:]) == ["https://lms.example:8443", "https://school.example"]
        assert "X-Frame-Options" not in r.headers
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    other = await course(client, curator, [[a]])
    r = await client.get(f"/embed/courses/{other['id']}")
    assert frame_ancestors(r) == ["'self'"]  # a course's own list, not its owner's others
    # ordinary pages still may not be framed at all
    page = await client.get(f"/courses/{created['id']}")
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


async def test_embed_page_has_playlist_discovery_and_resume(client, make_user):
    curator, a, b, collection = await _catalog(client, make_user)
    created = await course(client, curator, [[a], [b]])
    la, lb = lesson_ids(created)
    html = await (await client.get(f"/embed/collections/{collection}")).text()
    data = embed_data(html)
    assert [i["entry"] for i in data["items"]] == [a, b]
    assert [i["title"] for i in data["items"]] == ["Ward off", "Roll back"]
    assert data["heartbeats"] is False
    assert 'id="embed-video"' in html and "embed.js" in html
    link = re.search(r'<link rel="alternate" type="application/json\+oembed" href="([^"]+)"', html)
    assert link and parse_qs(urlsplit(link[1].replace("&amp;", "&")).query)["url"] == [
        f"{BASE}/embed/collections/{collection}"]

    learner = await make_user("learner")
    await enrol(client, created["id"], learner)
    await beat(client, learner, lb, "s", 1, 33, [[0, 33]])
    data = embed_data(await (await client.get(f"/embed/courses/{created['id']}", headers=learner.headers)).text())
    assert data["heartbeats"] is True
    assert [(i["lesson"], i["resume"]) for i in data["items"]] == [(la, 0), (lb, 33)]
    # the video embed resumes the same learner too; strangers start at 0
    solo = embed_data(await (await client.get(f"/embed/videos/{b}", headers=learner.headers)).text())
    assert solo["items"][0]["resume"] == 33
    assert embed_data(await (await client.get(f"/embed/videos/{b}")).text())["items"][0]["resume"] == 0
    fr = await client.get(f"/embed/courses/{created['id']}?lang=fr")
    assert '<html lang="fr">' in await fr.text()


async def test_embed_of_unknown_or_hidden_things_is_404(client, make_user):
    curator = await make_user("curator")
    draft = await video(client, curator, "Draft", 60.0, draft=True)
    assert (await client.get(f"/embed/videos/{draft}")).status == 404
    assert (await client.get("/embed/videos/nope")).status == 404
    assert (await client.get("/embed/courses/nope")).status == 404
    private = await course(client, curator, [[draft]], visibility="private")
    assert (await client.get(f"/embed/courses/{private['id']}")).status == 404


async def test_oembed_returns_a_working_iframe(client, make_user):
    curator, a, b, collection = await _catalog(client, make_user)
    created = await course(client, curator, [[a, b]])
    for page, kind, title, size in ((f"/videos/{a}", "videos", "Ward off", (640, 360)),
                                    (f"/collections/{collection}", "collections", "Thirteen postures", (960, 360)),
                                    (f"/courses/{created['id']}", "courses", "Yang style foundations", (960, 360))):
        r = await client.get("/oembed", params={"url": BASE + page, "format": "json"})
        assert r.status == 200, await r.text()
        body = await r.json()
        assert body["version"] == "1.0" and body["type"] == "video"
        assert body["provider_name"] and body["title"] == title
        assert (body["width"], body["height"]) == size
        iframe = Iframe()
        iframe.feed(body["html"])
        src = iframe.attrs["src"]
        assert src == f"{BASE}/embed/{kind}/{page.rsplit('/', 1)[1]}"
        assert (int(iframe.attrs["width"]), int(iframe.attrs["height"])) == size
        # the iframe's page really is there and may be framed
        framed = await client.get(urlsplit(src).path)
        assert framed.status == 200 and "frame-ancestors" in framed.headers["Content-Security-Policy"]
    small = await (await client.get("/oembed", params={"url": f"{BASE}/videos/{a}", "maxwidth": "320"})).json()
    assert (small["width"], small["height"]) == (320, 180)
    tight = await (await client.get("/oembed", params={"url": f"{BASE}/embed/videos/{a}",
                                                       "maxwidth": "1000", "maxheight": "90"})).json()
    assert (tight["width"], tight["height"]) == (160, 90)


async def test_oembed_errors(client, make_user):
    curator, a, _, _ = await _catalog(client, make_user)
    draft = await video(client, curator, "Draft", 60.0, draft=True)
    cases = [
        ({"url": f"{BASE}/videos/{a}", "format": "xml"}, 501),
        ({"url": f"https://elsewhere.example/videos/{a}"}, 404),
        ({"url": f"{BASE}/videos/unknown"}, 404),
        ({"url": f"{BASE}/people/{a}"}, 404),
        ({"url": f"{BASE}/collections/{a}"}, 404),  # a video is not a collection
        ({"url": f"{BASE}/videos/{draft}"}, 401),  # exists but is not public
        ({"url": f"{BASE}/videos/{a}", "maxwidth": "0"}, 400),
        ({}, 400),
    ]
    for params, status in cases:
        r = await client.get("/oembed", params=params)
        assert r.status == status, (params, await r.text())
        problem(await r.json(), status)


async def test_discovery_href_is_absolute_and_encoded(client):
    from taichi_cloud.embed import oembed_href

    assert oembed_href("https://museum.example/", "/videos/a b") == (
        "https://museum.example/oembed?url=" + quote("https://museum.example/videos/a b", safe="")
        + "&format=json")
