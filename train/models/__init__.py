"""Model families, one module each, and the registry from `[model] kind` to a family's builder.

A family is its frozen config dataclass (the [model] fields of a train config) and the function
that builds the `nn.Module` from it. Today there is one, "transformer" (the flat decoder-only
transformer, transformer.py); hierarchical, VAE and DDPM families arrive as sibling modules with
a line each in FAMILIES. A [model] table without `kind` is a transformer.

May import: torch, the runtime's config, errors and tokenizer; never the loop or export.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from livegen.errors import ConfigError

from .transformer import ModelConfig, Transformer

DEFAULT_KIND = "transformer"


@dataclass(frozen=True)
class ModelFamily:
    config: type  # a frozen dataclass; from_mapping checks the [model] keys against it
    build: Callable[[Any], nn.Module]


FAMILIES: dict[str, ModelFamily] = {
    "transformer": ModelFamily(ModelConfig, Transformer),
}


def model_family(kind: str) -> ModelFamily:
    """The family named by `[model] kind`; an unknown kind names the valid ones."""
    try:
        return FAMILIES[kind]
    except KeyError:
        raise ConfigError(
            f"[model] kind {kind!r} unknown; valid kinds: {', '.join(FAMILIES)}"
        ) from None
