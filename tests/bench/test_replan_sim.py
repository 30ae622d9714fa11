"""bench/replan_sim.py, the live session on a simulated clock: a run repeats exactly (the point of
it: two settings compare on the same music), and it runs as the README gives it."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _replan_sim():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("replan_sim", ROOT / "bench" / "replan_sim.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_a_simulated_run_repeats_exactly_and_re_plans_for_every_player_event(tiny_model) -> None:
    sim = _replan_sim()
    model = tiny_model("rope", context=512)
    first = sim.simulate(model, seed=2, seconds=3.0, write_ahead_ms=50.0, token_ms=1.3)
    again = sim.simulate(model, seed=2, seconds=3.0, write_ahead_ms=50.0, token_ms=1.3)
    assert first.note_ons, "the model played nothing"
    assert (first.note_ons, first.tokens_fed, first.rolled_back) == (
        again.note_ons,
        again.tokens_fed,
        again.rolled_back,
    )
    # the player's 16ths start at bar 2 (1.33 s at 180 BPM): each note-on and release arrives
    player_events = len(sim.player_events(3.0))
    assert 0 < first.replans <= player_events
    assert first.tokens_fed > first.generated  # the player's notes and time go in as well
    assert first.late == 0


def test_the_script_reports_each_setting_as_the_readme_runs_it(tiny_model) -> None:
    model = tiny_model("rope", context=512)
    command = [
        sys.executable, str(ROOT / "bench" / "replan_sim.py"), "--model", str(model),
        "--seconds", "2", "--seeds", "1", "--write-ahead-ms", "50", "25", "--json",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report) == {"write_ahead_ms=50", "write_ahead_ms=25"}
    for (run,) in report.values():
        assert run["tokens_fed"] > 0 and run["replans"] > 0
        assert run["tokens_fed_per_note"] == run["tokens_fed"] / max(1, run["notes"])
