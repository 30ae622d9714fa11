"""Storing the calibrated send-ahead: one value changes in the serve config, nothing else does."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from livegen.errors import ConfigError
from livegen.live.calibrate import store_latency
from livegen.live.serve_config import CONFIG_DIR, load_serve_config


def test_the_shipped_config_keeps_every_other_line(tmp_path: Path) -> None:
    path = tmp_path / "default.toml"
    shutil.copy(CONFIG_DIR / "default.toml", path)
    before = path.read_text().splitlines()
    store_latency(path, 6.25)
    after = path.read_text().splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert len(changed) == 1
    old, new = changed[0]
    assert new.startswith("latency_ms = 6.2") and new.endswith(old[old.index("#") :])
    assert load_serve_config(str(path)).timing.latency_ms == pytest.approx(6.2, abs=0.051)


@pytest.mark.parametrize(
    ("text", "table"),
    [
        ("clock = 'external'\n\n[timing]\nlate_ms = 5.0\n\n[cc]\n1 = 'density'\n", "timing"),
        ("clock = 'external'\n[timing]\nlate_ms = 5.0", "timing"),  # last table, no newline
        ("clock = 'external'\n[knobs]\nbpm = 90.0\n", "knobs"),  # no [timing] yet
        ("", None),
    ],
    ids=["timing-between-tables", "timing-last", "no-timing", "empty"],
)
def test_a_missing_key_or_table_is_added(tmp_path: Path, text: str, table: str | None) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(text)
    store_latency(path, 3.0)
    data = tomllib.loads(path.read_text())
    assert data["timing"]["latency_ms"] == 3.0
    old = tomllib.loads(text)
    for key, value in old.items():
        if key != "timing":
            assert data[key] == value
    if "timing" in old:
        assert data["timing"]["late_ms"] == old["timing"]["late_ms"]


def test_a_new_file_gets_only_the_timing_table(tmp_path: Path) -> None:
    path = store_latency(tmp_path / "new.toml", 4.0)
    assert tomllib.loads(path.read_text()) == {"timing": {"latency_ms": 4.0}}


def test_a_broken_config_is_named_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[timing\nlatency_ms = 1\n")
    with pytest.raises(ConfigError, match=r"broken\.toml"):
        store_latency(path, 2.0)
    assert path.read_text() == "[timing\nlatency_ms = 1\n"
