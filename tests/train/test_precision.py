"""`precision = "auto"`: bf16 only where the hardware does it natively (train/precision.py)."""

from __future__ import annotations

import pytest
from livegen.train.precision import resolve_precision

from livegen.machine import CpuInfo

AVX2_ONLY = CpuInfo(model="AMD EPYC 7B12", cores=2, avx2=True)
AVX512_BF16 = CpuInfo(
    model="AMD EPYC", cores=2, avx2=True, avx512f=True, avx512_vnni=True, avx512_bf16=True
)
AMX = CpuInfo(model="Xeon 8480+", cores=8, avx2=True, avx512f=True, amx_tile=True, amx_bf16=True)
LAPTOP = CpuInfo(model="i7-1260P", cores=12, avx2=True, avx_vnni=True)


@pytest.mark.parametrize(
    ("device", "cpu", "cuda_bf16", "expected"),
    [
        ("cpu", AVX2_ONLY, False, "fp32"),
        ("cpu", LAPTOP, False, "fp32"),
        ("cpu", AVX512_BF16, False, "bf16"),
        ("cpu", AMX, False, "bf16"),
        ("cpu", AVX2_ONLY, True, "fp32"),  # a GPU elsewhere does not make the CPU native
        ("cuda", AVX2_ONLY, True, "bf16"),
        ("cuda", AVX512_BF16, False, "fp16"),  # e.g. a V100 or T4: fp16 with loss scaling
        ("mps", CpuInfo(model="Apple M2", arch="arm64"), False, "fp32"),
    ],
    ids=[
        "avx2",
        "laptop",
        "avx512-bf16",
        "amx",
        "avx2-with-gpu-unused",
        "cuda-bf16",
        "cuda-no-bf16",
        "mps",
    ],
)
def test_auto_picks_the_native_precision(device, cpu, cuda_bf16, expected) -> None:
    choice = resolve_precision("auto", device, cpu, cuda_bf16)
    assert choice.precision == expected
    assert choice.requested == "auto"
    assert choice.reason.startswith("auto: ")


def test_the_reason_names_what_the_cpu_lacks_or_has() -> None:
    assert resolve_precision("auto", "cpu", AVX2_ONLY, False).describe() == (
        "precision: fp32 (auto: this CPU has no native bf16 — avx512_bf16/AMX missing)"
    )
    assert "avx512_bf16" in resolve_precision("auto", "cpu", AVX512_BF16, False).reason
    assert "amx_bf16" in resolve_precision("auto", "cpu", AMX, False).reason


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
@pytest.mark.parametrize("cpu", [AVX2_ONLY, AVX512_BF16], ids=["avx2", "avx512-bf16"])
def test_an_explicit_precision_is_kept(precision: str, cpu: CpuInfo) -> None:
    choice = resolve_precision(precision, "cpu", cpu, False)
    assert choice.precision == precision == choice.requested


def test_explicit_bf16_on_a_cpu_without_it_is_kept_with_a_warning() -> None:
    assert "no native bf16" in resolve_precision("bf16", "cpu", AVX2_ONLY, False).reason
    assert "no native bf16" not in resolve_precision("bf16", "cpu", AVX512_BF16, False).reason
