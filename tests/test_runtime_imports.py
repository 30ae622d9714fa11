"""The runtime never imports torch, livegen.train or livegen.export, and `livegen --help` works."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# Import every module under livegen/ in a fresh interpreter, then look at sys.modules.
_PROBE = textwrap.dedent(
    """
    import importlib, pkgutil, sys
    import livegen

    skipped = ("livegen.train", "livegen.export", "livegen.__main__")
    names = []
    for info in pkgutil.walk_packages(livegen.__path__, "livegen."):
        if info.name.startswith(skipped):
            continue
        importlib.import_module(info.name)
        names.append(info.name)
    heavy = sorted(
        m for m in sys.modules
        if m == "torch" or m.startswith(("torch.", "livegen.train", "livegen.export"))
    )
    print(len(names))
    print(" ".join(heavy))
    """
)


def test_importing_every_runtime_module_loads_no_torch_train_or_export() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    count, heavy = [*result.stdout.splitlines(), ""][:2]
    assert int(count) >= 10, "expected to import the runtime's modules"
    assert heavy == "", f"the runtime imported: {heavy}"


def test_livegen_help_works_without_loading_torch() -> None:
    probe = (
        "import sys\nfrom livegen.cli import main\ncode = main(['--help'])\n"
        "assert 'torch' not in sys.modules, 'livegen --help imported torch'\nsys.exit(code)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "Usage: livegen" in result.stdout and "roundtrip" in result.stdout
