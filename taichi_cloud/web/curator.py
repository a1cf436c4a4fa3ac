"""The curator dashboard: uploads with live transcoding progress, editing in every locale, review."""

from __future__ import annotations

from aiohttp import web

from ..catalog.routes import present
from ..i18n import UI_LOCALES
from ..keys import CATALOG, I18N, LOCALE
from .context import viewer
from .openapi import ApiRoutes
from .pages import render

api = ApiRoutes()
STAFF = ("curator", "reviewer")


@api.get("/curator", summary="Curator dashboard: upload, transcoding progress, review queue",
         tag="pages", roles=STAFF, response_content="text/html", errors=())
async def dashboard(request: web.Request) -> web.Response:
    catalog = request.app[CATALOG]
    who = viewer(request)
    assert who is not None
    _, drafts = await catalog.list_entries(who, status="draft", per_page=50)
    _, in_review = await catalog.list_entries(who, status="review", per_page=50)
    mine = [e for e in drafts if e["owner"] == who.id or who.has("reviewer")]
    ui = request[LOCALE].ui
    return render(request, "curator.html", title=request.app[I18N].translate(ui, "Curator"),
                  drafts=await present(request, mine), review=await present(request, in_review),
                  can_review=who.has("reviewer"))


@api.get("/curator/entries/{id}", summary="Edit an entry's texts in every locale", tag="pages",
         roles=STAFF, response_content="text/html", errors=(404,))
async def edit_entry(request: web.Request) -> web.Response:
    record = await request.app[CATALOG].get_visible(request.match_info["id"], viewer(request))
    (entry,) = await present(request, [record])
    locales = list(dict.fromkeys([*UI_LOCALES, *record["translations"]]))
    return render(request, "curator_edit.html", title=entry["title"], entry=entry, locales=locales)
