"""`cnnzoo report RUN`: a self-contained report.html, checked as text and in headless Chromium."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnzoo.cli import main
from cnnzoo.report.html import MISTAKES
from cnnzoo.report.runs import read_predictions, read_run

from .conftest import one_error_line

SECTIONS = ("summary", "configuration", "curves", "confusion", "per-class", "mistakes", "layers")


class Page(HTMLParser):
    """The parts of a page the tests look at: section ids, images, links, scripts, text per section."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.sections: dict[str, list[str]] = {}
        self.imgs: list[dict[str, str]] = []
        self.hrefs: list[str] = []
        self.tags: set[str] = set()
        self.pre: list[str] = []
        self._section: str | None = None
        self._in_pre = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        if tag == "section":
            self._section = a.get("id")
            self.sections[self._section] = []
        if tag == "img":
            self.imgs.append({**a, "section": self._section})
        if tag == "a":
            self.hrefs.append(a.get("href", ""))
        if tag == "pre":
            self._in_pre = True
            self.pre.append("")

    def handle_endtag(self, tag):
        if tag == "pre":
            self._in_pre = False

    def handle_data(self, data):
        if self._in_pre:
            self.pre[-1] += data
        if self._section and data.strip():
            self.sections[self._section].append(data.strip())


@pytest.fixture(scope="module")
def report(cnn_run: Path) -> Path:
    assert main(["report", str(cnn_run)]) == 0
    return cnn_run / "report.html"


def test_report_has_every_section_and_needs_nothing_outside_the_file(report):
    text = report.read_text()
    page = Page(text)
    assert list(page.sections) == list(SECTIONS)
    assert not page.tags & {"script", "link", "iframe", "object", "embed"}
    assert page.hrefs and all(h.startswith("#") for h in page.hrefs)  # convnet has no paper to link to
    for im in page.imgs:  # every picture inline, and a real PNG
        assert im["src"].startswith("data:image/png;base64,")
        with Image.open(io.BytesIO(base64.b64decode(im["src"].split(",", 1)[1]))) as png:
            assert png.format == "PNG"
    assert "default-src 'none'" in text


def test_report_numbers_come_from_the_run(report, cnn_run):
    page = Page(report.read_text())
    s = json.loads((cnn_run / "summary.json").read_text())
    summary = " ".join(page.sections["summary"])
    assert f"{100 * s['test_acc']:.2f}%" in summary and f"{s['params']:,}" in summary
    # the configuration shown is the run's own config.yaml, verbatim
    assert page.pre == [(cnn_run / "config.yaml").read_text()]
    per_class = page.sections["per-class"]
    for name, acc in s["per_class_acc"].items():
        i = per_class.index(name)
        assert f"{100 * acc:.2f}%" in per_class[i:i + 5]
    layers = " ".join(page.sections["layers"])
    assert "features.0.conv" in layers and "classifier" in layers and f"{s['params']:,} parameters" in layers


def test_mistakes_are_the_most_confident_wrong_predictions_with_their_images(report, cnn_run):
    page = Page(report.read_text())
    preds = read_predictions(read_run(cnn_run))
    wrong = (preds.preds != preds.targets).nonzero().flatten()
    assert len(wrong) > 0, "the fixture run should make mistakes"
    shown = [im for im in page.imgs if im["section"] == "mistakes"]
    assert len(shown) == min(MISTAKES, len(wrong))
    idx = [int(re.fullmatch(r"test image (\d+)", im["alt"]).group(1)) for im in shown]
    assert all(preds.preds[i] != preds.targets[i] for i in idx)
    confidences = [float(preds.probs[i]) for i in idx]
    assert confidences == sorted(confidences, reverse=True)
    assert min(confidences) >= sorted(preds.probs[wrong].tolist(), reverse=True)[len(idx) - 1]
    # the picture is the test image itself (28x28 grey), rebuilt from the run's dataset and seed
    from cnnzoo.report.runs import tested_split

    split, _ = tested_split(read_run(cnn_run))
    im = shown[0]
    with Image.open(io.BytesIO(base64.b64decode(im["src"].split(",", 1)[1]))) as png:
        assert png.size == (28, 28) and png.mode == "L"
        assert np.array_equal(np.asarray(png), split.images[idx[0]][0].numpy())


