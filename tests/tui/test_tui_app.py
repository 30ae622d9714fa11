"""The live screen driven by keys and mouse: every action must show up on the Control."""

from __future__ import annotations

import io
import logging
import threading

from textual import events
from tui_helpers import drain, screen_text

from livegen.live.control import Control, NoteView, PartMix
from livegen.live.knobs import KNOB_NAMES, Knobs
from livegen.tui.log_bridge import logs_to_app
from livegen.tui.messages import DaemonNotice
from livegen.tui.scene import publish_scene
from livegen.tui.widgets import MessageLine


def message(app) -> str:
    return app.query_one(MessageLine).text


def test_arrows_select_and_turn_knobs_fine_and_coarse(drive):
    control = Control()

    async def scenario(app, pilot):
        await pilot.press("right")  # temperature is selected first
        assert control.knobs.temperature == 0.95
        await pilot.press("shift+right")
        assert control.knobs.temperature == 1.2
        await pilot.press("down", "right", "right", "pageup")
        assert control.knobs.top_k == 12
        await pilot.press("down", "down", "left")  # mode wraps from accompany back to call
        assert control.knobs.mode == "call"
        await pilot.pause()
        assert "mode = call" in message(app)
        assert "call" in screen_text(app)

    drive(control, scenario)


def test_a_value_past_the_range_is_rejected_with_a_visible_message(drive):
    control = Control(Knobs(temperature=0.0))  # 0 = greedy, the bottom of the range

    async def scenario(app, pilot):
        await pilot.press("left")
        await pilot.pause()
        assert control.knobs.temperature == 0.0
        assert "temperature" in message(app) and "not in 0..3 (0 = greedy)" in message(app)
        assert "✗ rejected" in screen_text(app)

    drive(control, scenario)


def test_enter_types_a_value_and_nonsense_is_rejected(drive):
    control = Control()

    async def scenario(app, pilot):
        await pilot.press("enter", *"1.5", "enter")
        assert control.knobs.temperature == 1.5
        await pilot.press("enter", *"hot", "enter")
        assert control.knobs.temperature == 1.5
        assert "not a number" in message(app)
        await pilot.press("enter", *"7", "enter")
        assert control.knobs.temperature == 1.5
        assert "temperature 7.0 not in" in message(app)
        for _ in range(KNOB_NAMES.index("output_channel")):
            await pilot.press("down")  # the out channel's row (rows in knob order), typed 1-16
        await pilot.press("enter", *"16", "enter")
        assert control.knobs.output_channel == 15
        await pilot.press("enter", "escape")  # Esc leaves the value alone
        assert control.knobs.output_channel == 15

    drive(control, scenario)


def test_click_selects_a_knob_and_the_wheel_turns_it(drive):
    control = Control()

    async def scenario(app, pilot):
        await pilot.click("#knob-density")
        assert app.selected == "density"
        row = app.query_one("#knob-density")
        for _ in range(2):
            row.post_message(events.MouseScrollUp(row, 1, 0, 0, 0, 0, False, False, False))
        row.post_message(events.MouseScrollDown(row, 1, 0, 0, 0, 0, False, False, False))
        await pilot.pause()
        assert control.knobs.density == 1.05
        await pilot.press("right")  # the keyboard now turns the clicked knob
        assert control.knobs.density == 1.1

    drive(control, scenario)


def test_command_keys_queue_commands_for_the_daemon(drive):
    control = Control()

    async def scenario(app, pilot):
        await pilot.press("p", "space", "space", "r", "r", "v")
        assert [c.name for c in drain(control)] == [
            "panic",
            "pause",
            "resume",
            "record_on",
            "record_off",
            "vary",
        ]
        control.publish(paused=True, recording=True)  # the daemon paused itself
        await pilot.pause(0.1)
        await pilot.press("space", "r")
        assert [c.name for c in drain(control)] == ["resume", "record_off"]

    drive(control, scenario)


def test_digit_keys_mute_and_unmute_the_parts_of_the_band(drive):
    control = Control()
    control.part_mix = {"bass": PartMix(), "drums": PartMix(), "keys": PartMix()}

    async def scenario(app, pilot):
        await pilot.press("2")
        assert control.part_mix["drums"].muted and not control.part_mix["bass"].muted
        assert message(app) == "drums muted"
        await pilot.press("2", "1")
        assert not control.part_mix["drums"].muted and control.part_mix["bass"].muted
        await pilot.press("5")
        assert message(app).startswith("no part 5: the band has 3")

    drive(control, scenario)


def test_midi_learn_binds_the_next_controller_and_then_it_moves_the_knob(drive):
    control = Control()

    async def scenario(app, pilot):
        await pilot.press("down", "down", "l")  # top-p
        assert control.learn_target == "top_p"
        await pilot.pause()
        assert "learn…" in screen_text(app)
        # The daemon's input thread calls handle_cc for every controller message.
        worker = threading.Thread(target=control.handle_cc, args=(21, 0))
        worker.start()
        worker.join()
        await pilot.pause(0.1)
        assert control.cc_bindings == {21: "top_p"}
        assert "top-p bound to CC21" in message(app)
        assert "CC21" in screen_text(app)
        control.handle_cc(21, 127)
        await pilot.pause(0.1)
        assert control.knobs.top_p == 1.0
        assert "1.00" in screen_text(app)
        await pilot.press("u")
        assert control.cc_bindings == {}

    drive(control, scenario)


