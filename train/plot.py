"""The loss/accuracy plot of a run (PNG), redrawn from metrics.jsonl records as training runs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from livegen.files import write_atomic_with


def plot_metrics(records: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Train/val loss (left) and val token accuracy (right) by step; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [r for r in records if r.get("kind") == "train"]
    val = [r for r in records if r.get("kind") == "val"]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    if train:
        ax_loss.plot([r["step"] for r in train], [r["loss"] for r in train], lw=0.8, label="train")
    if val:
        steps = [r["step"] for r in val]
        ax_loss.plot(steps, [r["loss"] for r in val], "o-", ms=3, label="val")
        ax_acc.plot(steps, [r["accuracy"] for r in val], "o-", ms=3, color="C2", label="val")
        ngram = val[-1].get("ngram_nll")
        if ngram is not None:
            ax_loss.axhline(ngram, ls="--", color="gray", lw=0.8, label="4-gram val")
            # the first steps' loss (~ln V) would flatten the part of the curve that matters
            ax_loss.set_ylim(0, 2.5 * ngram)
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("NLL (nats/token)")
    ax_loss.legend()
    ax_loss.grid(alpha=0.3)
    ax_acc.set_xlabel("step")
    ax_acc.set_ylabel("next-token accuracy")
    ax_acc.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    try:
        return write_atomic_with(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    finally:
        plt.close(fig)
