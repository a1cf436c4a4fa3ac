"""The one MetaData every component declares its tables on."""

from __future__ import annotations

from sqlalchemy import MetaData

metadata = MetaData()
