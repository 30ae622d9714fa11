"""SVG screenshots of the live scene at 80x24 and 160x45 (the README's pictures).

They are written to a temporary folder; with LIVEGEN_SCREENSHOTS=docs/screenshots they land
where the README links them.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import pytest

from livegen.live.control import Control
from livegen.live.knobs import Knobs
from livegen.tui.scene import publish_scene


@pytest.mark.parametrize("size", [(80, 24), (160, 45)], ids=["80x24", "160x45"])
def test_screenshot_of_a_live_scene(drive, tmp_path, size):
    folder = Path(os.environ.get("LIVEGEN_SCREENSHOTS", tmp_path))
    control = Control(Knobs(temperature=0.85, key_lock="C minor", bpm=112.0))
    control.cc_bindings = {1: "temperature", 71: "density", 74: "top_p"}
    publish_scene(control)
    name = f"tui-{size[0]}x{size[1]}.svg"

    async def scenario(app, pilot):
        await pilot.press("down", "down", "right")  # top-p 0.96: the change shows its value
        await pilot.pause(0.1)
        app.save_screenshot(name, str(folder))

    drive(control, scenario, size=size)
    svg = html.unescape((folder / name).read_text()).replace("\xa0", " ")
    assert svg.startswith("<svg") and "planned" in svg and "top-p = 0.96" in svg
