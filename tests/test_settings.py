"""Settings: defaults < TOML < TAICHI_CLOUD_* environment < flags, typed, documented."""

from __future__ import annotations

import dataclasses

import pytest

from taichi_cloud.errors import Invalid
from taichi_cloud.settings import SETTINGS, Settings, load_settings


def test_layers_override_in_order(tmp_path):
    config = tmp_path / "taichi.toml"
    config.write_text('data_dir = "from-toml"\nmax_upload_bytes = 1000\npublic_url = "https://toml.example"\n')
    env = {"TAICHI_CLOUD_MAX_UPLOAD_BYTES": "2000", "TAICHI_CLOUD_PUBLIC_URL": "https://env.example"}
    s = load_settings(config, env, {"public_url": "https://flag.example"})
    assert s.data_dir == "from-toml"
    assert s.max_upload_bytes == 2000
    assert s.public_url == "https://flag.example"
    assert load_settings(None, {}).max_upload_bytes == Settings().max_upload_bytes


def test_bad_settings_are_reported_clearly(tmp_path):
    with pytest.raises(Invalid, match="TAICHI_CLOUD_MAX_UPLOAD_BYTES: max_upload_bytes must be an integer"):
        load_settings(None, {"TAICHI_CLOUD_MAX_UPLOAD_BYTES": "lots"})
    config = tmp_path / "bad.toml"
    config.write_text("colour = 'red'\n")
    with pytest.raises(Invalid, match="unknown setting 'colour'"):
        load_settings(config, {})
    config.write_text("data_dir = [\n")
    with pytest.raises(Invalid, match="not valid TOML"):
        load_settings(config, {})
    with pytest.raises(Invalid, match="search_backend"):
        load_settings(None, {"TAICHI_CLOUD_SEARCH_BACKEND": "lucene"})
    with pytest.raises(Invalid, match="does not exist"):
        load_settings(tmp_path / "missing.toml", {})


def test_the_table_and_the_dataclass_agree():
    fields = {f.name: f for f in dataclasses.fields(Settings) if not f.metadata.get("internal")}
    assert set(fields) == {s.name for s in SETTINGS}
    for s in SETTINGS:
        assert fields[s.name].default == s.default, s.name
        assert s.help.strip(), s.name


def test_contract_settings_exist():
    names = {s.name for s in SETTINGS}
    assert {"data_dir", "database_url", "storage_url", "s3_endpoint_url", "queue_url", "secret_key",
            "public_url", "max_upload_bytes"} <= names


def test_database_defaults_to_sqlite_in_the_data_dir():
    s = load_settings(None, {}, {"data_dir": "/srv/tc"})
    assert s.resolved_database_url == "sqlite:////srv/tc/taichi.db"
