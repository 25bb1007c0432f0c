"""Issue 20, file input and output: every attack made here as data, each with its exact
message and exit code.

- outputs never destroy what they replace: no device, FIFO, socket or directory, never an
  input of the same command; the user's umask; no temporary file left by a signal;
- every input read with a size bound, special files refused without blocking, bytes and
  control characters located;
- weights and data files checked (dtype, declared size, expansion, CRC) before anything
  is allocated.

The binary inputs of tests/bad/ (tests/bad/data/*.npz, *.npy) are made by BAD_ARRAYS below;
`pytest tests/test_hardening_io.py --overwrite` rewrites them.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cnncalc import files
from cnncalc.cli import main
from cnncalc.errors import CnnError
from cnncalc.forward import arrays

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "bad" / "data"
NET = "input 1x4x4\nconv2d 2 k=1\n"  # weights conv2d_1.weight (2, 1, 1, 1) and conv2d_1.bias (2,)
ALLOWED_TEXT = "allowed: a YAML (.yaml) or DSL file, or '-' for standard input"
REAL = "allowed: real numbers (a bool, integer or float array)"
KEEP_WRITING = "allowed: a regular file or a new path"


def cli(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def refused(result, message: str, code: int = 2):
    """The whole of stderr is `message` (a headline, maybe with its quoted line), nothing on stdout."""
    assert (result.exit_code, result.stdout, result.stderr) == (code, "", message + "\n"), result.output


@pytest.fixture(autouse=True)
def fresh_inputs(monkeypatch):
    """Each test a fresh process as far as remembered inputs go."""
    monkeypatch.setattr(files, "INPUTS", {})


@pytest.fixture
def net(tmp_path):
    path = tmp_path / "net.dsl"
    path.write_text(NET)
    return path


# -- making the attacks ---------------------------------------------------------------------


def npy(header: str, data: bytes = b"", version: tuple[int, int] = (1, 0), length: int | None = None) -> bytes:
    """A .npy file with this header text, written by hand (so it can lie)."""
    text = header.encode("latin1")
    text += b" " * (-(len(text) + 11) % 64) + b"\n"
    size = struct.pack("<H" if version[0] == 1 else "<I", len(text) if length is None else length)
    return b"\x93NUMPY" + bytes(version) + size + text + data


def npz(**arrays_by_key) -> bytes:
    stream = io.BytesIO()
    np.savez(stream, **arrays_by_key)
    return stream.getvalue()


def zipped(members, method=zipfile.ZIP_STORED) -> bytes:
    """A zip of (name, bytes) members with a fixed date, so the bytes are reproducible."""
    stream = io.BytesIO()
    with zipfile.ZipFile(stream, "w", method) as archive:
        for name, data in members:
            archive.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), data, compress_type=method)
    return stream.getvalue()


def raw_zip(name: str, raw: bytes, method: int, crc: int, size: int) -> bytes:
    """A one-member zip holding `raw` as the member's (already compressed) data, declaring
    `size` bytes once expanded; zip64 sizes, so the claim can exceed 4 GiB."""
    encoded = name.encode()
    extra = struct.pack("<HHQQ", 1, 16, size, len(raw))
    common = (method, 0, 0x21, crc, 0xFFFFFFFF, 0xFFFFFFFF, len(encoded), len(extra))
    local = struct.pack("<4s3H2H3L2H", b"PK\x03\x04", 45, 0, *common) + encoded + extra
    central = struct.pack("<4s4H2H3L2H3H2L", b"PK\x01\x02", 45, 45, 0, *common, 0, 0, 0, 0, 0) + encoded + extra
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local) + len(raw), 0)
    return local + raw + central + end


def crc_after_zeros(crc: int, count: int) -> int:
    """zlib.crc32(b'\\0' * count, crc) without the zeros: one zero byte is an affine map of
    the CRC over GF(2), raised to the count by squaring."""

    def apply(columns, constant, value):
        for bit in range(32):
            if value >> bit & 1:
                constant ^= columns[bit]
        return constant

    constant = zlib.crc32(b"\0", 0)
    columns = [zlib.crc32(b"\0", 1 << bit) ^ constant for bit in range(32)]
    while count:
        if count & 1:
            crc = apply(columns, constant, crc)
        constant = apply(columns, constant, constant)
        columns = [apply(columns, 0, column) for column in columns]
        count >>= 1
    return crc


def deflate_bomb(prefix: bytes, zeros: int, segment: int = 2**24) -> tuple[bytes, int]:
    """A genuine raw deflate stream of prefix + `zeros` zero bytes, and its CRC-32, made in
    a fraction of a second: one segment of zeros compressed after a full flush (so it needs
    no earlier data) repeated, then an empty final block."""
    repeats, rest = divmod(zeros, segment)
    head = zlib.compressobj(6, zlib.DEFLATED, -15)
    start = head.compress(prefix + bytes(rest)) + head.flush(zlib.Z_FULL_FLUSH)
    body = zlib.compressobj(6, zlib.DEFLATED, -15)
    piece = body.compress(bytes(segment)) + body.flush(zlib.Z_FULL_FLUSH)
    crc = crc_after_zeros(zlib.crc32(prefix), zeros)
    return start + piece * repeats + b"\x03\x00", crc


def npy_header_text(shape, descr="<f4") -> str:
    return f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"


def bomb_npz(shape, segment: int = 2**24) -> bytes:
    """An .npz whose one float32 member 'conv2d_1.weight' is all zeros of `shape`, deflated."""
    header = npy(npy_header_text(shape))
    count = int(np.prod(shape)) * 4
    raw, crc = deflate_bomb(header, count, segment)
    return raw_zip("conv2d_1.weight.npy", raw, zipfile.ZIP_DEFLATED, crc, len(header) + count)


def test_the_bomb_maker_makes_genuine_archives():
    """The attack is real: numpy.load reads a small one as the zeros it claims."""
    assert crc_after_zeros(zlib.crc32(b"abc"), 100_003) == zlib.crc32(b"abc" + bytes(100_003))
    data = bomb_npz((3, 1000, 7), segment=4096)
    with np.load(io.BytesIO(data)) as archive:
        weight = archive["conv2d_1.weight"]
    assert weight.shape == (3, 1000, 7) and not weight.any()


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0xFF]) + data[index + 1 :]


def encrypted() -> bytes:
    """A stored member with the 'encrypted' flag set in both of its headers."""
    data = bytearray(zipped([("conv2d_1.weight.npy", npy(npy_header_text((2, 1, 1, 1)), bytes(8)))]))
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.index(signature) + offset
        data[at] |= 1
    return bytes(data)


def claims_too_much(shape) -> bytes:
    """A deflated member whose few bytes of data claim far more than deflate can expand to."""
    header = npy(npy_header_text(shape))
    squeeze = zlib.compressobj(6, zlib.DEFLATED, -15)
    raw = squeeze.compress(header) + squeeze.flush(zlib.Z_SYNC_FLUSH) + b"\x03\x00"
    return raw_zip("conv2d_1.weight.npy", raw, zipfile.ZIP_DEFLATED, zlib.crc32(header), len(header) + 4 * int(np.prod(shape)))


def corrupt_deflate(at: int) -> bytes:
    """A deflated member with byte `at` of its compressed data flipped."""
    data = zipped([("conv2d_1.bias.npy", npy(npy_header_text((2,)), bytes(8)))], zipfile.ZIP_DEFLATED)
    return flip(data, data.index(b"conv2d_1.bias.npy") + len("conv2d_1.bias.npy") + at)


def bad_crc() -> bytes:
    data = zipped([("conv2d_1.weight.npy", npy(npy_header_text((2, 1, 1, 1)), np.ones(2, "<f4").tobytes()))])
    return flip(data, data.index(b"\x00\x00\x80\x3f"))  # a byte of the first 1.0


# The binary inputs of tests/bad/ cases: name -> bytes.
BAD_ARRAYS = {
    "empty.npz": lambda: b"",
    "empty.npy": lambda: b"",
    "no-arrays.npz": lambda: zipped([]),
    "other-keys.npz": lambda: zipped([(f"{key}.npy", npy(npy_header_text((1,)), bytes(4))) for key in ("conv1.weight", "fc.bias")]),
    "two-arrays.npz": lambda: zipped([(f"{key}.npy", npy(npy_header_text((1,)), bytes(4))) for key in ("a", "b")]),
    "truncated.npz": lambda: zipped([("conv2d_1.bias.npy", npy(npy_header_text((100,)), bytes(400)))])[:300],
    "truncated.npy": lambda: npy(npy_header_text((1, 4, 4)), bytes(20)),
    "header-cut.npy": lambda: npy(npy_header_text((1, 4, 4)))[:30],
    "not-npy-member.npz": lambda: zipped([("notes.txt", b"hello")]),
    "twice.npz": lambda: zipped([("conv2d_1.bias.npy", npy(npy_header_text((2,)), bytes(8)))] * 2),
    "encrypted.npz": encrypted,
    "bzip2.npz": lambda: zipped([("conv2d_1.bias.npy", npy(npy_header_text((2,)), bytes(8)))], zipfile.ZIP_BZIP2),
    "bad-crc.npz": bad_crc,
    "corrupt-deflate.npz": lambda: corrupt_deflate(0),
    "size-lie.npz": lambda: zipped([("conv2d_1.bias.npy", npy(npy_header_text((10,)), bytes(8)))]),
    "claims-too-much.npz": lambda: claims_too_much((100_000,)),
    "bomb.npz": lambda: bomb_npz((2**24 + 2**10,)),
    "huge-directory.npz": lambda: struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, 2**31, 0, 0),
    "huge-header.npy": lambda: npy(npy_header_text((1, 4, 4)), length=60_000),
    "version-3.npy": lambda: npy(npy_header_text((1, 4, 4)), bytes(64), version=(3, 0)),
    "malformed-header.npy": lambda: npy("{'descr': '<f4', 'shape': (1, 4, 4)}", bytes(64)),
    "negative-shape.npy": lambda: npy(npy_header_text((-1, 4, 4)), bytes(64)),
    "ten-to-the-11.npy": lambda: npy(npy_header_text((10**11,), "<f8")),
    "complex.npy": lambda: npy(npy_header_text((1, 4, 4), "<c8"), bytes(128)),
    "overflow.npy": lambda: npy(npy_header_text((1, 4, 4), "<f8"), np.full(16, 1e300).tobytes()),
}


@pytest.mark.parametrize("name", sorted(BAD_ARRAYS))
def test_bad_array_files_are_as_made_here(name, overwrite):
    path, made = DATA / name, BAD_ARRAYS[name]()
    if overwrite or not path.exists():
        path.write_bytes(made)
    assert path.read_bytes() == made


# -- A. outputs never destroy what they replace ----------------------------------------------


def test_save_over_the_network_file_is_refused_and_the_file_kept(net, monkeypatch):
    monkeypatch.chdir(net.parent)
    refused(cli("run", "net.dsl", "--save", "net.dsl"),
            "cnncalc: error: cannot write net.dsl: it is an input of this command, which the output would replace; "
            "allowed: another path")
    assert net.read_text() == NET


def test_save_over_an_input_under_another_name_is_refused(net, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.link("net.dsl", "hard.dsl")
    os.symlink("net.dsl", "soft.dsl")
    for other, same in (("hard.dsl", "the same file as net.dsl, "), ("soft.dsl", "the same file as net.dsl, "),
                        ("./net.dsl", ""), (str(net), "")):  # the same path spelt otherwise is just the input
        refused(cli("run", "net.dsl", "--save", other),
                f"cnncalc: error: cannot write {other}: it is {same}an input of this command, "
                "which the output would replace; allowed: another path")
    assert net.read_text() == NET and os.path.islink("soft.dsl")


def test_save_over_weights_data_or_answers_is_refused(net, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.savez("w.npz", **{"conv2d_1.bias": np.zeros(2, np.float32)})
    np.save("x.npy", np.zeros((1, 4, 4), np.float32))
    for option, name in (("--weights", "w.npz"), ("--data", "x.npy")):
        before = Path(name).read_bytes()
        refused(cli("run", "net.dsl", option, name, "--save", name),
                f"cnncalc: error: cannot write {name}: it is an input of this command, which the output would replace; "
                "allowed: another path")
        assert Path(name).read_bytes() == before


def test_diagram_over_its_own_network_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("net.svg").write_text(NET)  # a DSL file that happens to end in .svg
    refused(cli("diagram", "net.svg", "-o", "net.svg"),
            "cnncalc: error: cannot write net.svg: it is an input of this command, which the output would replace; "
            "allowed: another path")
    assert Path("net.svg").read_text() == NET


def test_protect_names_paths_not_read_through_cnncalc(tmp_path):
    kept = tmp_path / "kept.txt"
    kept.write_text("mine")
    os.link(kept, tmp_path / "link.txt")
    with pytest.raises(CnnError) as caught:
        files.save_text(str(tmp_path / "link.txt"), "theirs", protect=[None, "-", str(kept)])
    assert caught.value.message == (f"cannot write {tmp_path / 'link.txt'}: it is the same file as {kept}, an input of this "
                                    "command, which the output would replace; allowed: another path")
    assert kept.read_text() == "mine"
    files.save_text(str(tmp_path / "new.txt"), "theirs", protect=[str(kept)])
    assert (tmp_path / "new.txt").read_text() == "theirs"


def special_files(tmp_path) -> dict[str, Path]:
    """One of each kind of special file, made here (device nodes need root: skipped otherwise)."""
    made = {"a directory": tmp_path / "directory", "a named pipe (FIFO)": tmp_path / "fifo", "a socket": tmp_path / "socket"}
    made["a directory"].mkdir()
    os.mkfifo(made["a named pipe (FIFO)"])
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(made["a socket"]))
    server.close()
    for kind, mode, device in (("a character device", stat.S_IFCHR, os.makedev(1, 3)),  # like /dev/null
                               ("a block device", stat.S_IFBLK, os.makedev(7, 200))):  # a loop device number
        try:
            os.mknod(tmp_path / kind.split()[1], mode | 0o666, device)
            made[kind] = tmp_path / kind.split()[1]
        except PermissionError:
            pass
    return made


def test_writes_to_special_files_are_refused_by_the_check(net, tmp_path):
    """Run as root here: permissions would allow replacing a device, so the refusal must be
    the check's, and the special file must still be what it was."""
    for kind, path in special_files(tmp_path).items():
        before = os.stat(path, follow_symlinks=False)
        refused(cli("run", net, "--save", path),
                f"cnncalc: error: cannot write {path}: it is {kind}; {KEEP_WRITING}")
        after = os.stat(path, follow_symlinks=False)
        assert (stat.S_IFMT(after.st_mode), after.st_ino) == (stat.S_IFMT(before.st_mode), before.st_ino), kind
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".part")) == []


