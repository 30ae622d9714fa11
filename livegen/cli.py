"""The `livegen` command line: a thin shell that routes to one function per subcommand.

Subcommands live in `livegen.commands.*` and are imported only when named, so `livegen --help`
stays fast and never imports torch (train and export import it inside their function bodies).
"""

from __future__ import annotations

import importlib
import sys

import click

from livegen import __version__
from livegen.errors import LivegenError

# name -> "module:attribute" of a click command; imported on first use.
LAZY_COMMANDS: dict[str, str] = {
    "roundtrip": "livegen.commands.tokenizer_cmds:roundtrip",
    "tokens": "livegen.commands.tokenizer_cmds:tokens",
    "data": "livegen.commands.data_cmds:data",
    "train": "livegen.commands.train_cmds:train",
    "eval": "livegen.commands.train_cmds:evaluate",
    "export": "livegen.commands.model_cmds:export",
    "generate": "livegen.commands.model_cmds:generate",
    "bench": "livegen.commands.model_cmds:bench",
    "serve": "livegen.commands.serve_cmds:serve",
    "ports": "livegen.commands.serve_cmds:ports",
    "demo": "livegen.commands.serve_cmds:demo",
    "calibrate": "livegen.commands.serve_cmds:calibrate",
    "vary": "livegen.commands.vary_cmds:vary",
}


# Third-party modules that only an optional extra installs: a command that needs one and runs on
# a runtime-only install ends in one line naming the extra, not a ModuleNotFoundError traceback.
EXTRA_OF_MODULE: dict[str, str] = {
    "torch": "train",
    "matplotlib": "train",
    "music21": "train",
    "tqdm": "train",
    "onnx": "export",
    "onnxscript": "export",
    "onnxconverter_common": "export",
}
# The extras a command needs as a whole (export runs the PyTorch model to trace it).
EXTRAS_OF_COMMAND: dict[str, tuple[str, ...]] = {
    "train": ("train",),
    "eval": ("train",),
    "data": ("train",),
    "export": ("train", "export"),
}
EXTRA_WORDS = {"train": "training", "export": "export"}


def missing_extra(err: ModuleNotFoundError, argv: list[str]) -> str | None:
    """The one-line message for a module an extra would have installed; None for any other."""
    extra = EXTRA_OF_MODULE.get((err.name or "").partition(".")[0])
    if extra is None:
        return None
    command = next((arg for arg in argv if not arg.startswith("-")), "")
    extras = EXTRAS_OF_COMMAND.get(command, (extra,))
    named = " and ".join(EXTRA_WORDS[e] for e in extras)
    plural = "extras" if len(extras) > 1 else "extra"
    return (
        f"livegen {command} needs the {named} {plural}: pip install 'livegen[{','.join(extras)}]'"
    )


class LazyGroup(click.Group):
    """A click group whose subcommands are imported only when listed or invoked."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in LAZY_COMMANDS if self._load(name) is not None)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        target = LAZY_COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            # A subcommand whose module is not written yet is simply not offered.
            if err.name == module_name:
                return None
            raise
        return getattr(module, attr, None)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="livegen")
def cli() -> None:
    """livegen: an AI co-performer between your MIDI keyboard and your DAW."""


def main(argv: list[str] | None = None) -> int:
    """Entry point: user mistakes become one line on stderr and a non-zero exit code."""
    args = sys.argv[1:] if argv is None else argv
    try:
        # Without standalone mode click hands a command's Exit code back as the return value.
        code = cli.main(args=args, prog_name="livegen", standalone_mode=False)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.Abort:
        click.echo("error: aborted", err=True)
        return 130
    except click.ClickException as err:
        click.echo(f"error: {err.format_message()}", err=True)
        return err.exit_code
    except LivegenError as err:
        click.echo(f"error: {err}", err=True)
        return 1
    except ModuleNotFoundError as err:
        message = missing_extra(err, args)
        if message is None:
            raise
        click.echo(f"error: {message}", err=True)
        return 1
    except KeyboardInterrupt:
        return 130
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
