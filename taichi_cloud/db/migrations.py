"""Numbered migrations per component, recorded in ``schema_migrations``.

Each component (``core``, ``media``, ``courses``, ...) keeps an ordered list of
:class:`Migration`; ``migrate`` applies the missing ones in order, each in its own transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .schema import metadata

schema_migrations = sa.Table(
    "schema_migrations", metadata,
    sa.Column("component", sa.String(40), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("applied_at", sa.String(40), nullable=False),
)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    upgrade: Callable[[Connection], None]


def create_tables(*tables: sa.Table) -> Callable[[Connection], None]:
    def upgrade(conn: Connection) -> None:
        for table in tables:
            table.create(conn, checkfirst=True)
    return upgrade


def component_migrations() -> dict[str, Sequence[Migration]]:
    # Imported here so that every component's tables are declared before they are created.
    from ..accounts.tables import MIGRATIONS as accounts
    from ..catalog.tables import MIGRATIONS as catalog
    from ..courses.tables import MIGRATIONS as courses
    from ..jobs.tables import MIGRATIONS as jobs
    from ..media.tables import MIGRATIONS as media

    return {"accounts": accounts, "catalog": catalog, "jobs": jobs, "media": media,
            "courses": courses}


async def migrate(db: object) -> list[str]:
    """Apply pending migrations; return the ones applied as ``component:version:name``."""
    from . import Database

    assert isinstance(db, Database)
    async with db.write() as conn:
        await conn.run_sync(lambda c: schema_migrations.create(c, checkfirst=True))
        rows = (await conn.execute(sa.select(schema_migrations.c.component,
                                             schema_migrations.c.version))).all()
    done = {(r.component, r.version) for r in rows}
    applied: list[str] = []
    for component, migrations in component_migrations().items():
        versions = [m.version for m in migrations]
        if versions != sorted(set(versions)):
            raise RuntimeError(f"migrations of {component} are not numbered in order")
        for m in migrations:
            if (component, m.version) in done:
                continue
            async with db.write() as conn:
                await conn.run_sync(m.upgrade)
                await conn.execute(schema_migrations.insert().values(
                    component=component, version=m.version, name=m.name,
                    applied_at=datetime.now(UTC).isoformat()))
            applied.append(f"{component}:{m.version}:{m.name}")
    return applied
