"""Loading catalog data files (the format of ``catalog/``): validate everything, then import.

References (teachers, people, collection items) may point at entries of any file, so records
are created first without them and linked in a second pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import Invalid
from ..web.openapi import raise_first_error
from .model import validator
from .service import Catalog

SEED_DIR = Path(__file__).resolve().parent.parent.parent / "catalog"
LINK_FIELDS = ("teachers", "people", "items")


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0


def read_catalog_files(path: Path) -> list[dict[str, Any]]:
    """Every entry of a ``.yaml``/``.json`` file or of a directory of them, validated."""
    files = sorted(p for p in path.iterdir() if p.suffix in {".yaml", ".yml", ".json"}) \
        if path.is_dir() else [path]
    if not files:
        raise Invalid(f"{path} holds no .yaml or .json catalog files")
    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    for file in files:
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise Invalid(f"{file}: cannot be read as YAML/JSON: {exc}") from None
        if data is None:
            continue
        if not isinstance(data, list):
            raise Invalid(f"{file}: expected a list of entries")
        for index, record in enumerate(data):
            try:
                raise_first_error(validator("seed"), record)
            except Invalid as exc:
                raise Invalid(f"{file.name} entry {index}: {exc.detail}", field=exc.field) from None
            if record["id"] in seen:
                raise Invalid(f"{file.name}: duplicate id {record['id']}", field="id")
            seen.add(record["id"])
            records.append(record)
    return records


async def import_records(catalog: Catalog, records: list[dict[str, Any]]) -> ImportReport:
    report = ImportReport()
    for record in records:
        fields = {k: v for k, v in record.items()
                  if k not in ("id", "status", "demo_clip", *LINK_FIELDS)}
        existing = await catalog.get_record(record["id"])
        if existing is None:
            await catalog.create(fields, None, status=record.get("status", "published"),
                                 entry_id=record["id"])
            report.created += 1
        else:
            fields.pop("kind", None)
            await catalog.update(record["id"], fields, None)
            report.updated += 1
    for record in records:
        links = {k: record[k] for k in LINK_FIELDS if k in record}
        if links:
            await catalog.update(record["id"], links, None)
    return report
