"""The CPU description that every benchmark figure carries (livegen.machine)."""

from __future__ import annotations

import pytest

from livegen.machine import FEATURES, CpuInfo, cpu_info, parse_cpuinfo

# Abridged from real /proc/cpuinfo files: one entry per logical CPU, flags on one line.
_EPYC_AVX512 = """\
processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
flags\t\t: fpu vme sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2 avx512f avx512dq \
avx512cd avx512bw avx512vl avx512_bf16 avx512vbmi avx512_vbmi2 avx512_vnni avx512_bitalg

processor\t: 1
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu vme sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2 avx512f avx512dq \
avx512cd avx512bw avx512vl avx512_bf16 avx512vbmi avx512_vbmi2 avx512_vnni avx512_bitalg
"""

_EPYC_AVX2 = """\
processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B12
flags\t\t: fpu vme sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi1 bmi2 sha_ni clzero
"""

_SAPPHIRE_RAPIDS = """\
processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: avx2 avx512f avx512_vnni avx512_bf16 avx_vnni amx_bf16 amx_tile amx_int8
"""

_LAPTOP = """\
processor\t: 0
model name\t: 12th Gen Intel(R) Core(TM) i7-1260P
flags\t\t: sse4_2 avx avx2 fma avx_vnni
processor\t: 1
model name\t: 12th Gen Intel(R) Core(TM) i7-1260P
flags\t\t: sse4_2 avx avx2 fma avx_vnni
"""


@pytest.mark.parametrize(
    ("text", "model", "on", "isa"),
    [
        (
            _EPYC_AVX512,
            "AMD EPYC",
            {"avx2", "avx512f", "avx512_vnni", "avx512_bf16"},
            "AVX-512 VNNI BF16",
        ),
        (_EPYC_AVX2, "AMD EPYC 7B12", {"avx2"}, "AVX2"),
        (
            _SAPPHIRE_RAPIDS,
            "Intel(R) Xeon(R) Platinum 8480+",
            {"avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_bf16", "amx_tile"},
            "AVX-512 VNNI BF16 AMX",
        ),
        (_LAPTOP, "12th Gen Intel(R) Core(TM) i7-1260P", {"avx2", "avx_vnni"}, "AVX2 VNNI"),
    ],
    ids=["epyc-avx512", "epyc-avx2", "sapphire-rapids", "laptop-alder-lake"],
)
def test_cpuinfo_gives_model_and_the_features_that_matter(
    text: str, model: str, on: set[str], isa: str
) -> None:
    info = parse_cpuinfo(text)
    assert info.model == model
    assert {name for name in FEATURES if getattr(info, name)} == on
    assert info.isa == isa


def test_cores_are_counted_from_processors_unless_given() -> None:
    assert parse_cpuinfo(_EPYC_AVX512).cores == 2
    assert parse_cpuinfo(_EPYC_AVX512, cores=1).cores == 1


def test_native_bf16_needs_avx512_bf16_or_amx() -> None:
    assert parse_cpuinfo(_EPYC_AVX512).native_bf16
    assert parse_cpuinfo(_SAPPHIRE_RAPIDS).native_bf16
    assert not parse_cpuinfo(_EPYC_AVX2).native_bf16
    assert not parse_cpuinfo(_LAPTOP).native_bf16


def test_describe_is_one_line_naming_model_cores_and_isa() -> None:
    assert parse_cpuinfo(_EPYC_AVX512).describe() == "AMD EPYC, 2 cores, AVX-512 VNNI BF16"
    assert parse_cpuinfo(_EPYC_AVX2, cores=1).describe() == "AMD EPYC 7B12, 1 core, AVX2"


def test_text_without_model_or_flags_gives_unknown_and_no_features() -> None:
    info = parse_cpuinfo("processor\t: 0\nBogoMIPS\t: 50.00\n\ngarbage line\n")
    assert info.model == "unknown"
    assert not any(getattr(info, name) for name in FEATURES)
    assert not info.native_bf16


def test_this_machine_is_described_without_raising() -> None:
    info = cpu_info()
    assert isinstance(info, CpuInfo)
    data = info.to_dict()
    assert data["describe"] == info.describe()
    assert set(FEATURES) <= set(data)
