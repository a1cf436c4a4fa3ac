"""Accounts: argon2id password hashes, hashed bearer/session tokens, roles, login throttling."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ..db import Database
from ..errors import Conflict, Invalid, NotFound, TooManyRequests, Unauthorized
from ..util import iso, new_id, parse_iso, utcnow
from .tables import auth_tokens, users

ROLES = ("learner", "curator", "reviewer", "school", "admin")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 8
TOKEN_CACHE_SECONDS = 60.0
TOKEN_CACHE_SIZE = 100_000


@dataclass(frozen=True)
class User:
    id: str
    email: str
    name: str
    role: str
    locale: str | None = None
    time_zone: str | None = None

    def public(self) -> dict[str, object]:
        return {"id": self.id, "email": self.email, "name": self.name, "role": self.role,
                "locale": self.locale, "time_zone": self.time_zone}

    def has(self, *roles: str) -> bool:
        return self.role in roles or self.role == "admin"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LoginThrottle:
    """At most ``limit`` failed logins per email (and per client address) in ``window`` seconds."""

    def __init__(self, limit: int = 5, window: float = 300.0) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, list[float]] = {}

    def check(self, *keys: str) -> None:
        now = time.monotonic()
        for key in keys:
            recent = [t for t in self._failures.get(key, []) if now - t < self.window]
            self._failures[key] = recent
            if len(recent) >= self.limit:
                retry = int(self.window - (now - recent[0])) + 1
                raise TooManyRequests("too many failed logins; try again later", retry_after=retry)

    def fail(self, *keys: str) -> None:
        now = time.monotonic()
        for key in keys:
            self._failures.setdefault(key, []).append(now)

    def reset(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)


class Accounts:
    def __init__(self, db: Database, secret_key: str, session_days: int = 30) -> None:
        self.db = db
        self._secret = secret_key.encode()
        self.session_days = session_days
        # argon2id with the library's RFC 9106 low-memory profile.
        self._hasher = PasswordHasher()
        self.throttle = LoginThrottle()
        # digest -> (user, monotonic deadline): most requests of a session skip the database.
        # Revocation here is immediate; in other processes of a scale-out deployment it takes
        # effect within TOKEN_CACHE_SECONDS.
        self._token_cache: OrderedDict[str, tuple[User, float]] = OrderedDict()

    async def _hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def _verify(self, digest: str, password: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(digest, password)
            except (VerificationError, InvalidHashError):
                return False
        return await asyncio.to_thread(check)

    async def create_user(self, email: str, password: str, name: str, role: str = "learner") -> User:
        email = email.strip().lower()
        if not EMAIL_RE.match(email) or len(email) > 320:
            raise Invalid("email is not a valid address", field="email")
        if role not in ROLES:
            raise Invalid(f"role must be one of {', '.join(ROLES)}", field="role")
        if len(password) < MIN_PASSWORD:
            raise Invalid(f"password must have at least {MIN_PASSWORD} characters", field="password")
        if len(password) > 1024:
            raise Invalid("password is too long", field="password")
        name = name.strip() or email.split("@")[0]
        digest = await self._hash(password)
        user = User(id=new_id(), email=email, name=name, role=role)
        async with self.db.write() as conn:
            exists = (await conn.execute(sa.select(users.c.id).where(users.c.email == email))).first()
            if exists:
                raise Conflict("an account with this email already exists", field="email")
            await conn.execute(users.insert().values(
                id=user.id, email=email, name=name, role=role, password_hash=digest,
                created_at=iso()))
        return user

    async def get_user(self, user_id: str) -> User:
        async with self.db.read() as conn:
            row = (await conn.execute(sa.select(users).where(users.c.id == user_id))).first()
        if row is None:
            raise NotFound(f"no user {user_id}")
        return _user(row)

    async def login(self, email: str, password: str, client: str = "") -> tuple[str, User]:
        """Check the password and open a session; returns the (secret) token and the user."""
        email = email.strip().lower()
        keys = (f"email:{email}", f"ip:{client}") if client else (f"email:{email}",)
        self.throttle.check(*keys)
        async with self.db.read() as conn:
            row = (await conn.execute(sa.select(users).where(users.c.email == email))).first()
        # Verify against a dummy hash for unknown emails so timing does not reveal accounts.
        digest = row.password_hash if row else _dummy_hash()
        ok = await self._verify(digest, password)
        if row is None or not ok:
            self.throttle.fail(*keys)
            raise Unauthorized("email or password is wrong")
        self.throttle.reset(*keys)
        token = await self.issue_token(row.id)
        return token, _user(row)

    async def issue_token(self, user_id: str) -> str:
        token = secrets.token_urlsafe(32)
        now = utcnow()
        async with self.db.write() as conn:
            await conn.execute(auth_tokens.insert().values(
                token_hash=token_digest(token), user_id=user_id, created_at=iso(now),
                expires_at=iso(now + timedelta(days=self.session_days))))
        return token

    async def user_for_token(self, token: str) -> User | None:
        if not token or len(token) > 200:
            return None
        digest = token_digest(token)
        cached = self._token_cache.get(digest)
        if cached is not None and cached[1] > time.monotonic():
            self._token_cache.move_to_end(digest)
            return cached[0]
        async with self.db.read() as conn:
            row = (await conn.execute(
                sa.select(users, auth_tokens.c.expires_at)
                .join(auth_tokens, auth_tokens.c.user_id == users.c.id)
                .where(auth_tokens.c.token_hash == digest, auth_tokens.c.expires_at > iso()))).first()
        if row is None:
            self._token_cache.pop(digest, None)
            return None
        user = _user(row)
        if len(self._token_cache) >= TOKEN_CACHE_SIZE:
            self._token_cache.popitem(last=False)  # least recently used
        # Never cache past the token's own expiry.
        left = (parse_iso(row.expires_at) - utcnow()).total_seconds()
        self._token_cache[digest] = (user, time.monotonic() + min(TOKEN_CACHE_SECONDS, left))
        return user

    async def revoke(self, token: str) -> None:
        self._token_cache.pop(token_digest(token), None)
        async with self.db.write() as conn:
            await conn.execute(auth_tokens.delete().where(
                auth_tokens.c.token_hash == token_digest(token)))

    def csrf_token(self, session_token: str) -> str:
        """Bound to the session: a page's token only works with that session's cookie."""
        return hmac.new(self._secret, b"csrf:" + token_digest(session_token).encode(),
                        hashlib.sha256).hexdigest()

    def check_csrf(self, session_token: str, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(self.csrf_token(session_token), presented or "")


def _user(row: sa.Row[tuple[object, ...]]) -> User:
    m = row._mapping
    return User(id=m["id"], email=m["email"], name=m["name"], role=m["role"],
                locale=m["locale"], time_zone=m["time_zone"])


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return PasswordHasher().hash(secrets.token_urlsafe(16))
