"""Server-rendered pages (jinja2, autoescaped) in the visitor's language."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from ..catalog.model import slug_ok
from ..catalog.routes import present
from ..catalog.service import can_view
from ..catalog.views import KIND_PAGES
from ..errors import Invalid, NotFound, Unauthorized, UnsupportedMedia
from ..i18n import UI_LOCALES
from ..keys import (
    ACCOUNTS,
    API_SPEC,
    CATALOG,
    CSRF_TOKEN,
    I18N,
    JINJA,
    LOCALE,
    SESSION_TOKEN,
    SETTINGS,
    USER,
)
from .context import viewer
from .lineage_svg import LineageNode, lineage_svg
from .middlewares import SESSION_COOKIE, set_session_cookie
from .openapi import ApiRoutes

HERE = Path(__file__).resolve().parent
api = ApiRoutes()
HTML = {"response_content": "text/html"}


def setup(app: web.Application) -> None:
    env = Environment(loader=FileSystemLoader(HERE / "templates"),
                      autoescape=select_autoescape(default=True), enable_async=False,
                      trim_blocks=True, lstrip_blocks=True)
    app[JINJA] = env
    from . import browse, curator

    for routes in (api, browse.api, curator.api):
        app.router.add_routes(routes.table)
        app[API_SPEC].add(routes)
    app.router.add_static("/static", HERE / "static", append_version=True, name="static")


def render(request: web.Request, template: str, *, status: int = 200, language: str | None = None,
           **context: Any) -> web.Response:
    app = request.app
    ui = request[LOCALE].ui if LOCALE in request else "en"
    i18n = app[I18N]
    translations = i18n.translations(ui)
    html = app[JINJA].get_template(template).render(
        _=translations.gettext, ngettext=translations.ngettext, lang=ui,
        ui_locales=[(tag, i18n.language_name(tag, tag)) for tag in UI_LOCALES],
        user=viewer(request) if USER in request else None,
        csrf_token=request.get(CSRF_TOKEN, ""), path=request.path,
        query_lang=request.query.get("lang"), query_items=list(request.query.items()),
        format_number=lambda v: i18n.format_number(v, ui),
        language_name=lambda tag: i18n.language_name(tag, ui),
        static=lambda name: str(app.router["static"].url_for(filename=name)),
        vendor=lambda name: f"/vendor/{name}", public_url=app[SETTINGS].public_url.rstrip("/"),
        **context)
    response = web.Response(text=html, status=status, content_type="text/html")
    response.headers["Content-Language"] = language or ui
    return response


#: Browser libraries installed from the npm registry at set-up time (package.json), never committed.
VENDOR_FILES = {"hls.min.js": "hls.js/dist/hls.min.js", "tus.min.js": "tus-js-client/dist/tus.min.js"}
NODE_MODULES = HERE.parent.parent / "node_modules"


@api.get("/vendor/{name}", summary="Browser libraries (hls.js, tus-js-client) from the npm set-up",
         tag="pages", response_content="application/javascript", errors=(404,))
async def vendor_file(request: web.Request) -> web.StreamResponse:
    relative = VENDOR_FILES.get(request.match_info["name"])
    path = NODE_MODULES / relative if relative else None
    if path is None or not path.is_file():
        raise NotFound("browser library not installed: run ./dev setup (npm ci)")
    return web.FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})


def render_error_page(request: web.Request, status: int, title: str, detail: str) -> web.Response:
    return render(request, "error.html", status=status, title=title, detail=detail, code=status)


@api.get("/", summary="Home: exhibitions, courses and recent lessons", tag="pages", **HTML, errors=())
async def home(request: web.Request) -> web.Response:
    catalog = request.app[CATALOG]
    who = viewer(request)
    _, collections = await catalog.list_entries(who, kind="collection", status="published", per_page=6)
    _, videos = await catalog.list_entries(who, kind="video", status="published", per_page=8)
    _, people = await catalog.list_entries(who, kind="person", status="published", per_page=12)
    return render(request, "home.html", title=None,
                  collections=await present(request, collections),
                  videos=await present(request, videos), people=await present(request, people))


async def _entry_page(request: web.Request, kind: str) -> web.Response:
    catalog = request.app[CATALOG]
    record = await catalog.get_visible(request.match_info["id"], viewer(request))
    if record["kind"] != kind:
        raise NotFound(f"no {kind} {request.match_info['id']}")
    (entry,) = await present(request, [record])
    extra: dict[str, Any] = {}
    if kind == "video":
        # The lesson (of a course the viewer is enrolled in) that heartbeats go to, and resume.
        from ..courses.component import watch_context

        lesson = request.query.get("lesson", "")
        extra.update(await watch_context(request, record["id"], lesson if slug_ok(lesson) else None))
    if kind == "person":
        extra["lineage_svg"] = await _lineage_svg(request, record, entry["name"])
    return render(request, f"{kind}.html", title=entry["title"], entry=entry,
                  language=entry["locale"], kind_pages=KIND_PAGES, **extra)


async def _lineage_svg(request: web.Request, record: dict[str, Any], name: str) -> Markup:
    catalog = request.app[CATALOG]
    who = viewer(request)
    ids, edges = await catalog.lineage_graph(record["id"], depth=2)
    records = [r for r in (await catalog.titles(ids)).values() if can_view(r, who)]
    nodes = [LineageNode(e["id"], e["name"], f"{e['born'] or '?'}–{e['died'] or '?'}", e["url"])
             for e in await present(request, records)]
    title = request.app[I18N].translate(request[LOCALE].ui, "Lineage of %(name)s", name=name)
    return lineage_svg(nodes, edges, record["id"], title)


@api.get("/videos/{id}", summary="Watch page of a teaching video", tag="pages", **HTML, errors=(404,))
async def video_page(request: web.Request) -> web.Response:
    return await _entry_page(request, "video")


@api.get("/archives/{id}", summary="Archive item page", tag="pages", **HTML, errors=(404,))
async def archive_page(request: web.Request) -> web.Response:
    return await _entry_page(request, "archive")


@api.get("/people/{id}", summary="Person page with lineage", tag="pages", **HTML, errors=(404,))
async def person_page(request: web.Request) -> web.Response:
    return await _entry_page(request, "person")


@api.get("/collections/{id}", summary="Exhibition or playlist page", tag="pages", **HTML, errors=(404,))
async def collection_page(request: web.Request) -> web.Response:
    return await _entry_page(request, "collection")


def safe_next(value: str | None) -> str:
    """Only same-site paths: ``/x`` yes; ``//evil``, ``https://evil``, ``/\\evil`` no."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in value):
        return "/"
    return value


