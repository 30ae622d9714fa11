"""Shared fixtures: a private JACK server with the dummy driver for tests marked `jack`."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from livegen.live.jackserver import JackServer, start_dummy_server

# Property tests check behaviour, not speed: hypothesis's default 200 ms deadline per example
# failed the parser properties on a loaded 2-core machine (timing goals live in benchmarks).
settings.register_profile("livegen", deadline=None)
settings.load_profile("livegen")


def _shared(folder: str) -> Path:
    """A folder of ../shared that holds a `midi` folder (testdata, corpus/pop909): the checkout
    sits beside ../shared (CI and sessions); a clone elsewhere on such a machine finds it under
    /work/shared. Missing, the tests that need it fail saying where they looked."""
    beside = Path(__file__).resolve().parents[1].parent / "shared" / folder
    for candidate in (beside, Path("/work/shared") / folder):
        if (candidate / "midi").is_dir():
            return candidate
    return beside


# Set before test modules are collected, so every module reads one location (the variables
# override): LIVEGEN_TESTDATA, the real test MIDI; LIVEGEN_POP909, the POP909 corpus.
os.environ.setdefault("LIVEGEN_TESTDATA", str(_shared("testdata")))
os.environ.setdefault("LIVEGEN_POP909", str(_shared("corpus/pop909")))


_servers_started = itertools.count()


@pytest.fixture(scope="module")
def jack_server() -> Iterator[JackServer]:
    """A JACK server (dummy driver, 48 kHz, 256 frames) only this test module talks to.

    JACK_DEFAULT_SERVER points this process's clients at it; subprocesses get `server.env`.
    One per module, not per session: a client that a failed or killed test leaves stuck in
    the graph makes every later cycle an xrun, and once made a later module's client open hang
    (seen in a full run: tests/tui after 1,300 tests). A fresh server bounds that to one module.
    """
    if shutil.which("jackd") is None:
        pytest.skip("jackd is not installed (apt install jackd2): JACK tests cannot run")
    server = start_dummy_server(f"livegen-test-{os.getpid()}-{next(_servers_started)}")
    previous = os.environ.get("JACK_DEFAULT_SERVER")
    os.environ["JACK_DEFAULT_SERVER"] = server.name
    try:
        yield server
    finally:
        if previous is None:
            os.environ.pop("JACK_DEFAULT_SERVER", None)
        else:
            os.environ["JACK_DEFAULT_SERVER"] = previous
        server.stop()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory):
    """make(position="rope", **kwargs) -> Path of a tiny random exported model (real ONNX, the
    real tokenizer's vocabulary), exported once per argument set for the whole session."""
    made: dict[tuple, Path] = {}

    def make(position: str = "rope", **kwargs) -> Path:
        key = (position, *sorted(kwargs.items()))
        if key not in made:
            from livegen.export.tiny import make_tiny_model_dir

            folder = tmp_path_factory.mktemp("tiny_model") / "model"
            made[key] = make_tiny_model_dir(folder, position=position, **kwargs)
        return made[key]

    return make


# The smoke vae/ddpm, trained once per session (20 steps) and exported: tests/variation and the
# live vary move's JACK test (tests/live) use them.
REPO_ROOT = Path(__file__).resolve().parents[1]
POP909_FILES = str(REPO_ROOT.parent / "shared" / "corpus" / "pop909" / "midi" / "00[1-6].mid")


@pytest.fixture(scope="session")
def variation_checkpoint(tmp_path_factory: pytest.TempPathFactory):
    """checkpoint(kind) -> Path of checkpoint.pt after 20 smoke steps."""
    made: dict[str, Path] = {}

    def make(kind: str) -> Path:
        if kind not in made:
            from livegen.train.train_config import load_train_config
            from livegen.train.variation_loop import train

            out = tmp_path_factory.mktemp(f"{kind}_run")
            config = load_train_config(
                REPO_ROOT / "configs" / "train" / f"{kind}-smoke.toml",
                {"data.path": POP909_FILES, "run.out_dir": str(out), "optim.max_steps": 20,
                 "run.sample_every": 0},
            )  # fmt: skip
            train(config)
            made[kind] = out / "checkpoint.pt"
        return made[kind]

    return make


@pytest.fixture(scope="session")
def variation_model_dir(variation_checkpoint, tmp_path_factory: pytest.TempPathFactory):
    """model_dir(kind) -> Path of the exported folder (livegen export)."""
    made: dict[str, Path] = {}

    def make(kind: str) -> Path:
        if kind not in made:
            from livegen.cli import main

            out = tmp_path_factory.mktemp(f"{kind}_model") / "model"
            assert main(["export", "--onnx", str(variation_checkpoint(kind)), "-o", str(out)]) == 0
            made[kind] = out
        return made[kind]

    return make


# Tests through a real JACK server are real-time: on a shared 2-core VM a missed JACK cycle now
# and then loses or repeats a MIDI event (the daemon's input is a Python process callback that
# needs the GIL each 5.3 ms cycle). Run as scripts/test.sh runs them (each JACK module in its own
# process), 3 of 44 failed once at load ~2.6 (a burst lost 12 of 2,164 events; two serve tests),
# each passing when run again. Each gets two more tries (pytest-rerunfailures); one that fails
# all three fails the run. A logic fault fails every try.
JACK_RERUNS = 2


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("jack") is not None:
            item.add_marker(pytest.mark.flaky(reruns=JACK_RERUNS, reruns_delay=1))
