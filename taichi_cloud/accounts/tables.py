"""Tables of the accounts component."""

from __future__ import annotations

import sqlalchemy as sa

from ..db.migrations import Migration, create_tables
from ..db.schema import metadata

users = sa.Table(
    "users", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("locale", sa.String(35), nullable=True),
    sa.Column("time_zone", sa.String(64), nullable=True),
    sa.Column("created_at", sa.String(40), nullable=False),
)

# Tokens are stored as SHA-256 digests: a database leak does not hand out sessions.
auth_tokens = sa.Table(
    "auth_tokens", metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("expires_at", sa.String(40), nullable=False),
)

MIGRATIONS = [Migration(1, "users and auth tokens", create_tables(users, auth_tokens))]
