"""The model registry: `[model] kind` picks a family; an unknown kind names the valid ones."""

from __future__ import annotations

import pytest
from livegen.train.models import DEFAULT_KIND, FAMILIES, model_family
from livegen.train.models.transformer import ModelConfig, Transformer

from livegen.errors import ConfigError


def test_a_model_table_without_kind_is_the_flat_transformer() -> None:
    family = model_family(DEFAULT_KIND)
    assert DEFAULT_KIND == "transformer"
    assert family.config is ModelConfig
    assert isinstance(family.build(ModelConfig(n_layer=1, d_model=32, d_ff=64)), Transformer)


def test_an_unknown_kind_names_the_valid_kinds() -> None:
    assert set(FAMILIES) == {"transformer", "hierarchical", "vae", "ddpm"}
    with pytest.raises(ConfigError, match=r"kind 'gan' unknown; valid kinds: ") as caught:
        model_family("gan")
    assert all(kind in str(caught.value) for kind in FAMILIES)
