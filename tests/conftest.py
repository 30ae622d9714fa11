"""Shared fixtures: a private JACK server with the dummy driver for tests marked `jack`."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from livegen.jackserver import JackServer, start_dummy_server


@pytest.fixture(scope="session")
def jack_server() -> Iterator[JackServer]:
    """A JACK server (dummy driver, 48 kHz, 256 frames) only this test session talks to.

    JACK_DEFAULT_SERVER points this process's clients at it; subprocesses get `server.env`.
    """
    if shutil.which("jackd") is None:
        pytest.skip("jackd is not installed (apt install jackd2): JACK tests cannot run")
    server = start_dummy_server(f"livegen-test-{os.getpid()}")
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