def test_save_to_dev_null_is_refused_and_dev_null_survives(net):
    refused(cli("run", net, "--save", "/dev/null"), f"cnncalc: error: cannot write /dev/null: it is a character device; {KEEP_WRITING}")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_file_gets_the_users_umask(net, tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        assert cli("run", net, "--save", tmp_path / "out.npz").exit_code == 0
        assert cli("diagram", net, "-o", tmp_path / "net.svg").exit_code == 0
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(tmp_path / "out.npz").st_mode) == mode
    assert stat.S_IMODE(os.stat(tmp_path / "net.svg").st_mode) == mode


def test_a_replaced_file_keeps_its_mode_and_a_link_stays_a_link(net, tmp_path):
    target = tmp_path / "out.npz"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    previous = os.umask(0o077)
    try:
        assert cli("run", net, "--save", link).exit_code == 0
    finally:
        os.umask(previous)
    assert link.is_symlink() and stat.S_IMODE(os.stat(target).st_mode) == 0o640
    with np.load(target) as saved:
        assert saved["conv2d_1"].shape == (1, 2, 4, 4)


def test_saved_outputs_keep_any_layer_name(tmp_path):
    """numpy.savez(file, **outputs) fails on a layer named 'file' or 'allow_pickle'."""
    result = cli("run", "-e", "input 1x4x4 | file: relu | allow_pickle: relu", "--save", tmp_path / "o.npz")
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "o.npz") as saved:
        assert sorted(saved.files) == ["allow_pickle", "file"]