def test_learn_is_cancelled_by_pressing_l_again_and_refused_for_choice_knobs(drive):
    control = Control()

    async def scenario(app, pilot):
        await pilot.press("l", "l")
        assert control.learn_target is None
        await pilot.press("down", "down", "down", "l")  # mode has no controller range
        assert control.learn_target is None
        assert "'mode' cannot be MIDI-learned" in message(app)

    drive(control, scenario)


def test_preset_saved_and_loaded_back_from_the_tui(drive, tmp_path):
    control = Control()
    presets = tmp_path / "serve"

    async def scenario(app, pilot):
        await pilot.press("right", "right")  # temperature 1.0
        control.learn("density")
        control.handle_cc(74, 10)
        await pilot.press("s", *"jam", "enter")
        await pilot.pause()
        assert (presets / "jam.toml").is_file()
        assert "preset saved" in message(app)
        control.set(temperature=0.3, mode="call")
        control.cc_bindings = {}
        await pilot.press("o")
        await pilot.pause()
        await pilot.press("enter")  # the only preset is highlighted
        await pilot.pause()
        assert control.knobs == Knobs(temperature=1.0)
        assert control.cc_bindings == {74: "density"}
        assert "preset loaded: jam" in message(app)

    drive(control, scenario, presets_dir=presets)


def test_loading_with_no_presets_says_so(drive, tmp_path):
    async def scenario(app, pilot):
        await pilot.press("o")
        assert "no presets in" in message(app)

    drive(Control(), scenario, presets_dir=tmp_path / "empty")


def test_q_sends_quit_once_and_leaves(drive):
    control = Control()

    async def scenario(app, pilot):
        await pilot.press("q")

    app = drive(control, scenario)
    assert [c.name for c in drain(control)] == ["quit"]
    assert app.return_code == 0


def test_ctrl_c_quits_too(drive):
    control = Control()

    async def scenario(app, pilot):
        await pilot.press("ctrl+c")

    drive(control, scenario)
    assert [c.name for c in drain(control)] == ["quit"]


def test_the_ui_leaves_when_the_daemon_stops_by_itself(drive):
    stopped = threading.Event()
    control = Control()
    stopped.set()

    async def scenario(app, pilot):
        await pilot.pause(0.1)

    app = drive(control, scenario, stopped=stopped)
    assert app.return_code == 0
    assert [c.name for c in drain(control)] == ["quit"]


def test_status_and_notes_published_from_another_thread_reach_the_screen(drive):
    control = Control()
    done = threading.Event()

    def daemon() -> None:
        beat = 0.0
        while not done.is_set() and beat < 4000:
            control.roll.append(NoteView(60 + int(beat) % 12, beat, beat + 0.25, "model"))
            beat += 0.25
            control.publish(position_beats=beat, bar=int(beat // 4) + 1, beat=int(beat % 4) + 1)

    async def scenario(app, pilot):
        worker = threading.Thread(target=daemon)
        worker.start()
        await pilot.pause(0.3)
        done.set()
        worker.join()
        app.post_message(DaemonNotice("MIDI port vanished; waiting", error=True))
        await pilot.pause(0.2)
        status = control.status
        assert f"{status.bar}:{status.beat}" in screen_text(app)
        assert "▓" in screen_text(app)
        assert message(app) == "MIDI port vanished; waiting"

    drive(control, scenario)


def scene_checks(app) -> str:
    text = screen_text(app)
    for label in ("temperature", "top-k", "top-p", "mode", "answer bars", "density", "velocity"):
        assert label in text
    for label in ("transpose", "key lock", "out channel", "bpm", "model"):
        assert label in text
    for item in (
        "112.0 bpm",
        "12:2",
        "3.8 ms/tok",
        "212 tok/s",
        "37%",
        "late 2",
        "dropped 0",
        "ahead   1.5 ms",
    ):
        assert item in text
    for item in ("Keystation 49", "livegen out", "REC", "player", "planned", "now"):
        assert item in text
    for key in ("panic", "pause", "rec", "learn", "save", "load", "quit"):
        assert key in text.splitlines()[-1]  # the footer
    assert all(glyph in text for glyph in "█▓░")
    return text


def test_everything_fits_at_80x24(drive):
    control = Control()
    publish_scene(control)

    async def scenario(app, pilot):
        await pilot.pause(0.1)
        text = scene_checks(app)
        assert len(text.splitlines()) == 24
        assert not app.query_one("#body").has_class("-wide")

    drive(control, scenario, size=(80, 24))


def test_a_wide_terminal_gets_the_side_panel_layout_and_the_key_list(drive):
    control = Control()
    publish_scene(control)

    async def scenario(app, pilot):
        await pilot.pause(0.1)
        text = scene_checks(app)
        assert app.query_one("#body").has_class("-wide")
        assert "MIDI learn the knob" in text
        roll = app.query_one("#roll")
        assert roll.size.width > 90 and roll.size.height > 30
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.1)
        assert not app.query_one("#body").has_class("-wide")

    drive(control, scenario, size=(160, 45))


def test_log_lines_go_to_the_message_line_not_the_terminal(drive):
    stream = io.StringIO()
    root = logging.getLogger()
    terminal = logging.StreamHandler(stream)
    root.addHandler(terminal)

    async def scenario(app, pilot):
        with logs_to_app(app):
            worker = threading.Thread(
                target=logging.getLogger("livegen.live.daemon").warning,
                args=("controller %d: %s", 7, "x"),
            )
            worker.start()
            worker.join()
            await pilot.pause(0.1)
            assert terminal not in root.handlers
        assert terminal in root.handlers
        assert message(app) == "controller 7: x"
        assert app.message_line.has_class("-error")

    try:
        drive(Control(), scenario)
    finally:
        root.removeHandler(terminal)
    assert stream.getvalue() == ""
