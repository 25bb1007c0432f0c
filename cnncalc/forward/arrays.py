"""NumPy files in and out of `cnncalc run`: weights (.npz), input data (.npy) and the saved
outputs (.npz), each checked before anything is allocated.

A .npz archive is read member by member with zipfile, never through numpy.load. Before a
member's data is touched, its .npy header is parsed (numpy.lib.format's own readers, with
the header's length bounded first) and checked: a real dtype (bool, integer or float: no
complex, text, datetime, structured or object arrays, so nothing is ever unpickled), a
declared size within MAX_ARRAY_BYTES for the whole file, a declared size equal to what
the archive says the member holds, and no more expansion than MAX_EXPANSION for a large
compressed member. Only then is the array allocated, once, and filled by chunks; the
archive's CRC is checked at the end. Values beyond the run's float range are an error
naming the array and the index, never a silent inf.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np
from numpy.lib import format as npy_format

from ..analysis.summary import Summary
from ..errors import CnnError, Location, did_you_mean, format_shape
from ..files import open_input, write_atomically
from ..units import human_bytes

MAX_ARRAY_BYTES = 4 * 2**30  # every array of one file together, once loaded and converted
MAX_HEADER_BYTES = 10_000  # numpy's own bound on a .npy header (numpy.lib.format)
MAX_MEMBERS = 100_000  # arrays in one .npz
MAX_DIRECTORY_BYTES = 16 * 2**20  # its zip directory, which zipfile reads whole: about 100,000 entries
MAX_EXPANSION = 100  # a compressed member above BOMB_FLOOR may expand at most this much
BOMB_FLOOR = 64 * 2**20
DEFLATE_MOST = 1032  # deflate cannot expand more: beyond it, the archive's sizes are lies
CHUNK = 2**20
IGNORED_KEYS = ("num_batches_tracked",)  # PyTorch state_dict buffers without a role here
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
NPY_MAGIC = b"\x93NUMPY"
KINDS = {"c": "complex", "U": "text", "S": "byte-string", "V": "structured", "O": "Python object",
         "M": "datetime", "m": "time-delta"}
REAL = "real numbers (a bool, integer or float array)"


@dataclass(frozen=True)
class Header:
    """A .npy header: what the array will be, and how many bytes precede its data."""

    shape: tuple[int, ...]
    fortran_order: bool
    dtype: np.dtype
    length: int

    @property
    def count(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.count * self.dtype.itemsize


# -- reading --------------------------------------------------------------------------------


def load_weights(path: str, dtype: str | None = None, limit: int = MAX_ARRAY_BYTES) -> dict[str, np.ndarray]:
    """The arrays of a .npz weights file by key ('conv1.weight'), checked, converted to the
    run's `dtype` ('float32', 'float64'; None keeps the file's)."""
    stream, size = open_input(path, "weights file", "a .npz archive of arrays (numpy.savez writes one)")
    with stream:
        head = stream.read(8)
        if not head:
            raise CnnError(f"{path} is empty; allowed: a .npz archive of arrays (numpy.savez writes one)")
        if not head.startswith(ZIP_MAGIC):
            raise CnnError(f"{path} is not a NumPy .npz archive of arrays (numpy.savez writes one)")
        stream.seek(0)
        return read_npz(stream, path, dtype, limit)


def load_data(path: str, dtype: str | None = None, limit: int = MAX_ARRAY_BYTES) -> np.ndarray:
    """The input array of a .npy file (or a .npz holding one array), checked, converted."""
    stream, size = open_input(path, "data file", "a .npy array (numpy.save writes one)")
    with stream:
        head = stream.read(8)
        if not head:
            raise CnnError(f"{path} is empty; allowed: a .npy array (numpy.save writes one)")
        stream.seek(0)
        if head.startswith(ZIP_MAGIC):
            arrays = read_npz(stream, path, dtype, limit)
            if len(arrays) != 1:
                raise CnnError(
                    f"{path} holds {len(arrays)} arrays ({listing(arrays)}); allowed: one array, "
                    "the input (a .npy file as numpy.save writes it)"
                )
            return next(iter(arrays.values()))
        if not head.startswith(NPY_MAGIC):
            raise CnnError(f"{path} is not a NumPy .npy array (numpy.save writes one)")
        try:
            header = read_header(stream, path)
            check_header(header, path, dtype, 0, limit)
            held = size - header.length
            if held < header.nbytes:
                raise CnnError(
                    f"{path} is truncated: its header declares {format_shape(header.shape)} {header.dtype} "
                    f"({header.nbytes:,} bytes of data) but the file holds {held:,}; allowed: a complete .npy file"
                )
            array = read_data(stream, header)
        except OSError as exc:
            raise CnnError(f"cannot read {path}: {exc.strerror or exc}") from None
        return convert(array, dtype, path)


def read_npz(stream, path: str, dtype: str | None, limit: int) -> dict[str, np.ndarray]:
    """Every member of an open .npz file, each checked before its data is read."""
    directory = directory_size(stream)
    if directory > MAX_DIRECTORY_BYTES:
        raise CnnError(
            f"{path} declares a zip directory of {human_bytes(directory)}; allowed: at most "
            f"{human_bytes(MAX_DIRECTORY_BYTES)} (about {MAX_MEMBERS:,} arrays)"
        )
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError):
        raise CnnError(f"{path} is a damaged zip archive (truncated?); allowed: a .npz archive as numpy.savez writes it") from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise CnnError(f"{path} holds {len(members):,} members; allowed: at most {MAX_MEMBERS:,} arrays")
        arrays: dict[str, np.ndarray] = {}
        used = 0
        for info in members:
            key = info.filename.removesuffix(".npy")
            where = f"{path}: array '{key}'"
            if not info.filename.endswith(".npy") or info.is_dir():
                raise CnnError(f"{path}: member '{info.filename}' is not a .npy array; allowed: only arrays (numpy.savez writes them)")
            if key in arrays:
                raise CnnError(f"{where} is in the archive twice; allowed: each key once")
            array = read_member(archive, info, where, dtype, used, limit)
            used += array.nbytes
            arrays[key] = array
        return arrays


def directory_size(stream) -> int:
    """The size of a zip's central directory as its end record declares it (zip64 too), read
    from the file's tail before zipfile reads the directory whole; 0 when there is no end
    record (zipfile then refuses the file)."""
    end = stream.seek(0, io.SEEK_END)
    tail_length = min(end, 22 + 65535)  # the end record and the longest comment
    stream.seek(end - tail_length)
    tail = stream.read(tail_length)
    stream.seek(0)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        return 0
    size = struct.unpack_from("<L", tail, at + 12)[0]
    if size == 0xFFFFFFFF and at >= 20 and tail[at - 20 : at - 16] == b"PK\x06\x07":  # zip64: its own end record
        stream.seek(struct.unpack_from("<Q", tail, at - 12)[0])
        record = stream.read(56)
        stream.seek(0)
        if len(record) == 56 and record[:4] == b"PK\x06\x06":
            size = struct.unpack_from("<Q", record, 40)[0]
    return size


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str, dtype: str | None, used: int, limit: int) -> np.ndarray:
    if info.flag_bits & 0x1:
        raise CnnError(f"{where} is encrypted; allowed: an archive without a password (numpy.savez writes one)")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise CnnError(
            f"{where} is compressed with zip method {info.compress_type}; allowed: stored or deflate "
            "(numpy.savez and numpy.savez_compressed)"
        )
    try:
        with archive.open(info) as member:
            header = read_header(member, where)
            check_header(header, where, dtype, used, limit)
            data_bytes = info.file_size - header.length
            if data_bytes != header.nbytes:
                raise CnnError(
                    f"{where} is damaged: its header declares {format_shape(header.shape)} {header.dtype} "
                    f"({header.nbytes:,} bytes) but the archive says it holds {max(data_bytes, 0):,}; "
                    "allowed: an archive as numpy.savez writes it"
                )
            if info.compress_type == zipfile.ZIP_DEFLATED:
                check_expansion(info, where)
            array = read_data(member, header)
            member.read(1)  # reaches the end of the member, where zipfile checks the CRC
    except CnnError:
        raise
    except (zipfile.BadZipFile, EOFError, ValueError, OSError, RuntimeError, zlib.error) as exc:  # methods checked above
        reason = "its CRC-32 does not match its data" if "CRC" in str(exc) else "its data is truncated or corrupt"
        raise CnnError(f"{where} is damaged: {reason}; allowed: an archive as numpy.savez writes it") from None
    return convert(array, dtype, where)


def check_expansion(info: zipfile.ZipInfo, where: str) -> None:
    """A compressed member may not claim more than deflate can give, nor, when large,
    expand like a decompression bomb (a 6 MB file claiming 6 GB)."""
    compressed = max(info.compress_size, 1)
    if info.file_size > DEFLATE_MOST * compressed + 1024:
        raise CnnError(
            f"{where} is damaged: {human_bytes(compressed)} of deflate data cannot hold the "
            f"{human_bytes(info.file_size)} the archive claims; allowed: an archive as numpy.savez writes it"
        )
    if info.file_size > BOMB_FLOOR and info.file_size > MAX_EXPANSION * compressed:
        raise CnnError(
            f"{where} would expand from {human_bytes(compressed)} to {human_bytes(info.file_size)} "
            f"({info.file_size // compressed:,} times); allowed: at most {MAX_EXPANSION} times for an array over "
            f"{human_bytes(BOMB_FLOOR)} (a decompression bomb?)"
        )


def read_header(stream, where: str) -> Header:
    """The .npy header, its length bounded before it is read; numpy.lib.format parses it."""
    magic = read_exactly(stream, len(NPY_MAGIC) + 2, where)
    try:
        version = npy_format.read_magic(io.BytesIO(magic))
    except ValueError:
        raise CnnError(f"{where} is not a NumPy .npy array (numpy.save writes one)") from None
    readers = {(1, 0): (2, npy_format.read_array_header_1_0), (2, 0): (4, npy_format.read_array_header_2_0)}
    if version not in readers:
        raise CnnError(
            f"{where} is a .npy file of format version {version[0]}.{version[1]}; allowed: versions 1.0 and 2.0 "
            "(numpy.save writes them for arrays of numbers)"
        )
    width, reader = readers[version]
    length_bytes = read_exactly(stream, width, where)
    length = int.from_bytes(length_bytes, "little")
    if length > MAX_HEADER_BYTES:
        raise CnnError(f"{where} has a .npy header of {length:,} bytes; allowed: at most {MAX_HEADER_BYTES:,} bytes, as numpy.load allows")
    text = read_exactly(stream, length, where)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy's note on headers written by Python 2
            shape, fortran_order, dtype = reader(io.BytesIO(length_bytes + text), max_header_size=MAX_HEADER_BYTES)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise CnnError(f"{where} has a malformed .npy header; allowed: a header as numpy.save writes it") from None
    return Header(tuple(shape), fortran_order, dtype, len(magic) + width + length)


def check_header(header: Header, where: str, dtype: str | None, used: int = 0, limit: int = MAX_ARRAY_BYTES) -> None:
    """The dtype and the declared size, before anything is allocated. `used`: the bytes
    the file's arrays before this one take."""
    check_dtype(header.dtype, where)
    if any(side < 0 for side in header.shape):
        raise CnnError(f"{where} has a malformed .npy header (shape {header.shape}); allowed: a header as numpy.save writes it")
    loaded = header.count * max(header.dtype.itemsize, np.dtype(dtype).itemsize if dtype else 0)
    if used + loaded > limit:
        before = f", and the arrays before it take {human_bytes(used)}" if used else ""
        raise CnnError(
            f"{where} declares {format_shape(header.shape)} {header.dtype}: {human_bytes(loaded)} once loaded; "
            f"allowed: at most {human_bytes(limit)} of arrays per file{before}"
        )


