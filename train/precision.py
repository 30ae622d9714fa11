"""Which precision a run trains in: `auto` picks what the hardware does natively.

bf16 autocast only pays off where bf16 arithmetic is in hardware. On a CPU without AVX-512 BF16
or AMX, PyTorch emulates it and a step is several times slower than in fp32 (measured in
docs/training.md), so `auto` means:
- CUDA with bf16 support: bf16; CUDA without it: fp16 (GradScaler);
- CPU with avx512_bf16 or amx_bf16: bf16; any other CPU: fp32;
- anything else (MPS): fp32.
An explicit `bf16` / `fp16` / `fp32` is kept as asked (fp16 still needs CUDA: the loop says so).
"""

from __future__ import annotations

from dataclasses import dataclass

from livegen.machine import CpuInfo


@dataclass(frozen=True)
class PrecisionChoice:
    precision: str  # fp32 | bf16 | fp16
    requested: str  # as configured: auto | fp32 | bf16 | fp16
    reason: str

    def describe(self) -> str:
        """The line the loop prints at start."""
        return f"precision: {self.precision} ({self.reason})"

    def to_dict(self) -> dict[str, str]:
        return {"precision": self.precision, "requested": self.requested, "reason": self.reason}


def resolve_precision(
    requested: str, device_type: str, cpu: CpuInfo, cuda_bf16: bool
) -> PrecisionChoice:
    """Pure: the precision for `requested` on a device of `device_type` ("cpu", "cuda", "mps"),
    given the CPU's features and whether the CUDA device supports bf16."""
    if requested != "auto":
        reason = "as configured"
        if requested == "bf16" and device_type == "cpu" and not cpu.native_bf16:
            reason += (
                "; this CPU has no native bf16 (avx512_bf16/AMX missing): expect it several "
                "times slower than fp32, or set run.precision = 'auto'"
            )
        return PrecisionChoice(requested, requested, reason)
    if device_type == "cuda":
        if cuda_bf16:
            return PrecisionChoice("bf16", "auto", "auto: this GPU supports bf16")
        return PrecisionChoice("fp16", "auto", "auto: this GPU has no bf16; fp16 with loss scaling")
    if device_type == "cpu":
        if cpu.native_bf16:
            have = " and ".join(n for n in ("avx512_bf16", "amx_bf16") if getattr(cpu, n))
            return PrecisionChoice("bf16", "auto", f"auto: this CPU has {have} — native bf16")
        return PrecisionChoice(
            "fp32", "auto", "auto: this CPU has no native bf16 — avx512_bf16/AMX missing"
        )
    return PrecisionChoice("fp32", "auto", f"auto: fp32 on {device_type}")
