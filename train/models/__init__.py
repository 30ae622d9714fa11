"""Model families, one module each, and the registry from `[model] kind` to a family's builder.

A family is its frozen config dataclass (the [model] fields of a train config) and the function
that builds the `nn.Module` from it: "transformer" (the flat decoder-only transformer,
transformer.py, trained by loop.py), "hierarchical" (an event transformer plus a token decoder,
hierarchical.py, trained by loop.py too) and the variation families over condensed note windows,
"vae" (vae.py) and "ddpm" (ddpm.py), trained by variation_loop.py. A [model] table without
`kind` is a transformer.

May import: torch, the runtime's config, errors and tokenizer; never the loop or export.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from livegen.errors import ConfigError

from .ddpm import DDPM, DDPMConfig
from .hierarchical import HierarchicalTransformer, HierConfig
from .hierarchical import vocab_fields as hier_vocab_fields
from .transformer import ModelConfig, Transformer
from .vae import VAE, VAEConfig

DEFAULT_KIND = "transformer"


@dataclass(frozen=True)
class ModelFamily:
    config: type  # a frozen dataclass; from_mapping checks the [model] keys against it
    build: Callable[[Any], nn.Module]
    # [model] fields taken from the tokenizer besides vocab_size and pad_id (a Vocab -> dict)
    vocab_fields: Callable[[Any], dict[str, Any]] | None = None


FAMILIES: dict[str, ModelFamily] = {
    "transformer": ModelFamily(ModelConfig, Transformer),
    "hierarchical": ModelFamily(HierConfig, HierarchicalTransformer, hier_vocab_fields),
    "vae": ModelFamily(VAEConfig, VAE),
    "ddpm": ModelFamily(DDPMConfig, DDPM),
}


def model_family(kind: str) -> ModelFamily:
    """The family named by `[model] kind`; an unknown kind names the valid ones."""
    try:
        return FAMILIES[kind]
    except KeyError:
        raise ConfigError(
            f"[model] kind {kind!r} unknown; valid kinds: {', '.join(FAMILIES)}"
        ) from None
