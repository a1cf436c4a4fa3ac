"""The pages in a real browser: Debian's Chromium driven by Playwright against a live server.

These run on SQLite only (the pages do not depend on the database engine; the API suites cover
PostgreSQL). They need /usr/bin/chromium (`.ci/run` installs it) and the npm packages
(`./dev setup`); without them they are skipped outside CI and fail in CI.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from taichi_cloud.media.samples import make_test_clip

from .media_helpers import tus_upload, wait_for_media
from .test_catalog import VIDEO, create, publish

CHROMIUM = Path("/usr/bin/chromium")
HLS_JS = Path(__file__).resolve().parent.parent / "node_modules" / "hls.js" / "dist" / "hls.min.js"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"]

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

if not (CHROMIUM.exists() and HLS_JS.exists()):
    if os.environ.get("CI"):
        raise RuntimeError("CI must install chromium and the npm packages for the browser tests")
    pytest.skip("Chromium or the npm packages are not installed", allow_module_level=True)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield chromium
        await chromium.close()


class Console:
    """Collects console errors and uncaught exceptions of a page."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))


async def new_page(browser: Any, base: str, **context: Any) -> tuple[Any, Any, Console]:
    ctx = await browser.new_context(base_url=base, **context)
    page = await ctx.new_page()
    return ctx, page, Console(page)