@pytest.mark.parametrize("failure, caught", [(OSError(28, "No space left on device"), CnnError), (KeyboardInterrupt(), KeyboardInterrupt)])
def test_a_failed_write_keeps_the_old_file_and_leaves_nothing(tmp_path, failure, caught):
    target = tmp_path / "out.svg"
    target.write_text("good")

    def broken(stream):
        stream.write(b"half")
        raise failure

    with pytest.raises(caught) as raised:
        files.write_atomically(str(target), broken)
    if caught is CnnError:
        assert raised.value.message == f"cannot write {target}: No space left on device"
    assert [p.name for p in tmp_path.iterdir()] == ["out.svg"] and target.read_text() == "good"
    assert files.TEMPORARIES == set()


# Signals: a subprocess with the handlers the CLI installs (files.install_signal_handlers).
WITH_HANDLERS = "import sys; from cnncalc.files import install_signal_handlers; install_signal_handlers(); "
SLOW_WRITE = WITH_HANDLERS + """
import time
from cnncalc.files import write_atomically
def slow(stream):
    for _ in range(2000):
        stream.write(bytes(2**16)); stream.flush(); time.sleep(0.005)
write_atomically(sys.argv[1], slow)
"""
CLI = WITH_HANDLERS + "from cnncalc.cli import main; main(sys.argv[1:], prog_name='cnncalc')"


