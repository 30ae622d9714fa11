"""Scheduler: exact ticks on a manual clock, balanced note-offs, silence on stop and panic."""

from __future__ import annotations

import dataclasses

from livegen.live.clock import ManualClock
from livegen.live.scheduler import IDLE_WAIT_S, ScheduledNote, Scheduler
from livegen.music.midi import ALL_NOTES_OFF


def _setup(bpm: float = 120.0) -> tuple[ManualClock, Scheduler, list[list[int]]]:
    clock = ManualClock(bpm=bpm)
    sent: list[list[int]] = []
    scheduler = Scheduler(sent.append, clock)
    clock.start()
    return clock, scheduler, sent


def _run_ticks(clock: ManualClock, scheduler: Scheduler, until: int) -> dict[int, list]:
    """Step the clock tick by tick up to tick `until`; returns tick -> messages sent at it."""
    by_tick: dict[int, list] = {}
    while True:
        position = clock.position_ticks()
        assert position is not None
        tick = round(position)
        before = len(scheduler.sent_log)
        scheduler.pump(clock.now_ns())
        new = list(scheduler.sent_log)[before:]
        if new:
            by_tick[tick] = [s.message for s in new]
        if tick >= until:
            return by_tick
        clock.advance_ticks(1)


def test_notes_go_out_on_their_exact_ticks() -> None:
    clock, scheduler, _ = _setup()
    scheduler.add(ScheduledNote(6, 12, 60, 100, 1))
    scheduler.add(ScheduledNote(12, 30, 64, 90, 1))
    by_tick = _run_ticks(clock, scheduler, 40)
    assert by_tick == {
        6: [(0x91, 60, 100)],
        12: [(0x81, 60, 0), (0x91, 64, 90)],  # the off first, at the same tick
        30: [(0x81, 64, 0)],
    }
    assert scheduler.stats.late_notes == 0


def test_nothing_is_sent_a_nanosecond_early() -> None:
    clock, scheduler, sent = _setup()
    scheduler.add(ScheduledNote(24, 48, 60, 100, 0))
    line = clock.timeline
    assert line is not None
    clock.advance_ns(line.tick_to_ns(24) - clock.now_ns() - 1)
    scheduler.pump(clock.now_ns())
    assert sent == []
    clock.advance_ns(1)
    scheduler.pump(clock.now_ns())
    assert sent == [[0x90, 60, 100]]


def test_a_clock_gone_quiet_with_notes_overdue_lets_the_thread_rest() -> None:
    # a DAW that vanished without a Stop: its timeline expires with the plan's notes behind
    # it; nothing may go out, and the thread must wait for work, not spin on the overdue note
    clock, scheduler, sent = _setup()
    scheduler.add(ScheduledNote(24, 48, 60, 100, 0))
    scheduler.pump(clock.now_ns())  # takes the note in; nothing due yet
    line = clock.timeline
    assert line is not None
    clock.advance_ticks(30)
    assert scheduler.wait_timeout_s(clock.now_ns()) == 0.0  # overdue on a live clock: now
    clock._publish(dataclasses.replace(line, expires_ns=line.tick_to_ns(20)), None)
    assert scheduler.wait_timeout_s(clock.now_ns()) == IDLE_WAIT_S
    scheduler.pump(clock.now_ns())
    assert sent == []


def test_tempo_change_moves_pending_notes() -> None:
    clock, scheduler, _ = _setup(bpm=120)
    scheduler.add(ScheduledNote(48, 60, 60, 100, 0))
    _run_ticks(clock, scheduler, 24)
    clock.set_bpm(60)
    clock.advance_ns(999_000_000)  # 24 ticks at 60 BPM take one second
    assert scheduler.pump(clock.now_ns()) == 0
    clock.advance_ns(2_000_000)
    assert scheduler.pump(clock.now_ns()) == 1


def test_repeated_pitch_is_ended_before_it_sounds_again() -> None:
    clock, scheduler, _ = _setup()
    scheduler.add(ScheduledNote(0, 24, 60, 100, 0))
    scheduler.add(ScheduledNote(12, 36, 60, 80, 0))
    by_tick = _run_ticks(clock, scheduler, 40)
    assert by_tick == {
        0: [(0x90, 60, 100)],
        12: [(0x80, 60, 0), (0x90, 60, 80)],
        36: [(0x80, 60, 0)],
    }


def test_panic_ends_sounding_notes_then_all_notes_off_on_used_channels() -> None:
    clock, scheduler, sent = _setup()
    scheduler.add(ScheduledNote(0, 96, 60, 100, 2))
    scheduler.add(ScheduledNote(0, 96, 67, 100, 5))
    scheduler.add(ScheduledNote(48, 96, 72, 100, 2))
    _run_ticks(clock, scheduler, 10)
    sent.clear()
    scheduler.silence()
    scheduler.pump(clock.now_ns())
    assert sorted(sent[:2]) == [[0x82, 60, 0], [0x85, 67, 0]]
    assert sent[2:] == [[0xB2, ALL_NOTES_OFF, 0], [0xB5, ALL_NOTES_OFF, 0]]
    sent.clear()
    _run_ticks(clock, scheduler, 100)
    assert sent == []  # the plan is gone: nothing starts after a panic


def test_transport_stop_silences() -> None:
    clock, scheduler, sent = _setup()
    scheduler.add(ScheduledNote(0, 96, 60, 100, 0))
    _run_ticks(clock, scheduler, 2)
    clock.stop()
    scheduler.pump(clock.now_ns())
    assert sent[-2:] == [[0x80, 60, 0], [0xB0, ALL_NOTES_OFF, 0]]