def test_report_without_the_dataset_still_lists_the_mistakes(cnn_run, tmp_path, capsys):
    run = tmp_path / "moved"
    shutil.copytree(cnn_run, run)
    cfg = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(re.sub(r"data_dir: .*", f"data_dir: {tmp_path / 'gone'}", cfg))
    assert main(["report", str(run), "--out", str(tmp_path / "r.html")]) == 0
    assert f"wrote {tmp_path / 'r.html'}" in capsys.readouterr().out
    page = Page((tmp_path / "r.html").read_text())
    mistakes = " ".join(page.sections["mistakes"])
    assert "could not be loaded" in mistakes and "--data-dir" in mistakes
    assert not [im for im in page.imgs if im["section"] == "mistakes"]
    assert len([im for im in page.imgs if im["section"] == "confusion"]) == 1


def test_report_errors_are_one_line(cnn_run, tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "not a cnnzoo run directory" in one_error_line(capsys.readouterr().err)
    unfinished = tmp_path / "unfinished"
    shutil.copytree(cnn_run, unfinished)
    (unfinished / "summary.json").unlink()
    assert main(["report", str(unfinished)]) == 2
    assert "has not finished" in one_error_line(capsys.readouterr().err)


# --------------------------------------------------------------------------------------------------
# In a real browser


def chromium() -> str | None:
    return shutil.which("chromium") or (shutil.which("/usr/bin/chromium"))


needs_chromium = pytest.mark.skipif(chromium() is None, reason="needs Debian's chromium package "
                                    "(apt-get install chromium); .ci/run installs it where it can")


def browse(page: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Open ``page`` in headless Chromium with console logging on stderr."""
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args, page.resolve().as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def console_messages(stderr: str) -> list[str]:
    """What the page said on the browser console (Chromium logs each message as a CONSOLE line)."""
    return [line for line in stderr.splitlines() if "CONSOLE" in line]


@needs_chromium
def test_console_check_catches_a_page_that_reaches_outside(tmp_path):
    # The check below must be able to fail: a page like ours that loads one external image.
    bad = tmp_path / "bad.html"
    from cnnzoo.report.html import page

    bad.write_text(page("bad", [("s", "S", '<img src="http://127.0.0.1:9/x.png" alt="x">')]))
    proc = browse(bad, tmp_path, "--dump-dom")
    assert any("x.png" in m for m in console_messages(proc.stderr)), proc.stderr[-2000:]


@needs_chromium
def test_report_renders_in_chromium_without_console_errors(report, tmp_path):
    shot = tmp_path / "shot.png"
    proc = browse(report, tmp_path, "--screenshot=" + str(shot), "--window-size=1200,2000")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert console_messages(proc.stderr) == []
    with Image.open(shot) as im:
        assert im.size == (1200, 2000)
        grey = im.convert("L")
        lo, hi = grey.getextrema()
        assert hi - lo > 100  # not a blank page
        # a good share of the page is drawn on (text, tables, plots), not just a heading
        dark = sum(grey.histogram()[:200])
        assert dark > 0.02 * 1200 * 2000
    dom = browse(report, tmp_path, "--dump-dom")
    assert console_messages(dom.stderr) == []
    page = Page(dom.stdout)
    assert list(page.sections) == list(SECTIONS)
    assert len(page.imgs) >= 3


def test_report_shows_the_models_block_diagram_inline(report):
    text = report.read_text()
    start = text.index('<section id="layers">')
    layers = text[start:text.index("</section>", start)]
    assert layers.count("<svg ") == 1 and "cnnzoo draw convnet --input 1,28,28" in layers
    page = Page(text)
    words = page.sections["layers"]
    # the diagram's steps and shapes, as text in the page
    assert "3×3 conv, 32 · BN · ReLU" in words and "28×28×32" in words and "10 class scores" in words