def signalled(tmp_path, code: str, args, number: int, timeout: float = 60) -> subprocess.CompletedProcess:
    """Start `code`, send signal `number` as soon as a temporary .part file appears."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-c", code, *map(str, args)], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while not any(p.name.endswith(".part") for p in tmp_path.iterdir()):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no temporary file appeared"
        time.sleep(0.002)
    process.send_signal(number)
    stdout, stderr = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout.decode(), stderr.decode())


@pytest.mark.parametrize("number, code, message", [
    (signal.SIGTERM, 143, ""), (signal.SIGHUP, 129, ""), (signal.SIGINT, 130, "cnncalc: interrupted\n"),
])
def test_a_signal_during_a_write_leaves_no_temporary_file(tmp_path, number, code, message):
    (tmp_path / "out.bin").write_bytes(b"the good old file")
    done = signalled(tmp_path, SLOW_WRITE, ["out.bin"], number)
    assert (done.returncode, done.stderr) == (code, message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]
    assert (tmp_path / "out.bin").read_bytes() == b"the good old file"


def test_sigterm_during_a_big_save_leaves_no_part_file(tmp_path):
    """The issue's case: `run --save` of tens of MB killed mid-write (here 8 x 16 MiB)."""
    layers = " | ".join(["relu"] * 8)
    done = signalled(tmp_path, CLI, ["run", "-e", f"input 16x512x512 | {layers}", "--save", "out.npz"], signal.SIGTERM)
    assert (done.returncode, done.stdout) == (143, "")
    assert list(tmp_path.iterdir()) == []


def test_sigint_in_the_cli_exits_130_with_a_word(tmp_path):
    layers = " | ".join(["relu"] * 8)
    for attempt in range(3):  # on a busy machine the save may finish before the signal lands: try again
        folder = tmp_path / str(attempt)
        folder.mkdir()
        done = signalled(folder, CLI, ["run", "-e", f"input 16x512x512 | {layers}", "--save", "out.npz"], signal.SIGINT)
        if done.returncode != 0:
            break
    assert (done.returncode, done.stdout, done.stderr) == (130, "", "cnncalc: interrupted\n")
    assert list(folder.iterdir()) == []


# -- B. every input read with a bound, special files refused ---------------------------------


def test_special_files_as_network_or_answers_are_refused(tmp_path, net):
    cases = [*special_files(tmp_path).items(), ("a character device", Path("/dev/zero")),
             ("a character device", Path("/dev/urandom"))]
    for kind, path in cases:
        if kind != "a named pipe (FIFO)":  # opening one could block: below, in a subprocess
            refused(cli("summary", path), f"cnncalc: error: {path} is {kind}; {ALLOWED_TEXT}")
            refused(cli("check", net, path), f"cnncalc: error: {path} is {kind}; {ALLOWED_TEXT}")


