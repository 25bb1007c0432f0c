"""`cnncalc report`: the page opened in a real browser (headless Chromium, which `.ci/run`
installs): the DOM after the page's script ran holds the layer table, sorted as the address
asks, with totals equal to `summary --format json`'s, the graph and funnel SVGs, and a
screenshot at a phone's width is not blank. Without a browser the browser test is skipped,
saying why; the page's own checks (self-contained, escaped) run everywhere."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import numpy
import pytest
from click.testing import CliRunner

import cnncalc
from cnncalc.cli import main
from cnncalc.output.report import Section, report_html

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "tiny-resnet.yaml"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class Page(HTMLParser):
    """What the tests read from a page: the layer table's rows and totals, the SVGs, the
    sorted column, every address the page would fetch."""

    def __init__(self, html: str):
        super().__init__()
        self.rows: list[list[str]] = []  # the layer table's body, cell texts
        self.totals: dict[str, int] = {}
        self.svgs = 0
        self.sorted: dict[str, str] = {}
        self.fetches: list[str] = []
        self.where: list[str] = []
        self.in_layers = False
        self.cell: str | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.in_layers = attrs.get("id") == "layers-table"
        if tag in ("thead", "tbody", "tfoot"):
            self.where.append(tag)
        if tag == "svg":
            self.svgs += 1
        for key in ("src", "href"):
            if key in attrs and not attrs[key].startswith("#"):
                self.fetches.append(attrs[key])
        if tag == "link" or (tag == "script" and "src" in attrs):
            self.fetches.append(tag)
        if not self.in_layers:
            return
        if tag == "tr" and self.where and self.where[-1] == "tbody":
            self.rows.append([])
        if tag in ("td", "th") and self.where and self.where[-1] == "tbody":
            self.cell = ""
        if tag == "td" and "data-value" in attrs:
            self.totals[attrs["data-column"]] = int(attrs["data-value"])
        if tag == "th" and "aria-sort" in attrs:
            self.sorted[attrs["data-column"]] = attrs["aria-sort"]

    def handle_endtag(self, tag):
        if tag in ("thead", "tbody", "tfoot") and self.where:
            self.where.pop()
        if tag == "table":
            self.in_layers = False
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(self.cell)
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def run_browser(executable: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    command = [executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--no-first-run", f"--user-data-dir={profile}", "--hide-scrollbars", *args]
    return subprocess.run(command, capture_output=True, timeout=120, check=True)


def png_pixels(data: bytes) -> numpy.ndarray:
    """The pixels (height, width, RGB) of an 8-bit RGB or RGBA PNG, as Chromium writes it."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks, header = 8, [], None
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        position += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    step = 3 if colour == 2 else 4
    raw = numpy.frombuffer(zlib.decompress(b"".join(chunks)), numpy.uint8).reshape(height, width * step + 1)
    out = numpy.zeros((height, width * step), numpy.uint8)
    previous = numpy.zeros(width * step, numpy.int64)
    for y in range(height):  # undo each row's filter (PNG specification, section 9)
        kind, line = raw[y, 0], raw[y, 1:].astype(numpy.int64)
        if kind == 1:  # Sub: a running sum along each channel
            line = numpy.cumsum(line.reshape(width, step), axis=0).reshape(-1) & 255
        elif kind == 2:  # Up
            line = (line + previous) & 255
        elif kind in (3, 4):  # Average, Paeth: each pixel needs the one decoded before it
            values, above = line.tolist(), previous.tolist()
            for i in range(len(values)):
                left = values[i - step] if i >= step else 0
                if kind == 3:
                    values[i] = (values[i] + (left + above[i]) // 2) & 255
                    continue
                corner = above[i - step] if i >= step else 0
                guess = left + above[i] - corner
                pa, pb, pc = abs(guess - left), abs(guess - above[i]), abs(guess - corner)
                near = left if pa <= pb and pa <= pc else above[i] if pb <= pc else corner
                values[i] = (values[i] + near) & 255
            line = numpy.array(values, numpy.int64)
        out[y] = line
        previous = line
    return out.reshape(height, width, step)[:, :, :3]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    page = folder / "tiny resnet.html"
    result = CliRunner().invoke(main, ["report", str(EXAMPLE), "-o", str(page)])
    assert result.exit_code == 0, result.output
    return page


def test_report_in_a_browser(report, tmp_path):
    executable = browser()
    if executable is None:
        reason = "no Chromium found (apt-get install chromium; .ci/run installs it)"
        print(f"skipped: {reason}")
        pytest.skip(reason)
    address = report.as_uri() + "#sort=params-desc"
    shot = tmp_path / "shot.png"  # one run: the DOM after the script, and a screenshot at a phone's width
    dom = run_browser(executable, tmp_path / "profile", "--window-size=390,1200", f"--screenshot={shot}",
                      "--dump-dom", address).stdout.decode()
    page = Page(dom)
    expected = json.loads(CliRunner().invoke(main, ["summary", str(EXAMPLE), "--format", "json"]).stdout)
    totals = expected["totals"]
    assert page.totals == {
        "params": totals["params"], "trainable_params": totals["trainable_params"],
        "non_trainable_params": totals["non_trainable_params"], "macs": totals["macs"], "flops": totals["flops"],
        "memory_bytes": totals["activation_bytes"],
    }
    # The script ran: sorted by params, largest first (ties in the file's order).
    assert page.sorted == {"params": "descending"}
    layers = expected["layers"]
    by_params = sorted(range(len(layers)), key=lambda i: (-layers[i]["params"], i))
    assert [row[0] for row in page.rows] == [layers[i]["name"] for i in by_params]
    assert [row[3] for row in page.rows] == [f"{layers[i]['params']:,}" for i in by_params]
    assert page.svgs == 3  # the graph, the funnel and the training step's memory against the batch
    assert "b2_proj: along H stride 2 skips 1 of every 2 input rows" in dom  # the warnings

    pixels = png_pixels(shot.read_bytes())
    assert pixels.shape == (1200, 390, 3)
    inked = (pixels.min(axis=2) < 200).mean()
    assert inked > 0.02, f"the page is drawn, not blank ({inked:.1%} of the pixels inked)"
    assert len(numpy.unique(pixels.reshape(-1, 3), axis=0)) > 20  # text, cards, table: many colours


def test_report_is_self_contained_and_sections_can_be_added():
    net = cnncalc.load(EXAMPLE)
    html = report_html(net, cnncalc.summary(net), [Section("extra", "Training memory", "<p>from elsewhere</p>")])
    page = Page(html)
    assert page.fetches == [], "nothing is fetched: styles, script and pictures are inline"
    assert page.svgs == 2 and len(page.rows) == len(net.nodes)
    assert '<a href="#extra">Training memory</a>' in html and '<section id="extra">' in html
    assert html.index('id="field"') < html.index('id="extra"')


def test_report_escapes_names_and_refuses_to_overwrite_its_network(tmp_path):
    net = cnncalc.loads('input: [1, 8, 8]\nlayers:\n  - conv2d: {out: 4, kernel: 3}\n    name: "<b>&x"\n  - relu\n')
    html = report_html(net, cnncalc.summary(net))
    assert "<b>&x" not in html and "&lt;b&gt;&amp;x" in html
    source = tmp_path / "net.dsl"
    source.write_text("input 1x8x8 | conv2d 4 k=3\n")
    result = CliRunner().invoke(main, ["report", str(source), "-o", str(source)])
    assert result.exit_code == 2 and source.read_text() == "input 1x8x8 | conv2d 4 k=3\n"


def test_report_of_a_network_with_two_inputs_says_why_it_has_no_funnel(tmp_path):
    path = Path(EXAMPLE).parent / "siamese.yaml"
    target = tmp_path / "siamese.html"
    result = CliRunner().invoke(main, ["report", str(path), "-o", str(target)])
    assert result.exit_code == 0, result.output
    html = target.read_text()
    assert Page(html).svgs == 2 and "The funnel follows one input; this network has 2." in html
    assert os.listdir(tmp_path) == ["siamese.html"]
