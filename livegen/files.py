"""Output files: atomic over regular files only, streamed to devices, never over an input.

Every command that writes a file goes through `write_atomic` (or `write_atomic_with` for writers
that need a path, like `np.save`). The path is resolved first, so a symlink is followed and its
target replaced, not the link. A regular file (or a new name) is written to a temp file in the
same folder and renamed over it, keeping the old file's permissions: a reader or a kill never
sees half a file. A character device or a FIFO (`/dev/null`, `/dev/stdout`, a pipe) is written in
place, never replaced; a folder or anything else is refused. A path that is one of the command's
inputs is refused, so `generate -o PROMPT.mid` cannot destroy its own prompt. Failures (a full
disk, a read-only folder, /proc) are an `OutputError` naming the path.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from livegen.errors import OutputError

PathLike = str | Path


def check_output(path: PathLike, inputs: Iterable[PathLike] = ()) -> Path:
    """The real target of output `path` (symlinks followed); OutputError if it may not be written.

    Refused: a folder, a socket or block device, one of `inputs`. Call it before long work so a
    bad `-o` fails at once, not after it."""
    path = Path(path)
    target = Path(os.path.realpath(path))
    try:
        info = target.stat()
    except FileNotFoundError:
        info = None
    except OSError as err:
        raise OutputError(f"cannot write {path}: {err.strerror or err}") from err
    if info is not None:
        if stat.S_ISDIR(info.st_mode):
            raise OutputError(f"cannot write {path}: it is a folder; name a file")
        if not (stat.S_ISREG(info.st_mode) or _streamable(info.st_mode)):
            raise OutputError(f"cannot write {path}: not a regular file, device or pipe")
    for source in inputs:
        if _same_file(target, Path(source)):
            raise OutputError(f"cannot write {path}: it is an input of this command; name another")
    return target


def check_writable(path: PathLike, inputs: Iterable[PathLike] = ()) -> Path:
    """`check_output`, then a probe file beside the target: a write that would fail at the end
    of a long run (no folder, no permission, /proc) fails now, as an OutputError naming `path`."""
    target = check_output(path, inputs)
    try:
        if target.exists() and _streamable(target.stat().st_mode):
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise OutputError(f"cannot write {path}: {err.strerror or err}") from err
    return target


def write_atomic(path: PathLike, data: bytes | str, *, inputs: Iterable[PathLike] = ()) -> Path:
    """Write `data` to `path` (see the module docstring); returns the path written."""
    payload = data.encode() if isinstance(data, str) else data
    return write_atomic_with(path, lambda tmp: tmp.write_bytes(payload), inputs=inputs)


def write_atomic_with(
    path: PathLike, write: Callable[[Path], None], *, inputs: Iterable[PathLike] = ()
) -> Path:
    """Call `write(tmp)` to fill a temp file, then put it at `path` (see the module docstring)."""
    path = Path(path)
    target = check_output(path, inputs)
    try:
        if target.exists() and _streamable(target.stat().st_mode):
            _stream(target, write)
        else:
            _replace(target, write)
    except OSError as err:
        raise OutputError(f"cannot write {path}: {err.strerror or err}") from err
    return path


def _replace(target: Path, write: Callable[[Path], None]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with tmp.open("rb+") as handle:
            os.fsync(handle.fileno())
        tmp.chmod(mode)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _stream(target: Path, write: Callable[[Path], None]) -> None:
    """A device or pipe: fill a private temp file, then copy it in; the node itself stays."""
    with tempfile.TemporaryDirectory(prefix="livegen-out-") as scratch:
        tmp = Path(scratch) / target.name
        write(tmp)
        with tmp.open("rb") as src, target.open("wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)


def _streamable(mode: int) -> bool:
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