def test_cancel_from_drops_the_speculated_future_only() -> None:
    clock, scheduler, _ = _setup()
    scheduler.add(ScheduledNote(0, 30, 60, 100, 1))  # sounding when the re-plan comes
    scheduler.add(ScheduledNote(24, 30, 62, 100, 1))  # speculated: goes
    scheduler.add(ScheduledNote(24, 30, 40, 100, 0))  # another channel: stays
    _run_ticks(clock, scheduler, 12)
    scheduler.cancel_from(12, channel=1)
    by_tick = _run_ticks(clock, scheduler, 30)
    assert by_tick == {24: [(0x90, 40, 100)], 30: [(0x81, 60, 0), (0x80, 40, 0)]}


def test_late_and_dropped_notes_are_counted() -> None:
    clock, scheduler, sent = _setup()
    scheduler.late_ns, scheduler.drop_ns = 5_000_000, 50_000_000
    scheduler.add(ScheduledNote(0, 24, 60, 100, 0))
    scheduler.add(ScheduledNote(1, 24, 62, 100, 0))
    clock.advance_ns(10_000_000)  # 10 ms after tick 0, before tick 1 (20.8 ms)
    scheduler.pump(clock.now_ns())
    clock.advance_ns(70_000_000)  # tick 1 is now ~60 ms in the past
    scheduler.pump(clock.now_ns())
    assert scheduler.stats.late_notes == 1
    assert scheduler.stats.dropped_notes == 1
    assert [m[1] for m in sent if m[0] == 0x90] == [60]


def test_thread_close_leaves_nothing_sounding() -> None:
    import time

    clock, scheduler, sent = _setup(bpm=240)
    scheduler.start()
    for i in range(8):
        scheduler.add(ScheduledNote(i * 3, i * 3 + 200, 60 + i, 100, 0))

    def ons() -> int:
        return sum(1 for m in list(sent) if m[0] == 0x90)

    for due in range(1, 5):  # ticks 0, 3, 6 and 9, one at a time (a late note is dropped)
        deadline = time.monotonic() + 5
        while ons() < due and time.monotonic() < deadline:
            time.sleep(0.002)  # the scheduler thread sends on its own
        assert ons() == due
        if due < 4:
            clock.advance_ticks(3)
    scheduler.close()
    offs = sum(1 for m in sent if m[0] == 0x80)
    assert ons() == offs == 4
    assert sent[-1] == [0xB0, ALL_NOTES_OFF, 0]


def test_a_note_end_decoded_later_moves_its_note_off() -> None:
    clock, scheduler, _ = _setup()
    scheduler.add(ScheduledNote(0, 96, 60, 100, 0), key="a")  # provisional end
    scheduler.end("a", 18)
    by_tick = _run_ticks(clock, scheduler, 100)
    assert by_tick == {0: [(0x90, 60, 100)], 18: [(0x80, 60, 0)]}


def test_cut_ends_a_part_at_a_tick() -> None:
    clock, scheduler, _ = _setup()
    scheduler.add(ScheduledNote(0, 96, 60, 100, 1))  # sounding at the cut: ends at it
    scheduler.add(ScheduledNote(30, 40, 62, 100, 1))  # planned after the cut: never plays
    scheduler.add(ScheduledNote(0, 96, 48, 100, 0))  # another part: untouched
    _run_ticks(clock, scheduler, 10)
    scheduler.cut(20, channel=1)
    by_tick = _run_ticks(clock, scheduler, 100)
    assert by_tick == {20: [(0x81, 60, 0)], 96: [(0x80, 48, 0)]}


def test_latency_compensation_sends_early_by_the_lead() -> None:
    clock, scheduler, sent = _setup()
    scheduler.lead_ns = 2_000_000
    scheduler.add(ScheduledNote(24, 48, 60, 100, 0))
    line = clock.timeline
    assert line is not None
    clock.advance_ns(line.tick_to_ns(24) - 2_000_001)
    scheduler.pump(clock.now_ns())
    assert sent == []
    clock.advance_ns(1)
    scheduler.pump(clock.now_ns())
    assert sent == [[0x90, 60, 100]]


def test_a_port_that_places_messages_in_time_gets_them_early_with_their_due_time() -> None:
    """early_ns: handed over that much before the tick, with the tick's time (JACK places it at
    its frame), still counted as on time; messages with no tick (silence) get no due time."""
    clock = ManualClock(bpm=120.0)
    sent: list[tuple] = []
    scheduler = Scheduler(
        lambda message, *due: sent.append((message, *due)), clock, early_ns=2_000_000
    )
    clock.start()
    scheduler.add(ScheduledNote(24, 48, 60, 100, 0))
    line = clock.timeline
    assert line is not None
    due_ns = line.tick_to_ns(24)
    clock.advance_ns(due_ns - 2_000_000 - clock.now_ns() - 1)
    scheduler.pump(clock.now_ns())
    assert sent == []
    clock.advance_ns(1)
    scheduler.pump(clock.now_ns())
    assert sent == [([0x90, 60, 100], due_ns)]
    assert scheduler.stats.late_notes == 0
    scheduler.silence()
    scheduler.pump(clock.now_ns())
    assert sent[-2:] == [([0x80, 60, 0],), ([0xB0, ALL_NOTES_OFF, 0],)]
