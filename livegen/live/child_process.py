"""Commands for helper processes that must not outlive the process that starts them.

`setpriv --pdeathsig TERM` (util-linux) has the kernel send SIGTERM to the child when the thread
that started it dies, even by kill -9, when no clean-up code of the parent runs. SIGTERM lets
the child end properly: jackd frees its slot in JACK's registry of 8 servers (see jack_registry),
a daemon sends all-notes-off. Where setpriv is missing the command runs as it is.
Start such children from a thread that lives as long as they should (the main thread).
"""

from __future__ import annotations

import shutil


def ending_with_parent(command: list[str]) -> list[str]:
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return command
    return [setpriv, "--pdeathsig", "TERM", *command]
