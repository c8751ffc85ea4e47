"""The course site (`make site`) in a real browser: headless Chromium, driven through chromedriver's
WebDriver protocol (plain HTTP, no client library). `make test` installs Debian's chromium and
chromium-driver when they are missing (`make browser`); elsewhere the test is skipped, except on CI.

On the index and three notebook pages: every link resolves, every image loads, the mathematics is
rendered, nothing is fetched from the internet. Screenshots go to build/site-screenshots/."""

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "build" / "site"
SHOTS = ROOT / "build" / "site-screenshots"

# In the page: what a person would see, and what the browser made of links, images and maths.
INSPECT = """
const done = arguments[arguments.length - 1];
const report = () => {
  const hide = document.head.appendChild(document.createElement("style"));
  hide.textContent = "code, pre { display: none !important; }";  // code may print a $ on purpose
  const text = [...document.querySelectorAll(".jp-MarkdownCell, main > h1, main > p, table")]
               .map(e => e.innerText).join("\\n");
  hide.remove();
  done({
  links: [...document.querySelectorAll("a[href]")].map(a => a.href),
  images: [...document.images].map(i => ({src: i.src.slice(0, 80), ok: i.complete && i.naturalWidth > 0})),
  loaded: performance.getEntriesByType("resource").map(r => r.name),
  nbval: document.body.innerText.includes("NBVAL_"),
  folded: [...document.querySelectorAll("details.course-setup")].map(d => !d.open),
  exercises: [...document.querySelectorAll(".celltag_course-exercise")]
             .filter(e => e.offsetHeight > 0).length,
  math: document.querySelectorAll(".MathJax, .MathJax_Display").length,
  text: text,
});
};
if (window.MathJax) MathJax.Hub.Queue(report); else report();
"""


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        self.ids.update(value for name, value in attrs if name == "id")


def _ids(path: Path) -> set[str]:
    parser = _Ids()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.ids


class Browser:
    """The few WebDriver calls the test needs."""

    def __init__(self, url: str):
        self.url = url
        caps = {"browserName": "chrome", "goog:chromeOptions": {
            "binary": shutil.which("chromium"),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1400", "--hide-scrollbars"]}}
        self.session = self.call("POST", "/session", {"capabilities": {"alwaysMatch": caps}})["sessionId"]
        self.call("POST", f"/session/{self.session}/timeouts", {"script": 30_000})

    def call(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data, {"Content-Type": "application/json"},
                                         method=method)
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)["value"]

    def open(self, page: Path) -> dict:
        self.call("POST", f"/session/{self.session}/url", {"url": page.as_uri()})
        return self.call("POST", f"/session/{self.session}/execute/async", {"script": INSPECT, "args": []})

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self.call("GET", f"/session/{self.session}/screenshot")))

    def scroll_to(self, selector: str) -> None:
        self.call("POST", f"/session/{self.session}/execute/sync",
                  {"script": "document.querySelector(arguments[0]).scrollIntoView()", "args": [selector]})

    def quit(self) -> None:
        self.call("DELETE", f"/session/{self.session}")


@pytest.fixture(scope="module")
def site():
    """`make site`, once for the module: the committed notebooks as pages in build/site/."""
    subprocess.run([sys.executable, ROOT / "tools" / "build_site.py"], check=True, capture_output=True)
    return SITE


@pytest.fixture(scope="module")
def browser(site):
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        message = "Chromium and chromedriver are missing: `make browser` installs them (Debian)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    driver = subprocess.Popen(["chromedriver", f"--port={port}"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(url + "/status", timeout=1)
            break
        except OSError:
            time.sleep(0.05)
    session = Browser(url)
    yield session
    session.quit()
    driver.terminate()
    driver.wait(10)


def test_every_notebook_is_a_page_and_nothing_comes_from_the_internet(site):
    from course_utils.exercises import EXERCISES

    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    index = (site / "index.html").read_text(encoding="utf-8")
    for notebook in notebooks:
        page = (site / f"{notebook.stem}.html").read_text(encoding="utf-8")
        assert page.count('<details class="course-setup">') == 1 and "<summary>Setup cell" in page
        assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"(https?:)?//", page), notebook.name
        count = sum(e.notebook == notebook.name[:2] for e in EXERCISES.values())
        assert f'<a href="{notebook.stem}.html">' in index and f"<td>{count}</td></tr>" in index
    assert (site / "mathjax" / "MathJax.js").is_file()


def _has_maths(notebook: Path) -> bool:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    markdown = ("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return any(re.search(r"\$[^$\s`][^$`]*\$", text) for text in markdown)


def _pages() -> list[str]:
    """The index, the first and the last notebook, and the one with the most mathematics."""
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    most_maths = max(notebooks, key=lambda s: (ROOT / "notebooks" / f"{s}.ipynb").read_text().count("$"))
    assert _has_maths(ROOT / "notebooks" / f"{most_maths}.ipynb")
    return ["index"] + sorted({notebooks[0], most_maths, notebooks[-1]})


@pytest.mark.parametrize("name", _pages())
def test_page_in_a_browser(browser, name):
    page = SITE / f"{name}.html"
    seen = browser.open(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.screenshot(SHOTS / f"{name}.png")

    assert [r for r in seen["loaded"] if not r.startswith("file:")] == [], "fetched from the internet"
    assert all(i["ok"] for i in seen["images"]), [i["src"] for i in seen["images"] if not i["ok"]]
    for link in seen["links"]:
        target = urlparse(link)
        if target.scheme == "file":
            path = Path(unquote(target.path))
            assert path.is_file(), f"{name}: broken link {link}"
            ids = _ids(path) if target.fragment else set()  # nbconvert writes ids %-encoded
            assert not ids or {target.fragment, unquote(target.fragment)} & ids, f"no anchor {link}"
        else:
            assert target.scheme == "https" and target.netloc, f"{name}: odd link {link}"
    if name == "index":
        notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
        assert {f"{p.stem}.html" for p in notebooks} <= {Path(urlparse(u).path).name for u in seen["links"]}
        return
    pages = {Path(urlparse(u).path).name for u in seen["links"] if urlparse(u).scheme == "file"}
    assert "index.html" in pages and len(pages - {"index.html", page.name}) >= 1, "previous / next links"
    assert any(u.startswith("https://colab.research.google.com/github/") for u in seen["links"])
    assert seen["images"], "a notebook page without its figures"
    assert seen["folded"] == [True], "the setup cell is not folded"
    cells = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text(encoding="utf-8"))["cells"]
    assert seen["exercises"] == sum("".join(c["source"]).startswith("# YOUR TURN: ") for c in cells) > 0
    assert not seen["nbval"], "an NBVAL marker on the page"
    if _has_maths(ROOT / "notebooks" / f"{name}.ipynb"):
        assert seen["math"] > 0, "no mathematics rendered"
        browser.scroll_to(".MathJax_Display, .MathJax")
        browser.screenshot(SHOTS / f"{name}-maths.png")
    for raw in ("$", "\\frac", "\\mathcal", "\\lambda", "Math Processing Error"):
        assert raw not in seen["text"], f"{name}: raw TeX {raw!r} left in the text"
