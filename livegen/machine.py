"""The CPU a figure was measured on: model name, cores and the ISA features that decide speed.

Read from /proc/cpuinfo on Linux, from `sysctl` on macOS, from `platform.processor()` elsewhere;
best effort, never raising (an unknown field is "unknown" or False). No torch here: the runtime
(`livegen bench`) and training (`precision = "auto"`) both ask this module.

The features that matter to livegen:
- avx2: the floor for onnxruntime's fast kernels on x86;
- avx512f, avx512_vnni (and avx_vnni, its AVX2-width cousin): int8 dot products, the shipped
  int8 model's decode;
- avx512_bf16, amx_bf16 / amx_tile: native bf16 arithmetic; without them bf16 autocast in
  PyTorch is emulated and training is several times slower than fp32.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

CPUINFO = Path("/proc/cpuinfo")
FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "avx_vnni")
# macOS sysctl names (Intel Macs) for the same features; Apple silicon has none of them
_SYSCTL_FEATURES = {
    "AVX2": "avx2",
    "AVX512F": "avx512f",
    "AVX512VNNI": "avx512_vnni",
    "AVX512BF16": "avx512_bf16",
    "AMXTILE": "amx_tile",
    "AMXBF16": "amx_bf16",
    "AVXVNNI": "avx_vnni",
}


@dataclass(frozen=True)
class CpuInfo:
    model: str = "unknown"
    cores: int = 0  # logical CPUs this process may use
    arch: str = ""
    avx2: bool = False
    avx512f: bool = False
    avx512_vnni: bool = False
    avx512_bf16: bool = False
    amx_tile: bool = False
    amx_bf16: bool = False
    avx_vnni: bool = False

    @property
    def native_bf16(self) -> bool:
        """bf16 arithmetic in hardware (AVX-512 BF16 or AMX), so bf16 autocast pays off."""
        return self.avx512_bf16 or self.amx_bf16

    @property
    def isa(self) -> str:
        """The widest relevant ISA level in a few words: "AVX-512 VNNI BF16", "AVX2", ..."""
        if self.avx512f:
            parts = ["AVX-512"]
            parts += ["VNNI"] if self.avx512_vnni else []
            parts += ["BF16"] if self.avx512_bf16 else []
        elif self.avx2:
            parts = ["AVX2"] + (["VNNI"] if self.avx_vnni else [])
        else:
            parts = [self.arch or "no AVX2"]
        if self.amx_tile:
            parts.append("AMX")
        return " ".join(parts)

    def describe(self) -> str:
        """One line for report headers: "AMD EPYC, 2 cores, AVX-512 VNNI BF16"."""
        cores = f"{self.cores} core{'s' if self.cores != 1 else ''}" if self.cores else "? cores"
        return f"{self.model}, {cores}, {self.isa}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "describe": self.describe()}


def parse_cpuinfo(text: str, cores: int = 0) -> CpuInfo:
    """CpuInfo from /proc/cpuinfo text (x86 `model name` + `flags`; ARM `Features`)."""
    model, flags, processors = "", set(), 0
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "processor":
            processors += 1
        elif key in ("model name", "hardware", "cpu model") and not model:
            model = value
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    return CpuInfo(
        model=" ".join(model.split()) or "unknown",
        cores=cores or processors,
        arch=platform.machine(),
        **{name: name in flags for name in FEATURES},
    )


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 0


def _sysctl(name: str) -> str:
    try:
        done = subprocess.run(
            ["sysctl", "-n", name], capture_output=True, text=True, timeout=2, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _macos() -> CpuInfo:
    words = set(_sysctl("machdep.cpu.features").split())
    words |= set(_sysctl("machdep.cpu.leaf7_features").split())
    found = {ours: theirs in words for theirs, ours in _SYSCTL_FEATURES.items()}
    return CpuInfo(
        model=_sysctl("machdep.cpu.brand_string") or platform.processor() or "unknown",
        cores=_usable_cores(),
        arch=platform.machine(),
        **found,
    )


def cpu_info() -> CpuInfo:
    """This machine's CPU; never raises."""
    try:
        if CPUINFO.is_file():
            return parse_cpuinfo(CPUINFO.read_text(errors="replace"), cores=_usable_cores())
        if sys.platform == "darwin":
            return _macos()
        return CpuInfo(
            model=platform.processor() or "unknown", cores=_usable_cores(), arch=platform.machine()
        )
    except (OSError, ValueError):
        return CpuInfo(arch=platform.machine())
