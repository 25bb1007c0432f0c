"""The user's files, read and written so that no input hangs or eats the machine and no
output destroys what it replaces.

Reading (`open_input`, `read_limited`): only regular files are opened, after a `stat` that
refuses directories, devices, named pipes and sockets (so `/dev/zero` is never read and a
FIFO with no writer never blocks); a text is read up to a size limit and no further. Every
file opened is remembered in `INPUTS` by device and inode.

Writing (`write_atomically`, `save_text`): a temporary file beside the target, then a
rename, so a failed or interrupted write never leaves half a file or replaces a good one.
The target must be a regular file or a new path, and never a file this process has read
(`INPUTS`) or one of the paths given as `protect`: `run net.dsl --save net.dsl` is refused
instead of replacing the network with its outputs. A new file gets the user's umask
(0666 & ~umask), a replaced file keeps its mode. A symbolic link is written through, so the
link stays.

Signals (`install_signal_handlers`, called once by the CLI): SIGTERM and SIGHUP remove the
temporary file of a write in progress and exit with 128 + the signal's number; SIGINT does
the same, says `cnncalc: interrupted` and exits 130.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import tempfile
import threading
from typing import BinaryIO, Callable, Iterable

from .errors import CnnError
from .units import human_bytes

INPUTS: dict[tuple[int, int], tuple[str, str]] = {}  # (st_dev, st_ino) of every file read: (path as given, absolute path)
TEMPORARIES: set[str] = set()  # temporary files of the writes in progress
SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it

KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
)


def special_kind(mode: int) -> str | None:
    """'a directory', 'a character device', ... for anything that is not a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in KINDS if test(mode)), "not a regular file")


# -- reading --------------------------------------------------------------------------------


def open_input(path: str, what: str, allowed: str) -> tuple[BinaryIO, int]:
    """(binary stream, size in bytes) of the regular file at `path`, remembered as an input.

    `what` names the file in messages ("file", "weights file"), `allowed` says what the
    user may give instead of a special file. The type is checked before the file is opened,
    and the file is opened without blocking, so neither a device nor a FIFO is ever read.
    """
    try:
        before = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise CnnError(f"no such {what}: {path}") from None
    except OSError as exc:
        raise CnnError(f"cannot read {path}: {exc.strerror or exc}") from None
    kind = special_kind(before.st_mode)
    if kind is not None:
        raise CnnError(f"{path} is {kind}; allowed: {allowed}")
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise CnnError(f"cannot read {path}: {exc.strerror or exc}") from None
    opened = os.fstat(descriptor)
    kind = special_kind(opened.st_mode)
    if kind is not None:  # replaced between the stat and the open
        os.close(descriptor)
        raise CnnError(f"{path} is {kind}; allowed: {allowed}")
    INPUTS[(opened.st_dev, opened.st_ino)] = (path, os.path.abspath(path))
    return os.fdopen(descriptor, "rb"), opened.st_size


def read_limited(stream: BinaryIO, size: int | None, limit: int, path: str, what: str) -> bytes:
    """At most `limit` bytes of the stream, else a CnnError naming the limit and the size
    received. `size` is the file's size when known (then nothing is read past the limit: a
    5 GiB sparse file is refused by its size); a stream of unknown size is read up to one
    byte more than the limit."""
    if size is not None and size > limit:
        raise CnnError(
            f"{path} is too large: {human_bytes(size)} ({size:,} bytes) received; "
            f"allowed: at most {human_bytes(limit)} for {what}"
        )
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise CnnError(
            f"{path} is too large: more than {human_bytes(limit)} received; allowed: at most {human_bytes(limit)} for {what}"
        )
    return data


# -- writing --------------------------------------------------------------------------------


