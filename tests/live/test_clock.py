"""Clocks: ticks land on an exact, drift-free timeline; the MIDI-clock follower keeps time."""

from __future__ import annotations

import pytest

from livegen.live.clock import (
    CLOCK,
    CONTINUE,
    NS_PER_MIN,
    SONG_POSITION,
    START,
    STOP,
    TICKS_PER_BEAT,
    InternalClock,
    ManualClock,
    MidiClockFollower,
    Timeline,
)


def test_timeline_converts_ticks_and_back() -> None:
    line = Timeline(0, 1_000, NS_PER_MIN / (120 * TICKS_PER_BEAT))
    assert line.tick_to_ns(24) == 1_000 + 500_000_000  # one beat at 120 BPM
    assert line.ns_to_tick(line.tick_to_ns(1000)) == pytest.approx(1000)
    assert line.bpm == pytest.approx(120)


def test_internal_deadlines_do_not_drift_over_an_hour() -> None:
    clock = InternalClock(bpm=137.0, now_ns=lambda: 0)
    clock.start(lead_ns=0)
    line = clock.timeline
    assert line is not None
    one_hour_ticks = 137 * 60 * TICKS_PER_BEAT
    # exactly one hour of beats at the set tempo, within rounding of a single nanosecond
    assert abs(line.tick_to_ns(one_hour_ticks) - 3600 * 10**9) <= 1


def test_tempo_change_keeps_the_current_position() -> None:
    clock = ManualClock(bpm=120)
    clock.start()
    clock.advance_ticks(48)
    clock.set_bpm(60)
    assert clock.position_ticks() == pytest.approx(48)
    clock.advance_ns(1_000_000_000)  # one beat at 60 BPM
    assert clock.position_ticks() == pytest.approx(72)


def test_stop_announces_and_clears_the_timeline() -> None:
    clock = ManualClock()
    events: list[str] = []
    clock.add_listener(events.append)
    clock.start()
    clock.stop()
    assert events == ["start", "stop"]
    assert clock.timeline is None and clock.position_ticks() is None


def _feed_ticks(follower: MidiClockFollower, bpm: float, count: int, t_ns: int) -> int:
    period = NS_PER_MIN / (bpm * TICKS_PER_BEAT)
    for i in range(count):
        follower.feed([CLOCK], round(t_ns + i * period))
    return round(t_ns + count * period)


def test_follower_estimates_tempo_and_predicts_ticks() -> None:
    follower = MidiClockFollower()
    follower.feed([START], 0)
    end = _feed_ticks(follower, 128.0, 48, 1_000_000)
    line = follower.timeline
    assert line is not None
    assert line.bpm == pytest.approx(128.0, rel=1e-6)
    # the next tick (number 48) is predicted where it will arrive
    assert line.tick_to_ns(48) == pytest.approx(end, abs=2)


def test_follower_averages_out_jitter() -> None:
    follower = MidiClockFollower()
    follower.feed([START], 0)
    period = NS_PER_MIN / (120 * TICKS_PER_BEAT)
    jitter = [3_000_000, -2_000_000, 1_000_000, -3_000_000, 0, 2_000_000]
    for i in range(96):
        follower.feed([CLOCK], round(i * period) + jitter[i % len(jitter)])
    line = follower.timeline
    assert line is not None
    assert line.bpm == pytest.approx(120, rel=0.01)
    assert abs(line.tick_to_ns(96) - 96 * period) < 2_000_000


def test_follower_follows_a_tempo_change_within_a_beat() -> None:
    follower = MidiClockFollower()
    follower.feed([START], 0)
    t = _feed_ticks(follower, 100.0, 48, 0)
    _feed_ticks(follower, 150.0, TICKS_PER_BEAT, t)
    line = follower.timeline
    assert line is not None
    assert line.bpm == pytest.approx(150.0, rel=0.01)


def test_follower_counts_ticks_lost_with_the_input_and_stays_in_phase() -> None:
    """Two 0xF8 lost in a missed JACK cycle: with input_lost, the gap says which tick the next
    one is, so the timeline stays on the DAW's grid; a gap without lost input stays one tick."""
    period = NS_PER_MIN / (180 * TICKS_PER_BEAT)
    for lost_input, expected_tick in ((True, 50), (False, 48)):
        follower = MidiClockFollower()
        follower.feed([START], 0)
        _feed_ticks(follower, 180.0, 48, 0)  # ticks 0..47
        follower.feed([CLOCK], round(50 * period), input_lost=lost_input)  # 48, 49 never came
        line = follower.timeline
        assert line is not None
        assert line.anchor_tick == expected_tick
    assert follower.ticks_lost == 0
    follower = MidiClockFollower()
    follower.feed([START], 0)
    _feed_ticks(follower, 180.0, 48, 0)
    follower.feed([CLOCK], round(50 * period), input_lost=True)
    for tick in range(51, 75):
        follower.feed([CLOCK], round(tick * period))
    line = follower.timeline
    assert line is not None and follower.ticks_lost == 2
    assert abs(line.tick_to_ns(80) - 80 * period) < 50_000  # on the grid, not a tick late


def test_follower_transport_start_stop_continue_and_song_position() -> None:
    follower = MidiClockFollower()
    events: list[str] = []
    follower.add_listener(events.append)
    follower.feed([START], 0)
    t = _feed_ticks(follower, 120, 30, 0)
    follower.feed([STOP], t)
    assert follower.timeline is None
    follower.feed([SONG_POSITION, 8, 0], t)  # 8 sixteenths = two beats
    follower.feed([CONTINUE], t)
    _feed_ticks(follower, 120, 4, t)
    line = follower.timeline
    assert line is not None and line.anchor_tick == 48 + 3
    assert events == ["start", "stop", "locate", "continue"]


def test_follower_runs_on_clock_without_start() -> None:
    follower = MidiClockFollower()
    _feed_ticks(follower, 120, TICKS_PER_BEAT - 1, 0)
    assert follower.timeline is None
    _feed_ticks(follower, 120, 10, 10**9)
    assert follower.timeline is not None


def test_follower_clock_lost_is_not_trusted() -> None:
    follower = MidiClockFollower()
    follower.feed([START], 0)
    end = _feed_ticks(follower, 120, 24, 0)
    line = follower.timeline
    assert line is not None and line.alive(end)
    assert not line.alive(end + 2 * 10**9)


@pytest.mark.parametrize(
    "message", [[], [SONG_POSITION], [SONG_POSITION, 200, 1], [0x90, 60], [0xFF]]
)
def test_follower_ignores_malformed_or_foreign_messages(message: list[int]) -> None:
    follower = MidiClockFollower()
    follower.feed(message, 0)
    assert follower.timeline is None
