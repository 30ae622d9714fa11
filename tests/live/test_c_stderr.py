"""The C libraries' stderr (libjack, ALSA) stays out of the way; livegen's own words do not."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

# What libjack and ALSA print when no server runs, as lines start (see livegen.live.c_stderr).
C_NOISE = ("Cannot ", "jack server", "JackShm", "ALSA lib", "CheckRes", "JackSocket")


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60
    )


def test_fd_2_is_silenced_while_python_stderr_still_speaks() -> None:
    done = _run(
        """
        import logging, os, sys
        from livegen.live.c_stderr import quiet_c_stderr
        with quiet_c_stderr():
            os.write(2, b"C library noise\\n")  # as libjack's fprintf(stderr, ...) does
            logging.basicConfig(stream=sys.stderr, format="log: %(message)s")
            logging.warning("from logging")
            print("from python", file=sys.stderr)
        os.write(2, b"C after\\n")
        logging.warning("logging after")
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        "log: from logging",
        "from python",
        "C after",
        "log: logging after",
    ]


def test_keep_leaves_stderr_alone() -> None:
    done = _run(
        """
        import os
        from livegen.live.c_stderr import quiet_c_stderr
        with quiet_c_stderr(keep=True):
            os.write(2, b"C library noise\\n")
        """
    )
    assert done.stderr == "C library noise\n"


@pytest.mark.parametrize("backend", ["auto", "jack"])
def test_ports_without_a_server_says_one_line(backend: str) -> None:
    env = {**os.environ, "JACK_DEFAULT_SERVER": f"nothing-here-{os.getpid()}"}
    command = [sys.executable, "-m", "livegen", "ports", "--backend", backend]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    if done.returncode == 0:  # auto found the OS MIDI system (ALSA sequencer): a listing
        assert backend == "auto" and done.stderr == "" and "inputs" in done.stdout
        return
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    verbose = subprocess.run([*command, "-v"], capture_output=True, text=True, env=env, timeout=60)
    assert verbose.stderr.splitlines()[-1] == lines[0]
    assert any(line.startswith(C_NOISE) for line in verbose.stderr.splitlines())
