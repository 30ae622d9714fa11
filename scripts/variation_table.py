"""The comparison table of docs/variations.md: VAE, DDIM and DDPM scored on the same windows.

    .venv/bin/python scripts/variation_table.py --vae DIR --ddpm DIR --data FOLDER
        [--max-windows 500] [--json OUT.json]

Every row is livegen/variation/evaluate.py's `evaluate_variation` (what `livegen eval` of a
vae/ddpm folder prints) with one method, strength and step count, on the same `--max-windows`
windows of `--data` (seed 0), FAD features = the `--vae` folder's encoder for every row. Prints a
markdown table (and writes every figure as JSON with the CPU name and load average).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from livegen.files import write_atomic
from livegen.machine import cpu_info
from livegen.variation.evaluate import evaluate_variation

# (label, kind, method, strength, steps)
ROWS = (
    ("VAE, strength 0 (reconstruction)", "vae", "vae", 0.0, 10),
    ("VAE, strength 0.5", "vae", "vae", 0.5, 10),
    ("DDIM 10 steps, strength 0.3", "ddpm", "ddim", 0.3, 10),
    ("DDIM 10 steps, strength 0.5", "ddpm", "ddim", 0.5, 10),
    ("DDIM 50 steps, strength 0.5", "ddpm", "ddim", 0.5, 50),
    ("DDPM 1000 steps (ancestral; 500 from strength 0.5)", "ddpm", "ddpm", 0.5, 1000),
)


@click.command()
@click.option("--vae", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("--ddpm", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("--data", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--max-windows", default=500, show_default=True)
@click.option("--skip-ddpm", is_flag=True, help="leave out the 1000-step row (minutes of CPU)")
@click.option("--json", "json_path", type=click.Path(path_type=Path, dir_okay=False))
def main(vae, ddpm, data, max_windows, skip_ddpm, json_path) -> None:
    folders = {"vae": vae, "ddpm": ddpm}
    reports = []
    click.echo(f"{cpu_info().describe()}; load average {os.getloadavg()[0]:.1f} at start")
    click.echo("| | accuracy | IoU | FAD | samples/s (s per 10k) | vary one window |")
    click.echo("|---|---|---|---|---|---|")
    for label, kind, method, strength, steps in ROWS:
        if skip_ddpm and method == "ddpm":
            continue
        report = evaluate_variation(folders[kind], data, method=method, strength=strength,
                                    steps=steps, features=vae, max_windows=max_windows)  # fmt: skip
        report["label"] = label
        reports.append(report)
        click.echo(
            f"| {label} | {report['accuracy']:.3f} | {report['iou']:.3f} | {report['fad']:.2f} "
            f"| {report['samples_per_s']:,.1f} ({report['seconds_per_10k']:,.1f} s) "
            f"| {report['vary_ms_per_window']:.1f} ms |"
        )
    if json_path:
        summary = {"cpu": cpu_info().describe(), "load_average": os.getloadavg(), "rows": reports}
        write_atomic(json_path, json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
