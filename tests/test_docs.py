"""Docs that cannot drift: the README holds the generated settings table and every command."""

from __future__ import annotations

import re
from pathlib import Path

from taichi_cloud.cli import build_parser
from taichi_cloud.settings import ENV_PREFIX, SETTINGS, settings_markdown

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_settings_table_is_the_generated_one():
    block = re.search(r"<!-- settings:start -->\n(.*?)\n<!-- settings:end -->", README, re.S)
    assert block, "README lacks the settings block"
    assert block.group(1).strip() == settings_markdown().strip(), \
        "README settings table is stale: paste taichi_cloud.settings.settings_markdown()"
    for s in SETTINGS:
        assert f"`{ENV_PREFIX}{s.name.upper()}`" in README


def test_every_cli_command_is_documented():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in sub.choices:  # type: ignore[union-attr]
        assert re.search(rf"^\| `{name}\b", README, re.M), f"`{name}` missing from README"


def test_quick_start_has_exactly_two_commands_and_ci_runs_the_second():
    section = re.search(r"^## Quick start\n(.*?)(?=^## )", README, re.S | re.M)
    assert section
    blocks = re.findall(r"```[a-z]*\n(.*?)```", section.group(1), re.S)
    commands = [line for b in blocks for line in b.splitlines() if line.strip() and not line.startswith("#")]
    assert len(commands) == 2
    assert commands[1] in (ROOT / ".ci" / "run").read_text()
