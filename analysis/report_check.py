"""Check an HTML report as a reader sees it: every image present, decodable, and drawn by a real browser.

:func:`check_images` reads the page's ``<img>`` sources and opens each file (no browser
needed). :func:`browser_check` loads the page in headless Chromium (Debian's
``chromium-headless-shell`` or ``chromium``), asks the browser which images it drew (their
natural sizes; 0 means broken) and can save a screenshot of the page.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

__all__ = ["check_images", "find_browser", "browser_check", "BROWSERS"]

#: headless browsers looked for on PATH, in this order
BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome", "headless_shell")


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs).get("src") or "")


def check_images(html_path: str | os.PathLike) -> dict[str, Any]:
    """The page's images: ``{"images": [{"src", "exists", "width", "height"}], "broken": [src...]}``.

    Each image file is opened with matplotlib (PNG); a missing, empty or undecodable file is broken.
    """
    from matplotlib.image import imread

    html_path = Path(html_path)
    if not html_path.is_file():
        raise ValueError(f"{html_path} is not a file: give the report.html of a study")
    parser = _Images()
    parser.feed(html_path.read_text())
    images, broken = [], []
    for src in parser.sources:
        path = html_path.parent / src
        entry = {"src": src, "exists": path.is_file(), "width": 0, "height": 0}
        try:
            pixels = imread(path)
            entry["height"], entry["width"] = int(pixels.shape[0]), int(pixels.shape[1])
        except (OSError, ValueError, SyntaxError):
            pass
        images.append(entry)
        if not entry["width"]:
            broken.append(src)
    return {"images": images, "broken": broken}


def find_browser() -> str | None:
    """The first headless browser of :data:`BROWSERS` on PATH (None if there is none)."""
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


_PROBE = ("<script>window.addEventListener('load',function(){document.body.setAttribute('data-drawn',"
          "JSON.stringify(Array.from(document.images).map(function(i){return [i.getAttribute('src'),"
          "i.naturalWidth,i.naturalHeight]})));document.body.setAttribute('data-height',"
          "String(document.documentElement.scrollHeight))});</script>")

#: the tallest screenshot taken (pixels): Chromium's limit for one capture is 16,384
MAX_SCREENSHOT_HEIGHT = 16_384


def browser_check(html_path: str | os.PathLike, screenshot: str | os.PathLike | None = None,
                  browser: str | None = None, width: int = 1280, height: int | None = None,
                  timeout: float = 120.0) -> dict[str, Any]:
    """What headless Chromium draws of the page: ``{"browser", "drawn": [[src, w, h]...], "broken": [src...],
    "page_height": px}``.

    ``screenshot``: also save the page as a PNG ``width`` pixels wide there, ``height`` pixels tall (default:
    the whole page as laid out at that width, at most :data:`MAX_SCREENSHOT_HEIGHT`).
    Raises a ValueError naming the browsers looked for when none is installed.
    """
    html_path = Path(html_path).resolve()
    exe = browser or find_browser()
    if exe is None:
        raise ValueError(f"no headless browser found (looked for {', '.join(BROWSERS)}); on Debian: "
                         "apt-get install chromium-headless-shell")
    flags = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
             "--virtual-time-budget=10000"]
    with tempfile.NamedTemporaryFile("w", suffix=".html", dir=html_path.parent, delete=False) as probe:
        probe.write(html_path.read_text().replace("</body>", _PROBE + "</body>"))
    try:
        dom = _run(flags + [f"--window-size={width},800", "--dump-dom", Path(probe.name).as_uri()], timeout)
    finally:
        os.unlink(probe.name)
    match = re.search(r'data-drawn="([^"]*)"', dom)
    if match is None:
        raise ValueError(f"{exe} loaded {html_path} but the page reported no images (did it load?)")
    drawn = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    page_height = re.search(r'data-height="(\d+)"', dom)
    result = {"browser": exe, "drawn": drawn, "broken": [src for src, w, h in drawn if not w or not h],
              "page_height": int(page_height.group(1)) if page_height else None}
    if screenshot is not None:
        if height is None:
            height = min(result["page_height"] or 3000, MAX_SCREENSHOT_HEIGHT)
        screenshot = Path(screenshot).resolve()
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        _run(flags + ["--hide-scrollbars", f"--window-size={width},{height}", f"--screenshot={screenshot}",
                      html_path.as_uri()], timeout)
        if not screenshot.is_file():
            raise ValueError(f"{exe} wrote no screenshot to {screenshot}")
        result["screenshot"] = str(screenshot)
    return result


def _run(command: list[str], timeout: float) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ValueError(f"{command[0]} did not finish within {timeout:.0f} s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise ValueError(f"{command[0]} failed (exit {done.returncode}): {last}")
    return done.stdout