def check_dtype(dtype: np.dtype, where: str, location: Location | None = None) -> None:
    """Only real numbers: a complex, text, datetime, structured or object array is refused
    (and an object array never unpickled)."""
    if dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
        word = KINDS.get(dtype.kind, "structured" if dtype.fields else "non-numeric")
        raise CnnError(f"{where} holds {word} values ({dtype}); allowed: {REAL}", location)


def read_data(stream, header: Header) -> np.ndarray:
    """The array the header describes, allocated once and filled chunk by chunk."""
    array = np.empty(header.count, header.dtype)
    view = memoryview(array).cast("B")
    done = 0
    while done < header.nbytes:
        chunk = stream.read(min(CHUNK, header.nbytes - done))
        if not chunk:
            raise EOFError("the array's data ends early")
        view[done : done + len(chunk)] = chunk
        done += len(chunk)
    if header.fortran_order:
        return array.reshape(header.shape[::-1]).transpose()
    return array.reshape(header.shape)


def read_exactly(stream, size: int, where: str) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise CnnError(f"{where} is truncated inside its .npy header; allowed: a complete .npy array")
    return data


def convert(array: np.ndarray, dtype, where: str, location: Location | None = None) -> np.ndarray:
    """The array as the run's float type (a name, 'float32', or a NumPy type; None keeps
    it as it is). A value beyond that type's range is an error at its index: no silent
    inf, no raw NumPy warning. Also for inline values: `location` is where they are written."""
    check_dtype(array.dtype, where, location)
    if dtype is None:
        return array
    target = np.dtype(dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        result = array.astype(target, copy=False)
    if array.dtype.kind == "f" and array.dtype.itemsize > target.itemsize:
        overflowed = np.isinf(result)
        overflowed &= np.isfinite(array)
        if overflowed.any():
            index = tuple(int(i) for i in np.unravel_index(int(np.argmax(overflowed)), array.shape))
            wider = ", or --dtype float64" if target == np.float32 else ""
            raise CnnError(
                f"{where} holds {float(array[index])!r} at index {format_shape(index)}, beyond {target.name}'s range; "
                f"allowed: values within ±{float(np.finfo(target).max):.4g}{wider}",
                location,
            )
    return result


# -- the weights' keys -----------------------------------------------------------------------


def weight_keys(summary: Summary) -> list[str]:
    """Every key a weights file may give for this network: LAYER.weight, LAYER.bias, ..."""
    return [f"{row.name}.{leaf}" for row in summary.layers for leaf, _ in (*row.weights, *row.buffers)]


def check_weight_keys(given: Mapping[str, np.ndarray], expected: Iterable[str], path: str) -> None:
    """A weights file none of whose keys is a weight of the network is a mistake (another
    network's file, or keys with a prefix such as 'model.'): refused, not run on random
    weights."""
    expected = list(expected)
    wanted = set(expected)
    keys = [key for key in given if not key.endswith(IGNORED_KEYS)]
    if any(key in wanted for key in keys) or (not keys and not expected):
        return
    hint = next((did_you_mean(key, expected) for key in keys if did_you_mean(key, expected)), "")
    allowed = listing(expected) if expected else "none (this network has no weights)"
    if not keys:
        raise CnnError(f"{path} holds no arrays; expected: the weights of this network, {allowed}")
    raise CnnError(f"none of the keys in {path} is a weight of this network: given {listing(keys)}; expected: {allowed}{hint}")


def listing(keys: Iterable[str], most: int = 6) -> str:
    keys = list(keys)
    shown = ", ".join(f"'{key}'" for key in keys[:most])
    return shown + (f" and {len(keys) - most:,} more" if len(keys) > most else "")


# -- writing --------------------------------------------------------------------------------


def save_outputs(path: str, outputs: Mapping[str, np.ndarray], protect: Iterable[str | None] = ()) -> None:
    """Every layer's output in one .npz keyed by layer name, as numpy.savez writes it (any
    name works, even 'file'), through files.write_atomically: never over an input, a
    device or a directory."""

    def write(stream) -> None:
        archive = zipfile.ZipFile(stream, "w", zipfile.ZIP_STORED, allowZip64=True)
        try:
            for name, value in outputs.items():
                with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                    npy_format.write_array(member, np.asanyarray(value), allow_pickle=False)
            archive.close()
        except BaseException:
            # Interrupted (Ctrl-C lands anywhere, even inside archive.open before the member
            # handle exists): the half-written archive is abandoned, and write_atomically
            # deletes its file. Closing it would raise "an open writing handle" over the
            # interruption, here or when it is collected, so it is dropped unclosed.
            archive.fp = None
            raise

    write_atomically(path, write, protect)