async def read_form(request: web.Request) -> Any:
    """The posted form; other bodies or a malformed multipart body are a clear 4xx."""
    if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise UnsupportedMedia("send the form as application/x-www-form-urlencoded")
    try:
        return await request.post()
    except (ValueError, AssertionError, RuntimeError) as exc:
        raise Invalid(f"the form could not be read: {exc}") from None


@api.get("/login", summary="Sign-in page", tag="pages", **HTML, errors=())
async def login_page(request: web.Request) -> web.Response:
    return render(request, "login.html", title=request.app[I18N].translate(request[LOCALE].ui, "Sign in"),
                  next=safe_next(request.query.get("next")), error=None)


@api.post("/login", summary="Sign in from the page form", tag="pages", **HTML,
          body={"type": "object", "properties": {"email": {"type": "string"},
                                                 "password": {"type": "string"},
                                                 "next": {"type": "string"}}},
          body_content="application/x-www-form-urlencoded", status=303, errors=(401, 429))
async def login_form(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    email, password = str(form.get("email", "")), str(form.get("password", ""))
    target = safe_next(str(form.get("next", "")))
    ui = request[LOCALE].ui
    try:
        token, _ = await request.app[ACCOUNTS].login(email, password, request.remote or "")
    except Unauthorized:
        return render(request, "login.html", status=401, next=target,
                      title=request.app[I18N].translate(ui, "Sign in"),
                      error=request.app[I18N].translate(ui, "Email or password is wrong."))
    response = web.Response(status=303, headers={"Location": target})
    set_session_cookie(request, response, token)
    return response


@api.post("/logout", summary="Sign out from a page", tag="pages", **HTML, status=303, errors=())
async def logout_form(request: web.Request) -> web.StreamResponse:
    token = request.get(SESSION_TOKEN)
    if token:
        await request.app[ACCOUNTS].revoke(token)
    response = web.Response(status=303, headers={"Location": "/"})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response