def write_atomically(path: str, write: Callable[[BinaryIO], None], protect: Iterable[str | None] = ()) -> None:
    """Call `write` on a temporary file beside `path`, then rename it over `path`.

    Refused before anything is written: a target that exists and is not a regular file,
    and a target that is a file this process read (`INPUTS`) or one of `protect` (the same
    file by device and inode, whatever the spelling, link or hard link)."""
    if not path:
        raise CnnError("cannot write to an empty path; allowed: a file name")
    target = os.path.realpath(path)  # through a symbolic link: the link stays, its file is replaced
    existing = _stat_or_none(target, path)
    if existing is not None:
        kind = special_kind(existing.st_mode)
        if kind is not None:
            raise CnnError(f"cannot write {path}: it is {kind}; allowed: a regular file or a new path")
        source = _input_at(existing, protect)
        if source is not None:
            raise CnnError(
                f"cannot write {path}: it is {_same_as(path, source)}an input of this command, which the output "
                "would replace; allowed: another path"
            )
    temporary = None
    try:
        with _signals_held():  # a signal now would find the temporary file not yet listed
            handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".part", dir=os.path.dirname(target))
            TEMPORARIES.add(temporary)
        with os.fdopen(handle, "wb") as stream:
            _set_mode(stream.fileno(), existing)
            write(stream)
        with _signals_held():  # renamed and forgotten together
            os.replace(temporary, target)
            TEMPORARIES.discard(temporary)
    except BaseException as exc:  # a failed write, Ctrl-C without our handlers, a bug: no file left behind
        if temporary is not None:
            _remove(temporary)
        if isinstance(exc, OSError):
            raise CnnError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise


def save_text(path: str, text: str, protect: Iterable[str | None] = ()) -> None:
    write_atomically(path, lambda stream: stream.write(text.encode("utf-8")), protect)


def _stat_or_none(target: str, path: str) -> os.stat_result | None:
    try:
        return os.stat(target)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise CnnError(f"cannot write {path}: {exc.strerror or exc}") from None


def _input_at(existing: os.stat_result, protect: Iterable[str | None]) -> str | None:
    """The path under which the file `existing` was read, or is protected; None if neither.

    A remembered input counts only while its path still names that file, so an inode
    reused after the input was deleted is not mistaken for it."""
    identity = (existing.st_dev, existing.st_ino)
    candidates = [(path, path) for path in protect if path and path != "-"]
    if identity in INPUTS:
        candidates.insert(0, INPUTS[identity])
    for shown, candidate in candidates:
        try:
            found = os.stat(candidate)
        except OSError:
            continue
        if (found.st_dev, found.st_ino) == identity:
            return shown
    return None


def _same_as(path: str, source: str) -> str:
    """'' when the user wrote the same path twice, else 'the same file as SOURCE, '."""
    return "" if os.path.abspath(path) == os.path.abspath(source) else f"the same file as {source}, "


def _set_mode(handle: int, existing: os.stat_result | None) -> None:
    """mkstemp makes 0600 files: give a new file 0666 & ~umask, a replaced one its own mode
    (and, where allowed, its owner)."""
    if existing is None:
        os.fchmod(handle, 0o666 & ~current_umask())
        return
    os.fchmod(handle, stat.S_IMODE(existing.st_mode) & 0o777)
    with contextlib.suppress(OSError):
        os.fchown(handle, existing.st_uid, existing.st_gid)


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _remove(temporary: str) -> None:
    TEMPORARIES.discard(temporary)
    with contextlib.suppress(OSError):
        os.unlink(temporary)


@contextlib.contextmanager
def _signals_held():
    """Hold SIGTERM, SIGHUP and SIGINT back for a few statements (POSIX; elsewhere nothing)."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


# -- signals --------------------------------------------------------------------------------


def install_signal_handlers() -> None:
    """SIGTERM and SIGHUP: remove the temporary files of writes in progress, exit 128 +
    signal number. SIGINT: the same, with `cnncalc: interrupted` on stderr and exit 130.
    Only the main thread can install handlers; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        return
    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, _terminated)
    signal.signal(signal.SIGINT, _interrupted)


def remove_temporaries() -> None:
    for temporary in list(TEMPORARIES):
        _remove(temporary)


def _terminated(number: int, frame) -> None:
    remove_temporaries()
    raise SystemExit(128 + number)


def _interrupted(number: int, frame) -> None:
    remove_temporaries()
    with contextlib.suppress(OSError):  # not through sys.stderr: the signal may have come in the middle of its write
        os.write(2, b"cnncalc: interrupted\n")
    raise SystemExit(EXIT_INTERRUPTED)
