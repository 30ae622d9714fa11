"""What `livegen demo` leaves behind: a peak-normalised WAV, in a folder git ignores."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from livegen.live.demo import DemoOptions, normalise_wav

REPO = Path(__file__).resolve().parents[2]


def _write_wav(path: Path, samples: np.ndarray, width: int = 2) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(width)
        wav.setframerate(44100)
        wav.writeframes(samples.astype("<i2" if width == 2 else "u1").tobytes())


def _read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.int32)


def test_a_quiet_render_is_raised_to_a_one_db_peak(tmp_path: Path) -> None:
    t = np.arange(44100 * 2) / 44100
    quiet = np.round(4000 * np.sin(2 * np.pi * 440 * t)).repeat(2)  # -18 dBFS, stereo
    quiet[1001] = -4500  # the loudest sample is negative
    _write_wav(tmp_path / "raw.wav", quiet)
    gain_db = normalise_wav(tmp_path / "raw.wav", tmp_path / "out.wav")
    out = _read_wav(tmp_path / "out.wav")
    assert len(out) == len(quiet)
    assert np.abs(out).max() == round(32767 * 10 ** (-1 / 20))
    assert gain_db == pytest.approx(20 * np.log10(29204 / 4500), abs=0.01)
    np.testing.assert_allclose(out, quiet * 10 ** (gain_db / 20), atol=1)


def test_silence_stays_silence(tmp_path: Path) -> None:
    _write_wav(tmp_path / "raw.wav", np.zeros(2000))
    assert normalise_wav(tmp_path / "raw.wav", tmp_path / "out.wav") is None
    assert not _read_wav(tmp_path / "out.wav").any()


def test_only_16_bit_pcm_is_normalised(tmp_path: Path) -> None:
    _write_wav(tmp_path / "raw.wav", np.full(200, 128), width=1)
    with pytest.raises(ValueError, match="8-bit WAV"):
        normalise_wav(tmp_path / "raw.wav", tmp_path / "out.wav")


def test_git_ignores_what_the_demo_writes() -> None:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    for name in ("jam.mid", "jam.wav"):
        path = f"{DemoOptions().out_dir}/{name}"
        done = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO, timeout=30)
        assert done.returncode == 0, f"{path} would show up in git status"
