"""One typed settings table: defaults < ``--config`` TOML < ``TAICHI_CLOUD_*`` env < CLI flags.

The table in ``SETTINGS`` is the single source: the loader, the CLI help and the README's
settings section are all generated from it (``tests/test_docs.py`` keeps them in step).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import Invalid

ENV_PREFIX = "TAICHI_CLOUD_"


@dataclass(frozen=True)
class Setting:
    name: str
    type: type
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", str, "data", "Directory for the database, search index, uploads and job scratch space."),
    Setting("database_url", str, "", "`sqlite:///PATH` (default: `DATA_DIR/taichi.db`) or `postgresql://user@host/db`."),
    Setting("storage_url", str, "", "`file://DIR` (default: `media/` beside the data dir's parent, i.e. `./media`) or `s3://bucket/prefix`."),
    Setting("s3_endpoint_url", str, "", "Endpoint of an S3-compatible server (empty: AWS). Credentials come from the standard `AWS_*` variables."),
    Setting("cdn_base_url", str, "", "Base URL that serves the object store's public keys; empty serves streams through presigned URLs."),
    Setting("queue_url", str, "", "Empty: jobs run in-process from the database queue. `redis://host:port/db` for shared workers."),
    Setting("search_backend", str, "whoosh", "`whoosh` (default) or `tantivy` for large catalogs."),
    Setting("secret_key", str, "", "Signs stream tokens, certificates and CSRF tokens. Empty: a random key kept in `DATA_DIR/secret_key`."),
    Setting("public_url", str, "http://127.0.0.1:8080", "The externally visible base URL (oEmbed, xAPI ids, certificate links)."),
    Setting("max_upload_bytes", int, 20 * 1024**3, "Largest accepted upload in bytes (tus `Tus-Max-Size`); larger gets 413."),
    Setting("max_request_bytes", int, 1024**2, "Largest JSON request body in bytes."),
    Setting("upload_expiry_hours", int, 24, "Unfinished uploads older than this are deleted."),
    Setting("x264_preset", str, "veryfast", "x264 preset for the transcoding ladder."),
    Setting("max_concurrent_transcodes", int, 1, "Transcodes one worker runs at the same time."),
    Setting("job_max_tries", int, 4, "Attempts before a job is marked failed."),
    Setting("job_lease_seconds", int, 60, "A claimed job whose worker stops heartbeating for this long is taken again."),
    Setting("session_days", int, 30, "Lifetime of login sessions and API tokens."),
    Setting("default_locale", str, "en", "Locale used when neither `?lang=` nor `Accept-Language` matches."),
    Setting("xapi_lrs_endpoint", str, "", "External LRS statements endpoint; empty keeps statements local only."),
    Setting("xapi_lrs_username", str, "", "Basic-auth user for the external LRS."),
    Setting("xapi_lrs_password", str, "", "Basic-auth password for the external LRS."),
    Setting("log_format", str, "text", "`text` or `json` (structured logs with request ids)."),
)

_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Settings:
    data_dir: str = "data"
    database_url: str = ""
    storage_url: str = ""
    s3_endpoint_url: str = ""
    cdn_base_url: str = ""
    queue_url: str = ""
    search_backend: str = "whoosh"
    secret_key: str = ""
    public_url: str = "http://127.0.0.1:8080"
    max_upload_bytes: int = 20 * 1024**3
    max_request_bytes: int = 1024**2
    upload_expiry_hours: int = 24
    x264_preset: str = "veryfast"
    max_concurrent_transcodes: int = 1
    job_max_tries: int = 4
    job_lease_seconds: int = 60
    session_days: int = 30
    default_locale: str = "en"
    xapi_lrs_endpoint: str = ""
    xapi_lrs_username: str = ""
    xapi_lrs_password: str = ""
    log_format: str = "text"
    # Not user settings: how this process runs.
    with_worker: bool = field(default=False, metadata={"internal": True})

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_path / 'taichi.db'}"

    @property
    def resolved_storage_url(self) -> str:
        return self.storage_url or f"file://{Path('media').resolve()}"

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **_coerce_all(changes, "argument"))


def _coerce(setting: Setting, value: Any, origin: str) -> Any:
    if setting.type is int:
        if isinstance(value, bool):
            raise Invalid(f"{origin}: {setting.name} must be an integer", field=setting.name)
        try:
            return int(value)
        except (TypeError, ValueError):
            raise Invalid(f"{origin}: {setting.name} must be an integer, got {value!r}",
                          field=setting.name) from None
    if setting.type is bool:
        if isinstance(value, bool):
            return value
        return str(value).lower() in {"1", "true", "yes", "on"}
    if not isinstance(value, str):
        raise Invalid(f"{origin}: {setting.name} must be a string, got {value!r}", field=setting.name)
    return value


def _coerce_all(values: Mapping[str, Any], origin: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key == "with_worker":
            out[key] = bool(value)
            continue
        setting = _BY_NAME.get(key)
        if setting is None:
            raise Invalid(f"{origin}: unknown setting {key!r}", field=key)
        out[key] = _coerce(setting, value, origin)
    return out


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Merge the layers; unknown keys and ill-typed values raise :class:`Invalid`."""
    values: dict[str, Any] = {}
    if config_file:
        path = Path(config_file)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise Invalid(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise Invalid(f"config file {path} is not valid TOML: {exc}") from None
        values.update(_coerce_all(data, str(path)))
    env = os.environ if environ is None else environ
    for setting in SETTINGS:
        raw = env.get(ENV_PREFIX + setting.name.upper())
        if raw is not None:
            values[setting.name] = _coerce(setting, raw, ENV_PREFIX + setting.name.upper())
    if overrides:
        values.update(_coerce_all({k: v for k, v in overrides.items() if v is not None}, "flag"))
    settings = Settings(**values)
    if settings.search_backend not in {"whoosh", "tantivy"}:
        raise Invalid("search_backend must be 'whoosh' or 'tantivy'", field="search_backend")
    if settings.log_format not in {"text", "json"}:
        raise Invalid("log_format must be 'text' or 'json'", field="log_format")
    return settings


def settings_markdown() -> str:
    """The README's settings table, generated from ``SETTINGS``."""
    rows = ["| setting | environment | default | meaning |", "|---|---|---|---|"]
    for s in SETTINGS:
        default = f"`{s.default}`" if s.default != "" else "(empty)"
        rows.append(f"| `{s.name}` | `{ENV_PREFIX}{s.name.upper()}` | {default} | {s.help} |")
    return "\n".join(rows)
