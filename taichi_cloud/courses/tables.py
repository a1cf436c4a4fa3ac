"""Tables of the courses component (declared by the component's own migrations)."""

from __future__ import annotations

import sqlalchemy as sa

from ..db.migrations import Migration, create_tables
from ..db.schema import metadata

courses = sa.Table(
    "courses", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("owner_id", sa.String(32), nullable=False, index=True),
    sa.Column("visibility", sa.String(20), nullable=False),
    sa.Column("source_locale", sa.String(35), nullable=False),
    sa.Column("completion_threshold", sa.Float, nullable=False),
    # {tag: {title, summary}} and ["https://host[:port]", ...]
    sa.Column("translations", sa.JSON, nullable=False),
    sa.Column("embed_origins", sa.JSON, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
)

course_modules = sa.Table(
    "course_modules", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("course_id", sa.String(64), sa.ForeignKey("courses.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("titles", sa.JSON, nullable=False),  # {tag: title}
)

lessons = sa.Table(
    "course_lessons", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("course_id", sa.String(64), sa.ForeignKey("courses.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("module_id", sa.String(64), sa.ForeignKey("course_modules.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("entry_id", sa.String(64), nullable=False, index=True),
    sa.Column("titles", sa.JSON, nullable=False),  # optional overrides of the entry's title
)

enrollments = sa.Table(
    "course_enrollments", metadata,
    sa.Column("course_id", sa.String(64), sa.ForeignKey("courses.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("user_id", sa.String(32), primary_key=True, index=True),
    sa.Column("enrolled_at", sa.String(40), nullable=False),
)

# One row per accepted heartbeat: the primary key makes (session, seq) idempotent.
heartbeats = sa.Table(
    "progress_heartbeats", metadata,
    sa.Column("user_id", sa.String(32), primary_key=True),
    sa.Column("lesson_id", sa.String(64), primary_key=True),
    sa.Column("session", sa.String(64), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("position", sa.Float, nullable=False),
    sa.Column("segments", sa.JSON, nullable=False),
    sa.Column("event", sa.String(20), nullable=True),
    sa.Column("at", sa.String(40), nullable=False),
)

# Per viewing session (device / page load): its own played segments, for xAPI statements.
watch_sessions = sa.Table(
    "progress_sessions", metadata,
    sa.Column("user_id", sa.String(32), primary_key=True),
    sa.Column("lesson_id", sa.String(64), primary_key=True),
    sa.Column("session", sa.String(64), primary_key=True),
    sa.Column("intervals", sa.JSON, nullable=False),
    sa.Column("started_at", sa.String(40), nullable=False),
    sa.Column("last_seq", sa.BigInteger, nullable=False),
    sa.Column("position", sa.Float, nullable=False),
)

# The merged state of one learner in one lesson.
lesson_progress = sa.Table(
    "lesson_progress", metadata,
    sa.Column("user_id", sa.String(32), primary_key=True),
    sa.Column("lesson_id", sa.String(64), primary_key=True),
    sa.Column("course_id", sa.String(64), nullable=False, index=True),
    sa.Column("entry_id", sa.String(64), nullable=False),
    sa.Column("intervals", sa.JSON, nullable=False),
    sa.Column("watched_seconds", sa.Float, nullable=False),
    sa.Column("duration", sa.Float, nullable=False),
    sa.Column("position", sa.Float, nullable=False),
    # The heartbeat the position came from: newer sessions win by time, a session by seq.
    sa.Column("position_session", sa.String(64), nullable=False),
    sa.Column("position_seq", sa.BigInteger, nullable=False),
    sa.Column("position_at", sa.String(40), nullable=False),
    sa.Column("completed_at", sa.String(40), nullable=True),
    sa.Column("updated_at", sa.String(40), nullable=False),
)
sa.Index("ix_lesson_progress_user_entry", lesson_progress.c.user_id, lesson_progress.c.entry_id)

certificates = sa.Table(
    "course_certificates", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("user_id", sa.String(32), nullable=False),
    sa.Column("course_id", sa.String(64), sa.ForeignKey("courses.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("learner_name", sa.String(200), nullable=False),
    sa.Column("issued_at", sa.String(40), nullable=False),
    sa.UniqueConstraint("user_id", "course_id", name="uq_certificate_user_course"),
)

xapi_statements = sa.Table(
    "xapi_statements", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("user_id", sa.String(32), nullable=False, index=True),
    sa.Column("course_id", sa.String(64), nullable=False, index=True),
    sa.Column("lesson_id", sa.String(64), nullable=False),
    sa.Column("stored", sa.String(40), nullable=False, index=True),
    sa.Column("ordinal", sa.Integer, nullable=False),  # order within one batch (same `stored`)
    sa.Column("statement", sa.JSON, nullable=False),
)

# Durable queue of statements still to forward to the external LRS.
xapi_outbox = sa.Table(
    "xapi_outbox", metadata,
    sa.Column("statement_id", sa.String(36), primary_key=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.String(40), nullable=False, index=True),
    sa.Column("last_error", sa.Text, nullable=True),
)

MIGRATIONS = [
    Migration(1, "courses, modules, lessons, enrolments",
              create_tables(courses, course_modules, lessons, enrollments)),
    Migration(2, "progress heartbeats, sessions and merged lesson progress",
              create_tables(heartbeats, watch_sessions, lesson_progress)),
    Migration(3, "certificates", create_tables(certificates)),
    Migration(4, "xAPI statements and LRS outbox", create_tables(xapi_statements, xapi_outbox)),
]
