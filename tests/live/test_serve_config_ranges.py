"""Serve settings out of range are one error line at start that blames where the value came from."""

from __future__ import annotations

import pytest

from livegen.cli import main


@pytest.mark.parametrize(
    "setting, named",
    [
        ("timing.drop_ms=-1", "drop_ms"),
        ("timing.late_ms=-5", "late_ms"),
        ("threads=-1", "threads"),
        ("accompany.max_note_beats=0", "max_note_beats"),
        ("timing.latency_ms=99", "latency_ms"),
        ("timing.write_ahead_ms=5", "write_ahead_ms"),
        ('key_lock="H major"', "key lock"),
    ],
)
def test_a_value_out_of_range_from_set_blames_the_flag(setting, named, capsys) -> None:
    assert main(["serve", "--set", setting, "--seconds", "1"]) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: --set {setting}: ") and named in lines[0]
    assert "default.toml" not in lines[0]


def test_a_value_out_of_range_in_a_config_file_names_the_file(tmp_path, capsys) -> None:
    config = tmp_path / "mine.toml"
    config.write_text("threads = -1\n")
    assert main(["serve", "--config", str(config), "--seconds", "1"]) == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f"error: {config}") and "threads" in line


def test_the_cuda_device_without_onnxruntime_gpu_says_how_to_swap_it_in(capsys) -> None:
    """onnxruntime-gpu must replace onnxruntime (both are the one `onnxruntime` package)."""
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine's onnxruntime has CUDA")
    assert main(["serve", "--set", 'device="cuda"', "--seconds", "1"]) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: device 'cuda' asked for but onnxruntime has no CUDA")
    assert "pip uninstall -y onnxruntime" in lines[0] and "onnxruntime-gpu" in lines[0]
