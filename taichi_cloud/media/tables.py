"""Tables of the media component: assets, their captions, and tus uploads in progress."""

from __future__ import annotations

import sqlalchemy as sa

from ..db.migrations import Migration, create_tables
from ..db.schema import metadata

#: status: uploaded -> probing -> transcoding -> ready | failed (each transition one write).
media_assets = sa.Table(
    "media_assets", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("entry_id", sa.String(64), nullable=True, index=True),
    sa.Column("owner_id", sa.String(32), nullable=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("progress", sa.Float, nullable=False, default=0.0),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("filename", sa.String(255), nullable=False, default=""),
    sa.Column("filetype", sa.String(120), nullable=False, default=""),
    sa.Column("size", sa.BigInteger, nullable=False, default=0),
    sa.Column("source_key", sa.String(200), nullable=False),
    sa.Column("probe", sa.JSON, nullable=True),
    sa.Column("duration", sa.Float, nullable=True),
    # {"renditions": [...], "hls": name, "dash": name, "poster": bool, "storyboard": bool}
    sa.Column("outputs", sa.JSON, nullable=True),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
)

media_captions = sa.Table(
    "media_captions", metadata,
    sa.Column("media_id", sa.String(32), sa.ForeignKey("media_assets.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("lang", sa.String(35), primary_key=True),
    sa.Column("vtt", sa.Text, nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
)

#: tus uploads. ``offset`` is what was fsynced and acknowledged; the file may hold more bytes
#: from an interrupted PATCH, which are cut back to ``offset`` before the next write.
uploads = sa.Table(
    "uploads", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("owner_id", sa.String(32), nullable=False),
    sa.Column("length", sa.BigInteger, nullable=False),
    sa.Column("offset", sa.BigInteger, nullable=False, default=0),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("raw_metadata", sa.Text, nullable=False, default=""),
    sa.Column("media_id", sa.String(32), nullable=False),  # allocated at creation
    sa.Column("entry_id", sa.String(64), nullable=True),
    sa.Column("completed", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("expires_at", sa.String(40), nullable=False, index=True),
)

MIGRATIONS = [Migration(1, "media assets, captions, tus uploads",
                        create_tables(media_assets, media_captions, uploads))]
