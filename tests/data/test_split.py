"""Split assignment: stable per relative path, about the asked fractions, separator-agnostic."""

from __future__ import annotations

from collections import Counter

import pytest

from livegen.data.split import split_of


def test_same_path_always_lands_in_the_same_split() -> None:
    names = [f"folder/piece_{i}.mid" for i in range(200)]
    assert [split_of(n) for n in names] == [split_of(n) for n in names]


def test_windows_and_posix_separators_agree() -> None:
    for i in range(100):
        assert split_of(f"a\\b\\song{i}.mid") == split_of(f"a/b/song{i}.mid")


@pytest.mark.parametrize(("val", "test"), [(0.05, 0.05), (0.2, 0.1), (0.0, 0.0)])
def test_fractions_are_roughly_respected(val: float, test: float) -> None:
    n = 20_000
    counts = Counter(split_of(f"corpus/{i:05d}.mid", val, test) for i in range(n))
    assert abs(counts["val"] / n - val) < 0.01
    assert abs(counts["test"] / n - test) < 0.01
    assert counts["train"] + counts["val"] + counts["test"] == n


def test_growing_the_fraction_only_moves_files_out_of_train() -> None:
    names = [f"x/{i}.mid" for i in range(2000)]
    small = {n: split_of(n, 0.05, 0.05) for n in names}
    for n in names:
        if small[n] == "val":
            assert split_of(n, 0.1, 0.05) == "val"
