"""Writing result files atomically: a temporary file beside the target, then a rename, so a
failed or interrupted write never leaves half a file or replaces a good one."""

from __future__ import annotations

import os
import tempfile
from typing import BinaryIO, Callable

from .errors import CnnError


def write_atomically(path: str, write: Callable[[BinaryIO], None]) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    try:
        handle, temporary = tempfile.mkstemp(suffix=".part", dir=directory)
    except OSError as exc:
        raise CnnError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
        os.replace(temporary, path)
    except BaseException as exc:
        if os.path.exists(temporary):
            os.unlink(temporary)
        if isinstance(exc, OSError):
            raise CnnError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise


def save_text(path: str, text: str) -> None:
    write_atomically(path, lambda stream: stream.write(text.encode("utf-8")))
