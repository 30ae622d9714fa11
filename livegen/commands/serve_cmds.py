"""`livegen serve`, `livegen ports` and `livegen demo`: thin shells over serve_run and demo."""

from __future__ import annotations

import click

from livegen.live.knobs import MODES
from livegen.live.ports import BACKEND_CHOICES


@click.command()
@click.option("--port", help="Existing MIDI port for both directions (exact or unique substring).")
@click.option("--in-port", help="Existing MIDI port to listen to.")
@click.option("--out-port", help="Existing MIDI port to play to.")
@click.option(
    "--virtual",
    metavar="NAME",
    help="Create ports NAME:in and NAME:out (with JACK: one client NAME, ports in and out; "
    "rtmidi's fallback without JACK-Client makes NAME:in and NAME-01:out).",
)
@click.option("--backend", type=click.Choice(BACKEND_CHOICES), help="MIDI system (default auto).")
@click.option("--model", help="'default' or an exported model folder.")
@click.option("--mode", type=click.Choice(MODES), help="call, accompany or continue.")
@click.option("--clock", type=click.Choice(("internal", "external")), help="Time source.")
@click.option("--bpm", type=float, help="Tempo of the internal clock.")
@click.option("--seed", type=int, help="Sampling seed.")
@click.option("--record", type=click.Path(dir_okay=False), help="Write the session to FILE.mid.")
@click.option("--headless", is_flag=True, help="No TUI; log to stderr.")
@click.option("--config", help="configs/serve/NAME.toml (a name or a path).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a setting.")
@click.option("--prompt", type=click.Path(dir_okay=False), help="MIDI file to continue from.")
@click.option("--seconds", type=float, help="Stop by itself after this many seconds.")
@click.option("--stats-json", type=click.Path(dir_okay=False), help="Write timing stats at exit.")
def serve(**kwargs: object) -> None:
    """Play along live: listen on a MIDI port, generate in time with the clock, play back.

    Stop with Ctrl-C (or SIGTERM): every sounding note is ended before exit.
    """
    from livegen.live.serve_run import ServeOptions, run_serve

    kwargs["overrides"] = tuple(kwargs["overrides"])  # type: ignore[arg-type]
    code = run_serve(ServeOptions(**kwargs))  # type: ignore[arg-type]
    if code:
        raise click.exceptions.Exit(code)


VERBOSE_HELP = "Also show the MIDI libraries' own messages (libjack, ALSA) on stderr."


@click.command()
@click.option("--backend", type=click.Choice(BACKEND_CHOICES), default="auto", show_default=True)
@click.option("-v", "--verbose", is_flag=True, help=VERBOSE_HELP)
def ports(backend: str, verbose: bool) -> None:
    """List the MIDI ports livegen can open (inputs and outputs)."""
    from livegen.live.c_stderr import quiet_c_stderr
    from livegen.live.ports import list_ports

    with quiet_c_stderr(keep=verbose):
        inputs, outputs = list_ports(backend)
    click.echo("inputs (livegen listens to one of these):")
    for name in inputs or ["(none)"]:
        click.echo(f"  {name}")
    click.echo("outputs (livegen plays to one of these):")
    for name in outputs or ["(none)"]:
        click.echo(f"  {name}")


@click.command()
@click.option("--model", default="default", show_default=True, help="Model folder or 'default'.")
@click.option("--prompt", type=click.Path(dir_okay=False), help="MIDI file the player plays.")
@click.option("--mode", type=click.Choice(MODES), default="accompany", show_default=True)
@click.option("--seconds", type=float, default=None, help="Stop after this long.")
@click.option("--bars", type=int, default=8, show_default=True, help="Bars of the prompt to play.")
@click.option("--bpm", type=float, default=100.0, show_default=True)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default="livegen-demo",
    show_default=True,
    help="Folder for the recording (.mid) and rendering (.wav).",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Sampling seed (a live jam still differs run to run: see above).",
)
@click.option("-v", "--verbose", is_flag=True, help=VERBOSE_HELP + " Debug logging.")
def demo(verbose: bool, **kwargs: object) -> None:
    """A jam with no DAW: JACK dummy server, the daemon, a virtual player, a recording (+ WAV).

    The jam is live, so runs with the same --seed differ: what the model may sample depends on
    where the clock is when it samples (no note may start in the past; it plans only a beat or
    two ahead), and each player note throws away what it had planned beyond that note, seeded
    draws included, at a moment set by thread timing. `livegen generate --seed` is reproducible.
    """
    from livegen.live.c_stderr import quiet_c_stderr
    from livegen.live.demo import DemoOptions, run_demo

    with quiet_c_stderr(keep=verbose):
        run_demo(DemoOptions(**kwargs, verbose=verbose))  # type: ignore[arg-type]


@click.command()
@click.option("--config", help="Serve config to store it in (a name or a path; default: default).")
@click.option("--port", help="Existing MIDI port for both directions (exact or unique substring).")
@click.option("--in-port", help="Existing MIDI port the loop comes back on.")
@click.option("--out-port", help="Existing MIDI port the loop starts from.")
@click.option("--virtual", metavar="NAME", help="Create ports NAME:in and NAME:out (as serve).")
@click.option(
    "--backend", type=click.Choice(BACKEND_CHOICES), help="MIDI system (default: the config's)."
)
@click.option("--probes", type=click.IntRange(5, 1000), default=40, show_default=True)
@click.option("--wait", "wait_s", type=click.FloatRange(0.5, 600), default=10.0, show_default=True,
              help="Seconds to wait for the loop to be wired.")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Measure and report; store nothing.")
@click.option("-v", "--verbose", is_flag=True, help=VERBOSE_HELP)
def calibrate(verbose: bool, **kwargs: object) -> None:
    """Measure the MIDI round trip and store it as timing.latency_ms (the send-ahead).

    Wire livegen's output back to its input first (JACK: jack_connect livegen:out livegen:in;
    hardware: a cable from the interface's MIDI out to its in). Silent probes (CC 119 on channel
    16) go round the loop; the median round trip is stored in the serve config.
    """
    from livegen.live.c_stderr import quiet_c_stderr
    from livegen.live.calibrate import CalibrateOptions, run_calibrate

    with quiet_c_stderr(keep=verbose):
        run_calibrate(CalibrateOptions(**kwargs), echo=click.echo)  # type: ignore[arg-type]
