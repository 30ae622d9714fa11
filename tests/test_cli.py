"""The command line: every subcommand is offered and documented, user mistakes are one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest

from livegen import __version__
from livegen.cli import LAZY_COMMANDS, cli, main

ROOT = Path(__file__).resolve().parents[1]


def _all_command_paths() -> list[tuple[str, ...]]:
    """Every command and nested subcommand, as argv prefixes."""
    paths: list[tuple[str, ...]] = []
    ctx = click.Context(cli)
    for name in LAZY_COMMANDS:
        command = cli.get_command(ctx, name)
        paths.append((name,))  # a command that cannot load fails its help test below
        if isinstance(command, click.Group):
            paths.extend((name, sub) for sub in command.list_commands(ctx))
    return paths


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in LAZY_COMMANDS:
        assert name in out, f"{name} missing from livegen --help"


@pytest.mark.parametrize("path", _all_command_paths(), ids=" ".join)
def test_every_subcommand_has_help(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*path, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Usage: livegen " + " ".join(path))
    assert len(out.splitlines()) > 3, "help text should describe the command and its options"


@pytest.mark.parametrize(
    "argv, names",
    [
        (["no-such-command"], "no-such-command"),
        (["roundtrip", "/no/such/file.mid", "-o", "/tmp/out.mid"], "/no/such/file.mid"),
        (["tokens", "/no/such/file.mid"], "/no/such/file.mid"),
        (["tokens", "--limit", "many", "x.mid"], "many"),
    ],
    ids=["unknown-command", "roundtrip-missing-file", "tokens-missing-file", "bad-option-value"],
)
def test_user_mistakes_print_one_line_and_fail(argv: list[str], names: str) -> None:
    """Run the real entry point: no traceback, one line on stderr that names the bad input."""
    result = subprocess.run(
        [sys.executable, "-m", "livegen", *argv], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:")
    assert names in lines[0]
    assert "Traceback" not in result.stderr


TRAIN_EXTRA = "needs the training extra: pip install 'livegen[train]'"
BOTH_EXTRAS = "needs the training and export extras: pip install 'livegen[train,export]'"
DEFAULT_MODEL = "livegen/assets/models/default"


@pytest.mark.parametrize(
    ("blocked", "argv", "line"),
    [
        (
            "torch",
            ["train", "--config", "configs/train/smoke.toml"],
            f"livegen train {TRAIN_EXTRA}",
        ),
        ("torch", ["eval", "--model", DEFAULT_MODEL, "--data", "."], f"livegen eval {TRAIN_EXTRA}"),
        ("onnx", ["export", "--onnx", "x.pt", "-o", "out"], f"livegen export {BOTH_EXTRAS}"),
    ],
)
def test_a_missing_extra_is_one_line_naming_it(blocked: str, argv: list[str], line: str) -> None:
    # None in sys.modules makes `import torch` fail as on an install without the extra
    probe = (
        f"import sys; sys.modules[{blocked!r}] = None\n"
        "from livegen.cli import main\n"
        f"sys.exit(main({argv!r}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr[-2000:]
    assert lines[0].startswith(f"error: {line}")


def test_serve_passes_the_daemons_exit_code_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """serve raises click's Exit(code); main runs click without standalone mode and must not
    drop it (tests/live/test_serve_jack.py shows the same with a real failing daemon)."""
    from livegen.live import serve_run

    monkeypatch.setattr(serve_run, "run_serve", lambda options: 3)
    assert main(["serve", "--headless"]) == 3
    assert main(["--version"]) == 0
