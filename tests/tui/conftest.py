"""Helpers for driving the TUI with Pilot from plain (synchronous) pytest tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from livegen.live.control import Control
from livegen.tui import LivegenApp, make_app

Scenario = Callable[[LivegenApp, object], Awaitable[None]]


@pytest.fixture
def drive(tmp_path):
    """drive(control, scenario, size=(80, 24)): run the app under Pilot and play `scenario`."""

    def run(control: Control, scenario: Scenario, size=(80, 24), **kwargs) -> LivegenApp:
        kwargs.setdefault("presets_dir", tmp_path / "presets")
        app = make_app(control, **kwargs)

        async def main() -> None:
            async with app.run_test(size=size) as pilot:
                await pilot.pause()
                await scenario(app, pilot)

        asyncio.run(main())
        return app

    return run
