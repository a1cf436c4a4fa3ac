"""Tables of the catalog component."""

from __future__ import annotations

import sqlalchemy as sa

from ..db.migrations import Migration, create_tables
from ..db.schema import metadata

entries = sa.Table(
    "entries", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False, index=True),
    sa.Column("status", sa.String(20), nullable=False, index=True),
    sa.Column("visibility", sa.String(20), nullable=False),
    sa.Column("source_locale", sa.String(35), nullable=False),
    sa.Column("style", sa.String(40), nullable=True, index=True),
    sa.Column("level", sa.String(20), nullable=True),
    sa.Column("owner_id", sa.String(32), nullable=True, index=True),
    sa.Column("media_id", sa.String(32), nullable=True),
    # Structured fields whose shape the API validates (lists and maps); see catalog/model.py.
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False, index=True),
)

entry_translations = sa.Table(
    "entry_translations", metadata,
    sa.Column("entry_id", sa.String(64), sa.ForeignKey("entries.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("tag", sa.String(35), primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("summary", sa.Text, nullable=False, default=""),
    sa.Column("body", sa.Text, nullable=False, default=""),
)

# teacher -> student edges; both ends are person entries.
lineage = sa.Table(
    "lineage", metadata,
    sa.Column("teacher_id", sa.String(64), sa.ForeignKey("entries.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("student_id", sa.String(64), sa.ForeignKey("entries.id", ondelete="CASCADE"),
              primary_key=True, index=True),
)

entry_audit = sa.Table(
    "entry_audit", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("entry_id", sa.String(64), nullable=False, index=True),
    sa.Column("actor_id", sa.String(32), nullable=True),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("from_status", sa.String(20), nullable=True),
    sa.Column("to_status", sa.String(20), nullable=True),
    sa.Column("comment", sa.Text, nullable=False, default=""),
)

MIGRATIONS = [Migration(1, "entries, translations, lineage, audit",
                        create_tables(entries, entry_translations, lineage, entry_audit))]