async def until(target: Any, expression: str, seconds: float = 20.0) -> Any:
    """Poll a JavaScript expression until it is truthy (page.wait_for_function evaluates strings
    with eval, which our Content-Security-Policy rightly forbids)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await target.evaluate(expression)
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        await asyncio.sleep(0.1)


async def sign_in(page: Any, email: str) -> None:
    await page.goto("/login?lang=en")
    await page.fill("#email", email)
    await page.fill("#password", "correct horse battery")
    await page.click("form.stack button[type=submit]")
    await page.wait_for_load_state("load")


@pytest.fixture
async def ready_video(client, make_user, tmp_path) -> dict[str, Any]:
    """A published 12 s video (two rungs: 360p and 240p) with chapters at 0, 4 and 8 s."""
    curator, reviewer = await make_user("curator"), await make_user("reviewer")
    body = {**VIDEO, "chapters": [*VIDEO["chapters"],
                                  {"start": 8, "title": {"zh-Hans": "白鹤亮翅", "en": "White crane spreads its wings"}}]}
    entry = await create(client, curator.headers, body)
    await publish(client, entry["id"], curator, reviewer)
    data = make_test_clip(tmp_path / "lesson.mp4", seconds=12, size="640x360").read_bytes()
    done = await tus_upload(client, curator.headers, data, filename="lesson.mp4",
                            filetype="video/mp4", entry=entry["id"])
    media = await wait_for_media(client, done["Taichi-Media-Id"], seconds=120)
    assert media["status"] == "ready", media
    return {"entry": entry, "media": media, "curator": curator, "reviewer": reviewer}


async def test_a_lesson_plays_switches_quality_mirrors_changes_speed_and_seeks(client, browser, ready_video):
    ctx, page, console = await new_page(browser, str(client.make_url("")))
    await page.goto(f"/videos/{ready_video['entry']['id']}?lang=en")
    assert await page.get_attribute("html", "lang") == "en"
    assert "Simplified Tai Chi" in await page.title()
    await until(page, "document.getElementById('watch').dataset.levels >= 2")
    assert await page.get_attribute("#watch", "data-engine") == "hls.js"

    await page.evaluate("document.getElementById('player').muted = true; document.getElementById('player').play()")
    await until(page, "document.getElementById('player').currentTime > 1.0", 20)

    # Quality: pick the lowest rung and see hls.js switch to it.
    levels = await page.evaluate("Array.from(document.querySelectorAll('#quality option')).map(o => o.textContent)")
    assert levels[0] == "Auto" and {"360p", "240p"} <= set(levels)
    index = str(levels.index("240p") - 1)
    await page.select_option("#quality", index)
    await until(page, f"document.getElementById('watch').dataset.level === '{index}'", 20)

    await page.select_option("#speed", "1.5")
    assert await page.evaluate("document.getElementById('player').playbackRate") == 1.5
    await page.click("#mirror")
    transform = await page.evaluate("getComputedStyle(document.getElementById('player')).transform")
    assert transform.startswith("matrix(-1")
    assert await page.get_attribute("#mirror", "aria-pressed") == "true"

    await page.click("text=White crane spreads its wings")
    await until(page, "Math.abs(document.getElementById('player').currentTime - 8) < 1.5")
    await until(page, "document.querySelector(\".chapters [data-start='8']\").getAttribute('aria-current') === 'true'")
    assert console.errors == []
    await ctx.close()


async def test_a_b_loop_keeps_playing_one_movement(client, browser, ready_video):
    ctx, page, console = await new_page(browser, str(client.make_url("")))
    await page.goto(f"/videos/{ready_video['entry']['id']}?lang=en")
    await until(page, "document.getElementById('watch').dataset.levels >= 2")
    await page.evaluate("""() => { const v = document.getElementById('player'); v.muted = true;
        v.currentTime = 2; return v.play(); }""")
    await until(page, "document.getElementById('player').currentTime > 2.2")
    await page.click("#loop-a")
    await until(page, "document.getElementById('player').currentTime > 4")
    await page.click("#loop-b")
    loop = await page.get_attribute("#watch", "data-loop")
    a, b = (float(x) for x in loop.split("-"))
    # Let it run past B twice: the playhead stays inside the loop.
    seen = []
    for _ in range(12):
        await asyncio.sleep(0.5)
        seen.append(await page.evaluate("document.getElementById('player').currentTime"))
    assert all(a - 0.3 <= t <= b + 0.6 for t in seen), (a, b, seen)
    assert console.errors == []
    await ctx.close()


async def test_search_in_chinese_and_english_answers_in_the_visitors_language(client, browser, ready_video):
    await asyncio.sleep(1.2)  # the index follows catalog changes within a second
    ctx, page, console = await new_page(browser, str(client.make_url("")))
    await page.goto("/search?q=%E5%A4%AA%E6%9E%81&lang=zh-Hans")  # 太极
    assert await page.get_attribute("html", "lang") == "zh-Hans"
    titles = await page.locator(".hit-title").all_inner_texts()
    assert "简化太极拳" in titles
    await page.goto("/search?q=%E5%A4%AA%E6%A5%B5&lang=en")  # 太極, traditional
    titles = await page.locator(".hit-title").all_inner_texts()
    assert "Simplified Tai Chi" in titles
    await page.goto("/search?q=simplified&lang=zh-Hant")
    assert "簡化太極拳" in await page.locator(".hit-title").all_inner_texts()
    # A chapter hit opens the video at that second.
    await page.goto("/search?q=white+crane&lang=en")
    href = await page.locator(".hit-title", has_text="White crane").first.get_attribute("href")
    assert href.endswith("?t=8")
    assert console.errors == []
    await ctx.close()


async def test_curator_uploads_a_clip_through_the_page_and_sees_it_ready(client, browser, make_user, tmp_path):
    curator = await make_user("curator")
    clip = make_test_clip(tmp_path / "kata.mp4", seconds=3, size="320x240")
    ctx, page, console = await new_page(browser, str(client.make_url("")))
    await sign_in(page, curator.email)
    await page.goto("/curator?lang=en")
    assert await page.title()
    await page.set_input_files("#file-input", str(clip))
    row = page.locator(".upload").first
    await row.locator(".entry-link").wait_for(state="visible", timeout=30000)
    await until(page, "document.querySelector('.upload').dataset.status === 'ready'", 120)
    assert await row.locator(".phase").inner_text() == "Ready"
    media_id = await row.get_attribute("data-media")
    media = await (await client.get(f"/api/v1/media/{media_id}", headers=curator.headers)).json()
    assert media["status"] == "ready" and media["hls"]
    assert console.errors == []
    await ctx.close()


async def test_every_page_has_a_title_lang_and_no_script_errors(client, browser, ready_video):
    entry_id = ready_video["entry"]["id"]
    ctx, page, console = await new_page(browser, str(client.make_url("")))
    for path in ("/", "/search", "/search?q=taiji", f"/videos/{entry_id}", "/login", "/api/docs"):
        for lang in ("en", "zh-Hant", "ja"):
            await page.goto(f"{path}{'&' if '?' in path else '?'}lang={lang}")
            assert await page.get_attribute("html", "lang") == lang, path
            assert (await page.title()).strip(), path
    await sign_in(page, ready_video["curator"].email)
    for path in ("/curator", f"/curator/entries/{entry_id}"):
        await page.goto(path)
        assert (await page.title()).strip(), path
    assert console.errors == []
    await ctx.close()


async def test_embed_plays_on_an_allowed_origin_and_is_refused_elsewhere(client, browser, ready_video, make_user):
    school = await make_user("school")
    base = str(client.make_url("")).rstrip("/")

    course_id = ""

    async def host_page(request: web.Request) -> web.Response:
        src = f"{base}/embed/courses/{course_id}"
        return web.Response(text=f'<!doctype html><html lang="en"><title>host</title>'
                                 f'<iframe id="f" src="{src}" width="640" height="400" allow="autoplay"></iframe></html>',
                            content_type="text/html")

    servers = []
    for _ in range(2):
        app = web.Application()
        app.router.add_get("/", host_page)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
    allowed, refused = (f"http://127.0.0.1:{s.port}" for s in servers)
    r = await client.post("/api/v1/courses", headers=school.headers, json={
        "translations": {"en": {"title": "Embedded"}}, "source_locale": "en", "embed_origins": [allowed],
        "modules": [{"title": "One", "lessons": [{"entry": ready_video["entry"]["id"]}]}]})
    assert r.status == 201, await r.text()
    course_id = (await r.json())["id"]
    try:
        ctx, page, _ = await new_page(browser, allowed)
        await page.goto(allowed + "/")
        frame = page.frame_locator("#f")
        await frame.locator("video").wait_for(timeout=20000)
        await frame.locator("video").evaluate("v => { v.muted = true; return v.play(); }")
        player = page.frames[1]
        await until(player, "document.querySelector('video').currentTime > 0.5", 20)

        await page.goto(refused + "/")
        await asyncio.sleep(1.5)
        child = page.frames[1]
        assert await child.locator("video").count() == 0  # frame-ancestors refused the frame
        await ctx.close()
    finally:
        for server in servers:
            await server.close()


async def test_a_learners_watching_is_recorded_as_progress(client, browser, ready_video, make_user):
    school, learner = await make_user("school"), await make_user("learner")
    r = await client.post("/api/v1/courses", headers=school.headers, json={
        "translations": {"en": {"title": "Foundations"}}, "source_locale": "en",
        "modules": [{"title": "Form", "lessons": [{"entry": ready_video["entry"]["id"]}]}]})
    assert r.status == 201, await r.text()
    course = await r.json()
    lesson_id = course["modules"][0]["lessons"][0]["id"]
    assert (await client.post(f"/api/v1/courses/{course['id']}/enrollment", headers=learner.headers)).status in (200, 201)

    ctx, page, console = await new_page(browser, str(client.make_url("")))
    await sign_in(page, learner.email)
    await page.goto(f"/videos/{ready_video['entry']['id']}?lesson={lesson_id}&lang=en")
    await until(page, "document.getElementById('watch').dataset.levels >= 2")
    await page.evaluate("() => { const v = document.getElementById('player'); v.muted = true; return v.play(); }")
    await until(page, "document.getElementById('player').currentTime > 3.5")
    await page.evaluate("document.getElementById('player').pause()")
    watched = float(await until(page, "Number(document.getElementById('watch').dataset.watched) > 2.5 && document.getElementById('watch').dataset.watched"))
    assert 2.5 <= watched <= 6.0

    mine = await (await client.get(f"/api/v1/me/progress?course={course['id']}", headers=learner.headers)).json()
    (view,) = mine["modules"][0]["lessons"]
    assert view["lesson"] == lesson_id and view["watched_seconds"] == pytest.approx(watched, abs=0.01)
    assert not view["completed"] and view["position"] > 3
    assert console.errors == []
    await ctx.close()


async def test_captions_menu_and_storyboard_previews(client, browser, ready_video):
    curator = ready_video["curator"]
    media_id = ready_video["media"]["id"]
    vtt = "WEBVTT\n\n00:00.000 --> 00:05.000\n起势\n\n00:05.000 --> 00:10.000\n野马分鬃\n"
    r = await client.post(f"/api/v1/media/{media_id}/captions?lang=zh-Hans", data=vtt.encode(),
                          headers={**curator.headers, "Content-Type": "text/vtt"})
    assert r.status == 201, await r.text()
    ctx, page, console = await new_page(browser, str(client.make_url("")))
    await page.goto(f"/videos/{ready_video['entry']['id']}?lang=en")
    await until(page, "document.getElementById('watch').dataset.levels >= 2")
    assert await page.locator("#captions option[value='zh-Hans']").count() == 1
    await page.select_option("#captions", "zh-Hans")
    await page.evaluate("() => { const v = document.getElementById('player'); v.muted = true; return v.play(); }")
    cue = await until(page, """(() => { const t = Array.from(document.getElementById('player').textTracks)
        .find(t => t.language === 'zh-Hans'); return t && t.mode === 'showing' && t.activeCues
        && t.activeCues.length && t.activeCues[0].text; })()""")
    assert cue in ("起势", "野马分鬃")
    # Hovering the seek bar shows the storyboard tile for that moment.
    await until(page, "document.querySelector('#player').duration > 0")
    assert int(await until(page, "document.getElementById('watch').dataset.storyboard")) >= 10
    seek = page.locator("#seek")
    await seek.scroll_into_view_if_needed()
    box = await seek.bounding_box()
    await seek.hover(position={"x": box["width"] * 0.75, "y": box["height"] / 2})
    await until(page, "!document.getElementById('preview').hidden")
    style = await page.evaluate("getComputedStyle(document.getElementById('preview')).backgroundImage")
    assert "storyboard.jpg" in style
    assert console.errors == []
    await ctx.close()


async def test_chromiums_native_hls_player_plays_when_hls_js_is_missing(client, browser, ready_video):
    ctx, page, _ = await new_page(browser, str(client.make_url("")))
    if not await page.evaluate("document.createElement('video').canPlayType('application/vnd.apple.mpegurl')"):
        pytest.skip("this Chromium has no native HLS")
    await page.route("**/vendor/hls.min.js", lambda route: route.abort())
    await page.goto(f"/videos/{ready_video['entry']['id']}?lang=en")
    assert await until(page, "document.getElementById('watch').dataset.engine") == "native"
    await page.evaluate("() => { const v = document.getElementById('player'); v.muted = true; return v.play(); }")
    await until(page, "document.getElementById('player').currentTime > 1.0", 30)
    assert await page.evaluate("document.getElementById('player').videoWidth") > 0
    await ctx.close()
