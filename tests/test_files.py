"""Output paths: atomic over regular files, symlinks followed, devices and pipes written in place,
folders and the command's own inputs refused (livegen/files.py and the commands that write)."""

from __future__ import annotations

import os
import shutil
import stat
import threading
from pathlib import Path

import pytest

from livegen.cli import main
from livegen.errors import OutputError
from livegen.files import write_atomic

PROMPTS = Path(__file__).resolve().parents[1] / "livegen" / "assets" / "prompts"


def a_prompt(tmp_path: Path) -> Path:
    prompt = tmp_path / "prompt.mid"
    shutil.copy(sorted(PROMPTS.glob("*.mid"))[0], prompt)
    return prompt


def test_a_new_file_and_a_regular_file_are_replaced_keeping_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "out.txt"
    write_atomic(path, "one")
    assert path.read_text() == "one"
    path.chmod(0o640)
    write_atomic(path, b"two")
    assert path.read_text() == "two"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.txt"]  # no temp file left


def test_a_symlink_is_followed_and_stays_a_link(tmp_path: Path) -> None:
    target, link = tmp_path / "target.mid", tmp_path / "link.mid"
    target.write_text("old")
    link.symlink_to(target)
    write_atomic(link, "new")
    assert link.is_symlink()
    assert target.read_text() == "new"


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")
def test_a_character_device_is_written_in_place_not_replaced(tmp_path: Path) -> None:
    null = tmp_path / "null"
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # the issue's /dev/null stand-in
    write_atomic(null, b"MThd")
    assert stat.S_ISCHR(null.stat().st_mode)


def test_a_fifo_is_streamed_to_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    write_atomic(fifo, b"hello")
    reader.join(timeout=5)
    assert got == [b"hello"]
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_a_folder_and_an_input_are_refused(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="it is a folder"):
        write_atomic(tmp_path, "x")
    source = tmp_path / "in.mid"
    source.write_text("keep")
    alias = tmp_path / "alias.mid"
    alias.symlink_to(source)
    with pytest.raises(OutputError, match="input of this command"):
        write_atomic(alias, "x", inputs=[source])
    assert source.read_text() == "keep"


def test_an_unwritable_place_is_one_output_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="cannot write /proc/"):
        write_atomic("/proc/livegen-test.mid", "x")


@pytest.mark.parametrize("command", ["generate", "roundtrip"])
def test_commands_refuse_to_write_over_their_input(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompt = a_prompt(tmp_path)
    before = prompt.read_bytes()
    args = [command, str(prompt), "-o", str(prompt)]
    if command == "generate":
        args += ["--bars", "1", "--seed", "1"]
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "input of this command" in err[0]
    assert prompt.read_bytes() == before


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")
def test_generate_to_a_device_leaves_the_device(tmp_path: Path) -> None:
    null = tmp_path / "n"
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    assert main(["generate", "-o", str(null), "--tokens", "8", "--seed", "1"]) == 0
    assert stat.S_ISCHR(null.stat().st_mode)


def test_generate_to_a_folder_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", "-o", str(tmp_path), "--tokens", "8"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: cannot write {tmp_path}: it is a folder; name a file"]
