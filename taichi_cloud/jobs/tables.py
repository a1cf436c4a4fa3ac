"""Tables of the jobs component: one durable row per job (payloads are JSON, never pickle)."""

from __future__ import annotations

import sqlalchemy as sa

from ..db.migrations import Migration, create_tables
from ..db.schema import metadata

#: queued -> running -> done | failed | cancelled; running -> queued again on a retry.
jobs = sa.Table(
    "jobs", metadata,
    sa.Column("id", sa.String(100), primary_key=True),
    sa.Column("kind", sa.String(60), nullable=False),
    sa.Column("ref", sa.String(100), nullable=True, index=True),  # what the job is about
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("tries", sa.Integer, nullable=False, default=0),
    sa.Column("max_tries", sa.Integer, nullable=False),
    sa.Column("timeout_seconds", sa.Float, nullable=True),
    sa.Column("run_at", sa.String(40), nullable=False),
    sa.Column("lease_owner", sa.String(80), nullable=True),
    sa.Column("lease_expires", sa.String(40), nullable=True),
    sa.Column("heartbeat_at", sa.String(40), nullable=True),
    sa.Column("progress", sa.Float, nullable=False, default=0.0),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
    sa.Column("finished_at", sa.String(40), nullable=True),
    sa.Index("ix_jobs_claim", "state", "run_at"),
)

MIGRATIONS = [Migration(1, "durable job table", create_tables(jobs))]
