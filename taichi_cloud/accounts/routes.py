"""HTTP routes of accounts: register, login, logout, me."""

from __future__ import annotations

from aiohttp import web

from ..keys import ACCOUNTS, BODY, CSRF_TOKEN, SESSION_TOKEN
from ..web.context import json_response, viewer
from ..web.middlewares import SESSION_COOKIE, set_session_cookie
from ..web.openapi import SIGNED_IN, ApiRoutes

api = ApiRoutes()

USER_OUT = {"type": "object", "required": ["id", "email", "name", "role"], "properties": {
    "id": {"type": "string"}, "email": {"type": "string"}, "name": {"type": "string"},
    "role": {"enum": ["learner", "curator", "reviewer", "school", "admin"]},
    "locale": {"type": ["string", "null"]}, "time_zone": {"type": ["string", "null"]}}}
CREDENTIALS = {"email": {"type": "string", "minLength": 3, "maxLength": 320},
               "password": {"type": "string", "minLength": 1, "maxLength": 1024}}
COMPONENTS = {"User": USER_OUT}
USER_REF = {"$ref": "#/components/schemas/User"}


@api.post("/api/v1/auth/register", summary="Create a learner account and sign in", tag="accounts",
          body={"type": "object", "additionalProperties": False,
                "required": ["email", "password"],
                "properties": {**CREDENTIALS, "name": {"type": "string", "maxLength": 200}}},
          response={"type": "object", "properties": {"token": {"type": "string"}, "user": USER_REF}},
          status=201, errors=(400, 409, 413, 415))
async def register(request: web.Request) -> web.Response:
    accounts = request.app[ACCOUNTS]
    body = request[BODY]
    user = await accounts.create_user(body["email"], body["password"], body.get("name", ""), "learner")
    token = await accounts.issue_token(user.id)
    response = json_response({"token": token, "user": user.public(),
                              "csrf_token": accounts.csrf_token(token)}, status=201)
    set_session_cookie(request, response, token)
    return response


@api.post("/api/v1/auth/login", summary="Sign in: sets the session cookie and returns a bearer token",
          tag="accounts",
          body={"type": "object", "additionalProperties": False, "required": ["email", "password"],
                "properties": CREDENTIALS},
          response={"type": "object", "properties": {"token": {"type": "string"}, "user": USER_REF,
                                                     "csrf_token": {"type": "string"}}},
          errors=(400, 401, 413, 415, 429))
async def login(request: web.Request) -> web.Response:
    accounts = request.app[ACCOUNTS]
    body = request[BODY]
    token, user = await accounts.login(body["email"], body["password"], request.remote or "")
    response = json_response({"token": token, "user": user.public(),
                              "csrf_token": accounts.csrf_token(token)})
    set_session_cookie(request, response, token)
    return response


@api.post("/api/v1/auth/logout", summary="End this session or token", tag="accounts",
          roles=SIGNED_IN, status=204, errors=())
async def logout(request: web.Request) -> web.Response:
    token = request.get(SESSION_TOKEN)
    if token is None:
        token = request.headers.get("Authorization", "").partition(" ")[2].strip()
    await request.app[ACCOUNTS].revoke(token)
    response = web.Response(status=204)
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@api.get("/api/v1/me", summary="The signed-in user (and the CSRF token for cookie sessions)",
         tag="accounts", roles=SIGNED_IN,
         response={"type": "object", "properties": {"user": USER_REF,
                                                    "csrf_token": {"type": ["string", "null"]}}},
         errors=())
async def me(request: web.Request) -> web.Response:
    user = viewer(request)
    assert user is not None
    return json_response({"user": user.public(), "csrf_token": request.get(CSRF_TOKEN)})
