"""HTTP routes of the catalog: entries, workflow transitions, audit log, lineage."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..errors import Invalid, NotFound
from ..keys import BODY, CATALOG, MEDIA, QUERY
from ..web.context import json_response, requested_locales, viewer
from ..web.openapi import SIGNED_IN, ApiRoutes
from .model import ENTRY_CREATE, ENTRY_OUT, ENTRY_PATCH, KINDS, LEVELS, STATUSES, TRANSITION
from .service import EDITORS, can_edit, can_view
from .views import present_entry, related_ids

api = ApiRoutes()
ENTRY_REF = {"$ref": "#/components/schemas/Entry"}
COMPONENTS = {"Entry": ENTRY_OUT, "EntryCreate": ENTRY_CREATE, "EntryPatch": ENTRY_PATCH}


async def present(request: web.Request, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """API shapes of records, with the related entries this viewer may see and media status."""
    catalog = request.app[CATALOG]
    who = viewer(request)
    wanted = set().union(*(related_ids(r) for r in records)) if records else set()
    related = {i: r for i, r in (await catalog.titles(wanted)).items() if can_view(r, who)}
    media_service = request.app.get(MEDIA)
    out = []
    for record in records:
        media = None
        if record["media_id"] and media_service is not None:
            media = await media_service.summary(record["media_id"], request)
        out.append(present_entry(record, requested_locales(request), related, media))
    return out


@api.get("/api/v1/entries", summary="List entries visible to the caller", tag="catalog",
         query={"kind": {"enum": list(KINDS)}, "style": {"type": "string", "maxLength": 40},
                "level": {"enum": list(LEVELS)}, "status": {"enum": list(STATUSES)},
                "page": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 1},
                "per_page": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
         response={"type": "object", "required": ["total", "items"], "properties": {
             "total": {"type": "integer"}, "page": {"type": "integer"},
             "per_page": {"type": "integer"}, "items": {"type": "array", "items": ENTRY_REF}}})
async def list_entries(request: web.Request) -> web.Response:
    q = request[QUERY]
    total, records = await request.app[CATALOG].list_entries(
        viewer(request), kind=q.get("kind"), style=q.get("style"), level=q.get("level"),
        status=q.get("status"), page=q["page"], per_page=q["per_page"])
    items = await present(request, records)
    return json_response({"total": total, "page": q["page"], "per_page": q["per_page"], "items": items})


@api.get("/api/v1/entries/{id}", summary="One entry in the caller's language", tag="catalog",
         response=ENTRY_REF, errors=(400, 404))
async def get_entry(request: web.Request) -> web.Response:
    record = await request.app[CATALOG].get_visible(request.match_info["id"], viewer(request))
    (entry,) = await present(request, [record])
    return json_response(entry, language=entry["locale"])


@api.post("/api/v1/entries", summary="Create a draft entry", tag="catalog", roles=EDITORS,
          body=ENTRY_CREATE, response=ENTRY_REF, status=201, errors=(400, 409, 413, 415))
async def create_entry(request: web.Request) -> web.Response:
    catalog = request.app[CATALOG]
    body = request[BODY]
    entry_id = await catalog.create({k: v for k, v in body.items() if k != "id"}, viewer(request),
                                    entry_id=body.get("id"))
    (entry,) = await present(request, [await catalog.get_visible(entry_id, viewer(request))])
    return json_response(entry, status=201, language=entry["locale"],
                         headers={"Location": f"/api/v1/entries/{entry_id}"})


@api.patch("/api/v1/entries/{id}", summary="Edit an entry (translations merge per language; "
           "a language set to null is removed)", tag="catalog", roles=EDITORS, body=ENTRY_PATCH,
           response=ENTRY_REF, errors=(400, 404, 413, 415))
async def patch_entry(request: web.Request) -> web.Response:
    catalog = request.app[CATALOG]
    entry_id = request.match_info["id"]
    await catalog.get_visible(entry_id, viewer(request))
    await catalog.update(entry_id, request[BODY], viewer(request))
    (entry,) = await present(request, [await catalog.get_visible(entry_id, viewer(request))])
    return json_response(entry, language=entry["locale"])


@api.delete("/api/v1/entries/{id}", summary="Delete an entry (its media jobs are cancelled)",
            tag="catalog", roles=EDITORS, status=204, errors=(404,))
async def delete_entry(request: web.Request) -> web.Response:
    await request.app[CATALOG].delete(request.match_info["id"], viewer(request))  # type: ignore[arg-type]
    return web.Response(status=204)


@api.post("/api/v1/entries/{id}/transitions", summary="Move an entry through draft → review → "
          "published → withdrawn", tag="catalog", roles=SIGNED_IN, body=TRANSITION,
          response={"type": "object"}, errors=(400, 404, 409))
async def transition_entry(request: web.Request) -> web.Response:
    body = request[BODY]
    user = viewer(request)
    assert user is not None
    result = await request.app[CATALOG].transition(request.match_info["id"], body["to"],
                                                   body.get("comment", ""), user)
    return json_response(result)


@api.get("/api/v1/entries/{id}/audit", summary="Workflow and edit history of an entry",
         tag="catalog", roles=EDITORS, response={"type": "object"}, errors=(404,))
async def entry_audit(request: web.Request) -> web.Response:
    catalog = request.app[CATALOG]
    entry_id = request.match_info["id"]
    record = await catalog.get_visible(entry_id, viewer(request))
    if not can_edit(record, viewer(request)):  # reviewers' comments are for the entry's editors
        raise NotFound(f"no entry {entry_id}")
    return json_response({"id": entry_id, "events": await catalog.audit_log(entry_id)})


@api.get("/api/v1/people/{id}/lineage", summary="The teacher→student graph around a person",
         tag="catalog", query={"depth": {"type": "integer", "minimum": 1, "maximum": 10, "default": 2}},
         response={"type": "object", "properties": {
             "root": {"type": "string"}, "nodes": {"type": "array"}, "edges": {"type": "array"}}},
         errors=(400, 404))
async def person_lineage(request: web.Request) -> web.Response:
    catalog = request.app[CATALOG]
    who = viewer(request)
    person_id = request.match_info["id"]
    root = await catalog.get_visible(person_id, who)
    if root["kind"] != "person":
        raise Invalid(f"{person_id} is not a person", field="id")
    ids, edges = await catalog.lineage_graph(person_id, request[QUERY]["depth"])
    records = {i: r for i, r in (await catalog.titles(ids)).items() if can_view(r, who)}
    nodes = []
    for record in records.values():
        shown = present_entry(record, requested_locales(request), records)
        nodes.append({"id": record["id"], "name": shown["name"], "names": record["names"],
                      "born": record["born"], "died": record["died"], "style": record["style"],
                      "generation": record["generation"], "url": shown["url"]})
    visible_edges = [{"teacher": t, "student": s} for t, s in sorted(edges)
                     if t in records and s in records]
    return json_response({"root": person_id, "depth": request[QUERY]["depth"],
                          "nodes": sorted(nodes, key=lambda n: (n["born"] or "9999", n["id"])),
                          "edges": visible_edges})
