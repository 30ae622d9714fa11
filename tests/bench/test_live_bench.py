"""`livegen bench --live` pieces that run without JACK: the GIL probe leaves nothing running."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from livegen.bench import live_bench
from livegen.inference import engine as engine_module


def _slide_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "livegen-slide" and t.is_alive()]


def test_the_gil_probe_joins_the_engines_slide_worker_before_it_returns(
    tiny_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slide still prefilling in onnxruntime when the probe ends is a native thread alive at
    exit ("terminate called without an active exception"): the probe closes its engine."""
    prefill = engine_module._Slide._run
    slides: list[threading.Thread] = []

    def slow_prefill(self, window) -> None:
        slides.append(self.thread)
        time.sleep(1.0)  # a window prefill that outlasts the decoding half of the probe
        prefill(self, window)

    class RestWhileSliding(live_bench.DutyCycle):
        def work(self) -> None:
            if _slide_threads():  # the decoder rests past the probe's end while a slide runs
                time.sleep(0.4)

    monkeypatch.setattr(engine_module._Slide, "_run", slow_prefill)
    monkeypatch.setattr(live_bench, "DutyCycle", RestWhileSliding)
    folder: Path = tiny_model("rope", context=64)  # slides from position 48
    live_bench.gil_probe(str(folder), 0.4)
    assert slides, "no slide started while the probe decoded"
    assert not any(thread.is_alive() for thread in slides)
