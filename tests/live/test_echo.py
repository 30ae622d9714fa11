"""The daemon's own messages coming back on its input are recognised; the player's are not."""

from __future__ import annotations

from livegen.live.echo import EchoFilter

MS = 1_000_000


def test_each_sent_message_absorbs_one_echo_within_the_window() -> None:
    echoes = EchoFilter(window_ns=100 * MS)
    echoes.sent((0x93, 60, 90), 1_000 * MS)
    assert echoes.is_echo((0x93, 60, 90), 1_004 * MS)
    assert not echoes.is_echo((0x93, 60, 90), 1_005 * MS)  # a second one is the player's
    assert echoes.dropped == 1


def test_other_bytes_and_late_arrivals_pass() -> None:
    echoes = EchoFilter(window_ns=100 * MS)
    echoes.sent((0x93, 60, 90), 1_000 * MS)
    assert not echoes.is_echo((0x90, 60, 90), 1_001 * MS)  # another channel
    assert not echoes.is_echo((0x93, 60, 91), 1_001 * MS)  # another velocity
    assert not echoes.is_echo((0x93, 60, 90), 1_200 * MS)  # too late to be an echo
    echoes.forget_old(2_000 * MS)
    assert echoes.dropped == 0