def test_a_fifo_with_no_writer_is_refused_without_blocking(tmp_path, net):
    """open() of a FIFO with no writer blocks forever: a subprocess, with a timeout."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    script = "import sys; from cnncalc.cli import main; main(sys.argv[1:], prog_name='cnncalc')"
    for args in (["summary", fifo], ["check", net, fifo]):
        done = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True,
                              timeout=30, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        assert (done.returncode, done.stdout, done.stderr) == (2, "", f"cnncalc: error: {fifo} is a named pipe (FIFO); {ALLOWED_TEXT}\n")


def test_a_5_gib_sparse_file_is_refused_by_its_size_at_once(tmp_path):
    big = tmp_path / "big.yaml"
    with open(big, "wb") as handle:
        handle.truncate(5 * 2**30)
    from cnncalc.source.reading import Source, read_text

    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(CnnError):
        read_text(Source(str(big)))
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    refused(cli("summary", big), f"cnncalc: error: {big} is too large: 5.00 GiB (5,368,709,120 bytes) received; "
                    "allowed: at most 16.00 MiB for a network or answers file")
    assert seconds < 0.1 and peak < 64 * 2**10, (seconds, peak)


def test_a_file_just_over_the_limit_is_refused_and_one_at_it_is_read(tmp_path):
    limit = 16 * 2**20
    over = tmp_path / "over.dsl"
    over.write_bytes(b"#" * limit + b"\n")
    refused(cli("summary", over), f"cnncalc: error: {over} is too large: 16.00 MiB (16,777,217 bytes) received; "
                                  "allowed: at most 16.00 MiB for a network or answers file")
    at = tmp_path / "at.dsl"
    at.write_bytes((NET + "#" * (limit - len(NET) - 1) + "\n").encode())
    assert cli("summary", at).exit_code == 0


def test_standard_input_is_read_up_to_the_limit_only():
    refused(cli("summary", "-", input=b"\0" * (16 * 2**20 + 5)),
            "cnncalc: error: standard input is too large: more than 16.00 MiB received; "
            "allowed: at most 16.00 MiB for a network or answers text")


def test_a_latin1_byte_is_located_at_its_line_and_column(tmp_path):
    path = tmp_path / "net.dsl"
    path.write_bytes(b"input 1x4x4\r\nconv2d 2 k=1  # caf\xe9 cr\xe8me\n")
    refused(cli("summary", path), f"{path}:2:20: error: byte 0xE9 is not UTF-8 text; allowed: UTF-8 (save the file with "
                                  "that encoding)\n    2 | conv2d 2 k=1  # caf\ufffd cr\ufffdme\n      |                    ^")
    good, answers = tmp_path / "good.dsl", tmp_path / "answers.yaml"
    good.write_text(NET)
    answers.write_bytes(b"\xef\xbb\xbfconv2d_1: {params: 4}  # \xff\n")  # after a BOM: columns count from the text
    refused(cli("check", good, answers),
            f"{answers}:1:26: error: byte 0xFF is not UTF-8 text; allowed: UTF-8 (save the file with that encoding)\n"
            "    1 | conv2d_1: {params: 4}  # \ufffd\n      |                          ^")


@pytest.mark.parametrize("suffix, text", [
    (".yaml", "input: [1, 4, 4]\nlayers:\n  - conv2d: {out: 2, kernel: 1}\n  - re{c}lu\n"),
    (".dsl", "input 1x4x4\nconv2d 2 k=1\nre{c}lu\n"),
    (".dsl", "input 1x4x4\nconv2d 2 k=1  # a comment is text too: {c}\nrelu\n"),
])
@pytest.mark.parametrize("char", ["\0", "\x1b", "\x7f", "\x9b", "\ufffe"])
def test_control_characters_are_located_where_they_are(tmp_path, suffix, text, char):
    path = tmp_path / f"net{suffix}"
    written = text.replace("{c}", char)
    path.write_text(written, encoding="utf-8")
    index = written.index(char)
    line = written.count("\n", 0, index) + 1
    column = index - written.rfind("\n", 0, index)
    result = cli("summary", path)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{path}:{line}:{column}: error: control character U+{ord(char):04X} is not allowed; "
                                    "allowed: printable text, tabs and line breaks\n"), result.stderr
    assert "position" not in result.stderr and "<unicode string>" not in result.stderr


def test_the_yaml_reader_locates_control_characters_itself():
    """yamlformat.read called directly (not through reading.parse) says the same."""
    from cnncalc.source import yamlformat

    with pytest.raises(CnnError) as caught:
        yamlformat.read("input: [1, 4, 4]\nlayers:\n  - r\u00e9\x00lu\n", "x.yaml")
    assert (str(caught.value.location), caught.value.message) == (
        "x.yaml:3:7", "control character U+0000 is not allowed; allowed: printable text, tabs and line breaks")


@pytest.mark.parametrize("name", ["net.dsl", "net.yaml"])
def test_a_utf8_bom_is_accepted_in_both_formats(tmp_path, name):
    text = NET if name.endswith(".dsl") else "input: [1, 4, 4]\nlayers:\n  - conv2d: {out: 2, kernel: 1}\n"
    plain, marked = tmp_path / name, tmp_path / f"bom-{name}"
    plain.write_text(text)
    marked.write_bytes(b"\xef\xbb\xbf" + text.encode())
    first, second = cli("summary", plain, "--format", "json"), cli("summary", marked, "--format", "json")
    assert first.exit_code == second.exit_code == 0, second.output
    assert first.stdout.replace(str(plain), "") == second.stdout.replace(str(marked), "")
    assert cli("summary", "-", "--format", "json", input=b"\xef\xbb\xbf" + text.encode()).exit_code == 0


def test_a_dsl_bom_error_points_at_the_right_column(tmp_path):
    path = tmp_path / "net.dsl"
    path.write_bytes(b"\xef\xbb\xbfinput 1x4x4 | conv2d 2 k=1 | ? \n")
    assert cli("summary", path).stderr.startswith(f"{path}:1:30: error: unexpected character '?'")  # the BOM takes no column


# -- C. weights and data files -----------------------------------------------------------------


def write(tmp_path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_a_deflate_bomb_is_refused_before_anything_is_allocated(tmp_path, net):
    """6 MB claiming 6 GiB: refused from its header, with a few KiB of memory."""
    bomb = write(tmp_path, "bomb.npz", bomb_npz((6 * 2**28,)))
    assert 5 * 2**20 < bomb.stat().st_size < 7 * 2**20
    tracemalloc.start()
    with pytest.raises(CnnError) as caught:
        arrays.load_weights(str(bomb))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2**20, peak
    assert caught.value.message == (f"{bomb}: array 'conv2d_1.weight' declares (1610612736,) float32: 6.00 GiB once loaded; "
                                    "allowed: at most 4.00 GiB of arrays per file")
    refused(cli("run", net, "--weights", bomb), "cnncalc: error: " + caught.value.message)


def test_a_bomb_within_the_size_limit_is_refused_by_its_expansion(tmp_path, net):
    bomb = write(tmp_path, "bomb.npz", bomb_npz((2**28,)))  # 1 GiB of zeros in 1 MB
    tracemalloc.start()
    with pytest.raises(CnnError) as caught:
        arrays.load_weights(str(bomb))
    assert tracemalloc.get_traced_memory()[1] < 2**20
    tracemalloc.stop()
    assert caught.value.message == (f"{bomb}: array 'conv2d_1.weight' would expand from 1019.77 KiB to 1.00 GiB "
                                    "(1,028 times); allowed: at most 100 times for an array over 64.00 MiB "
                                    "(a decompression bomb?)")


def test_a_header_claiming_10_to_the_11_elements_allocates_nothing(tmp_path, net):
    for name, data, option in (
        ("w.npz", zipped([("conv2d_1.weight.npy", npy(npy_header_text((10**11,), "<f8")))]), "--weights"),
        ("x.npy", npy(npy_header_text((10**11,), "<f8")), "--data"),
    ):
        path = write(tmp_path, name, data)
        load = arrays.load_weights if name.endswith(".npz") else arrays.load_data
        tracemalloc.start()
        with pytest.raises(CnnError):
            load(str(path), "float32")
        assert tracemalloc.get_traced_memory()[1] < 2**20
        tracemalloc.stop()
        result = cli("run", net, option, path)
        where = f"{path}: array 'conv2d_1.weight'" if name.endswith(".npz") else str(path)
        refused(result, f"cnncalc: error: {where} declares (100000000000,) float64: 745.06 GiB once loaded; "
                        "allowed: at most 4.00 GiB of arrays per file")


def test_the_limit_counts_every_array_of_the_file(tmp_path, monkeypatch):
    path = write(tmp_path, "w.npz", npz(a=np.zeros(300, np.float32), b=np.zeros(300, np.float32)))
    with pytest.raises(CnnError) as caught:
        arrays.load_weights(str(path), limit=2000)
    assert caught.value.message == (f"{path}: array 'b' declares (300,) float32: 1.17 KiB once loaded; allowed: at most "
                                    "1.95 KiB of arrays per file, and the arrays before it take 1.17 KiB")
    zip64 = (b"PK\x03\x04" + bytes(26) + struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, 1, 1, 2**40, 0)
             + struct.pack("<4sLQL", b"PK\x06\x07", 0, 30, 1) + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, 2**32 - 1, 2**32 - 1, 0))
    with pytest.raises(CnnError) as caught:
        arrays.load_weights(str(write(tmp_path, "zip64.npz", zip64)))
    assert caught.value.message == (f"{tmp_path / 'zip64.npz'} declares a zip directory of 1.00 TiB; allowed: at most 16.00 MiB "
                                    "(about 100,000 arrays)")
    monkeypatch.setattr(arrays, "MAX_MEMBERS", 1)
    with pytest.raises(CnnError) as caught:
        arrays.load_weights(str(path))
    assert caught.value.message == f"{path} holds 2 members; allowed: at most 1 arrays"


DAMAGED = "allowed: an archive as numpy.savez writes it"


@pytest.mark.parametrize("make, message", [
    (lambda: npz(x=np.zeros(100, np.float32))[:300], "{p} is a damaged zip archive (truncated?); allowed: a .npz archive as numpy.savez writes it"),
    (lambda: npz(x=np.zeros(100, np.float32))[:-30], "{p} is a damaged zip archive (truncated?); allowed: a .npz archive as numpy.savez writes it"),
    (lambda: b"", "{p} is empty; allowed: a .npz archive of arrays (numpy.savez writes one)"),
    (bad_crc, "{p}: array 'conv2d_1.weight' is damaged: its CRC-32 does not match its data; " + DAMAGED),
    (encrypted, "{p}: array 'conv2d_1.weight' is encrypted; allowed: an archive without a password (numpy.savez writes one)"),
    (lambda: zipped([("conv2d_1.bias.npy", npy(npy_header_text((2,)), bytes(8)))], zipfile.ZIP_BZIP2),
     "{p}: array 'conv2d_1.bias' is compressed with zip method 12; allowed: stored or deflate (numpy.savez and numpy.savez_compressed)"),
    (lambda: zipped([("conv2d_1.bias.npy", npy(npy_header_text((2,)), bytes(8)))], zipfile.ZIP_LZMA),
     "{p}: array 'conv2d_1.bias' is compressed with zip method 14; allowed: stored or deflate (numpy.savez and numpy.savez_compressed)"),
    (lambda: zipped([("conv2d_1.bias.npy", npy(npy_header_text((10,)), bytes(8)))]),
     "{p}: array 'conv2d_1.bias' is damaged: its header declares (10,) float32 (40 bytes) but the archive says it holds 8; " + DAMAGED),
    (lambda: zipped([("conv2d_1.bias.npy", npy(npy_header_text((2,))))]),
     "{p}: array 'conv2d_1.bias' is damaged: its header declares (2,) float32 (8 bytes) but the archive says it holds 0; " + DAMAGED),
    (lambda: zipped([("conv2d_1.bias.npy", npy(npy_header_text((2,)))[:20])]),
     "{p}: array 'conv2d_1.bias' is truncated inside its .npy header; allowed: a complete .npy array"),
    (lambda: zipped([("notes.txt", b"hi")]), "{p}: member 'notes.txt' is not a .npy array; allowed: only arrays (numpy.savez writes them)"),
    (lambda: zipped([("conv2d_1.bias.npy", b"not an array at all")]), "{p}: array 'conv2d_1.bias' is not a NumPy .npy array (numpy.save writes one)"),
])
def test_damaged_archives_are_bad_input_not_internal_errors(tmp_path, net, make, message):
    path = write(tmp_path, "w.npz", make())
    refused(cli("run", net, "--weights", path), "cnncalc: error: " + message.format(p=path))


@pytest.mark.parametrize("at, reason", [(0, "its data is truncated or corrupt"), (6, "its data is truncated or corrupt"),
                                        (1, "its CRC-32 does not match its data"), (13, "its CRC-32 does not match its data")])
def test_corrupt_deflate_data_is_damage(tmp_path, net, at, reason):
    path = write(tmp_path, "w.npz", corrupt_deflate(at))
    refused(cli("run", net, "--weights", path), f"cnncalc: error: {path}: array 'conv2d_1.bias' is damaged: {reason}; {DAMAGED}")


NOT_REAL = [
    (np.ones((2, 1, 1, 1), np.complex64), "complex values (complex64)"),
    (np.ones((2, 1, 1, 1), np.complex128), "complex values (complex128)"),
    (np.array(["ab", "cd"]).reshape(2, 1, 1, 1), "text values (<U2)"),
    (np.array([b"ab", b"cd"]).reshape(2, 1, 1, 1), "byte-string values (|S2)"),
    (np.array(["2020-01-01"] * 2, "datetime64[D]").reshape(2, 1, 1, 1), "datetime values (datetime64[D])"),
    (np.array([1, 2], "timedelta64[s]").reshape(2, 1, 1, 1), "time-delta values (timedelta64[s])"),
    (np.zeros((2, 1, 1, 1), [("a", "<f4")]), "structured values ([('a', '<f4')])"),
    (np.zeros((2, 1, 1, 1), "V4"), "structured values (|V4)"),
    (np.array([1, None], object).reshape(2, 1, 1, 1), "Python object values (object)"),
]


@pytest.mark.parametrize("value, described", NOT_REAL, ids=lambda v: getattr(v, "dtype", v).__str__())
def test_only_real_number_arrays_are_accepted(tmp_path, net, value, described):
    weights, data = tmp_path / "w.npz", tmp_path / "x.npy"
    np.savez(weights, **{"conv2d_1.weight": value})
    np.save(data, value, allow_pickle=True)  # an object array is pickled: it must never be unpickled
    refused(cli("run", net, "--weights", weights), f"cnncalc: error: {weights}: array 'conv2d_1.weight' holds {described}; {REAL}")
    refused(cli("run", net, "--data", data), f"cnncalc: error: {data} holds {described}; {REAL}")


@pytest.mark.parametrize("value", [np.ones((1, 4, 4), bool), np.ones((1, 4, 4), np.int8), np.ones((1, 4, 4), np.uint64),
                                   np.ones((1, 4, 4), np.float16), np.ones((1, 4, 4), ">f8"),
                                   np.asfortranarray(np.arange(16, dtype=np.float32).reshape(1, 4, 4))])
def test_real_arrays_of_every_kind_load_as_numpy_would(tmp_path, value):
    path = tmp_path / "x.npy"
    np.save(path, value)
    loaded = arrays.load_data(str(path))
    assert loaded.dtype == value.dtype and np.array_equal(loaded, value)
    np.savez_compressed(tmp_path / "w.npz", a=value, b=value[0])
    both = arrays.load_weights(str(tmp_path / "w.npz"), "float64")
    assert both["a"].dtype == np.float64 and np.array_equal(both["a"], value) and both["b"].shape == (4, 4)


def test_1e300_in_float32_is_an_error_at_its_index_not_inf(tmp_path):
    value = np.zeros((1, 4, 4))
    value[0, 2, 3] = -1e300
    path = tmp_path / "x.npy"
    np.save(path, value)
    with pytest.raises(CnnError) as caught:
        arrays.load_data(str(path), "float32")
    assert caught.value.message == (f"{path} holds -1e+300 at index (0, 2, 3), beyond float32's range; "
                                    "allowed: values within ±3.403e+38, or --dtype float64")
    assert arrays.load_data(str(path), "float64")[0, 2, 3] == -1e300
    np.savez(tmp_path / "w.npz", **{"conv2d_1.weight": np.full((2, 1, 1, 1), 1e39)})
    with pytest.raises(CnnError) as caught:
        arrays.load_weights(str(tmp_path / "w.npz"), "float32")
    assert caught.value.message == (f"{tmp_path / 'w.npz'}: array 'conv2d_1.weight' holds 1e+39 at index (0, 0, 0, 0), "
                                    "beyond float32's range; allowed: values within ±3.403e+38, or --dtype float64")


def test_inline_values_convert_with_their_location():
    from cnncalc.errors import Location

    where = Location("net.yaml", 3, 14)
    with pytest.raises(CnnError) as caught:
        arrays.convert(np.asarray([[1.0, 1e300]]), np.float32, "weight 'fc.weight'", where)
    assert (caught.value.location, caught.value.message) == (
        where, "weight 'fc.weight' holds 1e+300 at index (0, 1), beyond float32's range; "
               "allowed: values within ±3.403e+38, or --dtype float64")
    assert arrays.convert(np.asarray([np.inf, 1.0]), "float32", "x").dtype == np.float32  # inf as written is kept


def summary_of(text: str):
    from cnncalc.analysis.summary import analyse
    from cnncalc.source.reading import Source, load_source

    return analyse(load_source(Source(None, text)))


def test_weights_whose_keys_match_nothing_are_an_error_with_a_close_match(tmp_path):
    expected = arrays.weight_keys(summary_of("input 1x4x4 | conv2d 2 k=1 | batchnorm"))
    assert expected == ["conv2d_1.weight", "conv2d_1.bias", "batchnorm_1.weight", "batchnorm_1.bias",
                        "batchnorm_1.running_mean", "batchnorm_1.running_var"]
    given = {"model.conv2d_1.weight": 0, "model.conv2d_1.bias": 0, "bn.num_batches_tracked": 0}
    with pytest.raises(CnnError) as caught:
        arrays.check_weight_keys(given, expected, "w.npz")
    assert caught.value.message == (
        "none of the keys in w.npz is a weight of this network: given 'model.conv2d_1.weight', 'model.conv2d_1.bias'; "
        "expected: 'conv2d_1.weight', 'conv2d_1.bias', 'batchnorm_1.weight', 'batchnorm_1.bias', "
        "'batchnorm_1.running_mean', 'batchnorm_1.running_var' (did you mean 'conv2d_1.weight'?)")
    with pytest.raises(CnnError) as caught:
        arrays.check_weight_keys({}, expected[:2], "w.npz")
    assert caught.value.message == "w.npz holds no arrays; expected: the weights of this network, 'conv2d_1.weight', 'conv2d_1.bias'"
    with pytest.raises(CnnError) as caught:
        arrays.check_weight_keys({"x": 0}, [], "w.npz")
    assert caught.value.message.endswith("expected: none (this network has no weights)")
    arrays.check_weight_keys({"conv2d_1.bias": 0, "stray": 0}, expected, "w.npz")  # one match: run, warn of the rest
    arrays.check_weight_keys({}, [], "w.npz")
    many = [f"layer{i}.weight" for i in range(10)]
    with pytest.raises(CnnError) as caught:
        arrays.check_weight_keys({"zzz": 0}, many, "w.npz")
    assert "'layer5.weight' and 4 more" in caught.value.message


def test_data_npz_with_one_array_is_the_input(tmp_path, net):
    np.savez(tmp_path / "x.npz", input=np.ones((1, 4, 4), np.float32))
    assert cli("run", net, "--data", tmp_path / "x.npz").exit_code == 0
    np.savez(tmp_path / "two.npz", a=np.ones(1), b=np.ones(1))
    refused(cli("run", net, "--data", tmp_path / "two.npz"),
            f"cnncalc: error: {tmp_path / 'two.npz'} holds 2 arrays ('a', 'b'); allowed: one array, the input "
            "(a .npy file as numpy.save writes it)")


def test_weights_and_data_as_special_files_are_refused(tmp_path, net):
    for kind, path in special_files(tmp_path).items():
        if kind == "a named pipe (FIFO)":
            continue  # opening one could block: covered below in a subprocess
        refused(cli("run", net, "--weights", path),
                f"cnncalc: error: {path} is {kind}; allowed: a .npz archive of arrays (numpy.savez writes one)")
        refused(cli("run", net, "--data", path), f"cnncalc: error: {path} is {kind}; allowed: a .npy array (numpy.save writes one)")
    script = "import sys; from cnncalc.cli import main; main(sys.argv[1:], prog_name='cnncalc')"
    fifo = tmp_path / "fifo"
    done = subprocess.run([sys.executable, "-c", script, "run", str(net), "--weights", str(fifo)], capture_output=True,
                          text=True, timeout=30, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert (done.returncode, done.stderr) == (2, f"cnncalc: error: {fifo} is a named pipe (FIFO); "
                                                 "allowed: a .npz archive of arrays (numpy.savez writes one)\n")


def test_good_weights_still_run_and_save_reads_back(tmp_path, net):
    weight = np.arange(2, dtype=np.float32).reshape(2, 1, 1, 1)
    np.savez_compressed(tmp_path / "w.npz", **{"conv2d_1.weight": weight, "conv2d_1.bias": np.zeros(2, np.float32)})
    np.save(tmp_path / "x.npy", np.ones((1, 4, 4), np.float32))
    result = cli("run", net, "--weights", tmp_path / "w.npz", "--data", tmp_path / "x.npy", "--save", tmp_path / "o.npz")
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "o.npz") as saved:
        assert np.array_equal(saved["conv2d_1"][0, :, 0, 0], [0, 1])


def test_an_empty_output_path_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CnnError) as caught:
        files.save_text("", "x")
    assert caught.value.message == "cannot write to an empty path; allowed: a file name"
    assert list(tmp_path.iterdir()) == []


def test_an_interruption_inside_the_archive_leaves_nothing_and_says_only_that(tmp_path, monkeypatch):
    """Ctrl-C landing inside zipfile's open(), after it marked a member as being written
    but before the member's handle exists (CI once hit this): the KeyboardInterrupt comes
    out, not zipfile's "open writing handle" error (exit 3), now or when collected."""
    import gc
    import zipfile

    from cnncalc.forward.arrays import save_outputs

    def interrupted(self, *args, **kwargs):
        self._writing = True  # what _open_to_write does just before it makes the handle
        raise KeyboardInterrupt

    monkeypatch.setattr(zipfile.ZipFile, "_open_to_write", interrupted)
    ignored = []
    monkeypatch.setattr(sys, "unraisablehook", ignored.append)
    with pytest.raises(KeyboardInterrupt):
        save_outputs(str(tmp_path / "out.npz"), {"a": np.zeros(3)})
    gc.collect()
    assert list(tmp_path.iterdir()) == [] and ignored == []
