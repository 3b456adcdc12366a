"""Check the built book as a reader's browser shows it: headless Chromium, offline.

Every page of ``book/_build/html`` is opened over a local HTTP server on 127.0.0.1; any request to
another host is blocked and reported (the book must read offline). After MathJax has finished
typesetting, a page fails when it shows

* raw TeX: a ``.math`` element MathJax did not typeset, or ``\\(``, ``\\[``, ``$$``, ``\\begin{`` or
  ``$…\\macro…$`` in visible text outside code;
* a MathJax error (MathJax 3 ``mjx-merror``, MathJax 2 ``.MathJax_Error``, "Math input error") or an
  undefined macro (MathJax 3's noundefined package draws it in red);
* a raw Unicode accent in a formula's TeX (a combining mark, or a letter such as ū that carries one):
  MathJax drops or misplaces it, so ``S̃_r`` shows as S_r where ``\tilde S_r`` was meant;
* a broken image (an ``<img>`` with ``naturalWidth`` 0 once loaded);
* an unresolved reference: Sphinx renders a missing target as an ``.xref`` element outside any link
  (``{prf:ref}``, ``{eq}``, ``[](page.md)``) and a missing number as "??";
* a link to a page of the book that was not built, a failed request or an uncaught script error.

Run directly: ``python tests_browser/rendered.py [book/_build/html]`` prints the problems per page.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import sys
import threading
import urllib.parse
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = os.environ.get("NTKCHECK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SKIP_DIRS = {"_static", "_sources", "_images", "reports", "_sphinx_design_static"}
PAGE_TIMEOUT_MS = 90_000

# Runs in the page once it has loaded; returns a list of problems (strings).
CHECK_JS = r"""
async () => {
  const problems = [];
  const say = (kind, what) => problems.push(kind + ": " + String(what).replace(/\s+/g, " ").trim().slice(0, 160));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;                          // MathJax 3: initial typesetting done
  } else if (window.MathJax && MathJax.Hub && MathJax.Hub.Queue) {
    await new Promise(done => MathJax.Hub.Queue(done));    // MathJax 2
  }
  // images: load lazy ones now, wait for each to settle
  const imgs = Array.from(document.images);
  await Promise.all(imgs.map(img => {
    img.loading = "eager";
    if (img.complete) return null;
    return new Promise(done => {
      img.addEventListener("load", done, {once: true});
      img.addEventListener("error", done, {once: true});
      setTimeout(done, 20000);
    });
  }));
  for (const img of imgs) {
    if (!img.complete || img.naturalWidth === 0) say("broken image", img.getAttribute("src"));
  }
  // math
  const maths = document.querySelectorAll(".math");
  const mj2 = !!(window.MathJax && MathJax.Hub);
  const loaded = mj2 || !!(window.MathJax && MathJax.startup);  // window.MathJax alone is only the config
  if (maths.length && !loaded) say("MathJax not loaded", maths.length + " formulas left as TeX");
  if (!mj2) {
    for (const m of maths) {
      if (!m.querySelector("mjx-container")) say("raw TeX (formula not typeset)", m.textContent);
    }
  }
  for (const e of document.querySelectorAll("mjx-merror, .MathJax_Error")) {
    say("MathJax error", (e.getAttribute("data-mjx-error") || "") + " in " +
        ((e.closest("mjx-container") || e).parentElement || e).textContent);
  }
  for (const e of document.querySelectorAll('mjx-container [style*="color: red"]')) {
    say("undefined TeX macro", e.textContent);
  }
  if (window.MathJax && MathJax.startup && MathJax.startup.document) {   // MathJax 3: each formula's TeX
    for (const item of MathJax.startup.document.math) {
      const tex = String(item.math || "");
      // NFD splits ū into u + U+0304; U+0338 (the slash of ≠, ≰) is not an accent
      if (/\p{M}/u.test(tex.normalize("NFD").replace(/\u0338/g, ""))) say("Unicode accent in TeX", tex);
    }
  }
  // visible text outside code, formulas and scripts
  const skip = "pre, code, kbd, samp, script, style, textarea, noscript, mjx-container, .MathJax_Preview, .MathJax, .MathJax_Display";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const chunks = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const p = n.parentElement;
    if (p && !p.closest(skip)) chunks.push(n.nodeValue);
  }
  const text = chunks.join("");
  if (/Math input error|Math Processing Error/.test(text)) say("MathJax error", "message in the page text");
  const raw = [/\\\(/, /\\\[/, /\$\$/, /\\begin\{/, /\$[^$\n]*\\[A-Za-z]+[^$\n]*\$/];
  for (const re of raw) {
    const m = text.match(re);
    if (m) {
      const at = m.index;
      say("raw TeX", text.slice(Math.max(0, at - 40), at + 60));
    }
  }
  // references
  for (const x of document.querySelectorAll(".xref")) {
    if (!x.closest("a")) say("unresolved reference", x.className + " " + x.textContent);
  }
  const qq = text.match(/\?\?/);
  if (qq) say("unresolved reference", "'??' in: " + text.slice(Math.max(0, qq.index - 60), qq.index + 20));
  // an SVG <a> has an SVGAnimatedString as .href: resolve its attribute like an HTML link
  const links = Array.from(document.querySelectorAll("a[href]")).map(a =>
    typeof a.href === "string" ? a.href : new URL(a.getAttribute("href"), document.baseURI).href);
  return {problems, links, formulas: maths.length};
}
"""


def book_dir() -> Path:
    """The book's source folder (holds _toc.yml and _build/html); NTKCHECK_BOOK_DIR overrides."""
    env = os.environ.get("NTKCHECK_BOOK_DIR")
    return Path(env).resolve() if env else Path(__file__).resolve().parent.parent / "book"


def html_dir() -> Path:
    return book_dir() / "_build" / "html"


REDIRECT = re.compile(r'^\s*<meta http-equiv="Refresh" content="0; url=([^"]+)"\s*/?>\s*$', re.I)


def redirect_target(path: Path) -> str | None:
    """The target of a page that is only a meta-refresh redirect (index.html -> intro.html), else None."""
    m = REDIRECT.match(path.read_text(errors="replace")[:1000]) if path.stat().st_size < 1000 else None
    return m.group(1) if m else None


def pages(root: Path) -> list[str]:
    """Every built HTML page, as a path relative to ``root`` (static assets, sources and redirects excluded)."""
    if not root.is_dir():
        return []
    out = []
    for p in sorted(root.rglob("*.html")):
        rel = p.relative_to(root)
        if rel.parts[0] not in SKIP_DIRS and redirect_target(p) is None:
            out.append(rel.as_posix())
    return out


def toc_files(book: Path) -> list[str]:
    """Every file named in _toc.yml (root, parts, chapters, sections), without extension."""
    import yaml

    toc = yaml.safe_load((book / "_toc.yml").read_text())
    found = []

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                found.append(str(node["file"]))
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key, []) or []:
                    walk(child)

    found.append(str(toc["root"]))
    walk(toc)
    return [re.sub(r"\.(md|ipynb|rst)$", "", f) for f in found]


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves ``directory``; a file present in ``overlay`` is served instead of the built one."""

    overlay: Path | None = None

    def translate_path(self, path):
        built = super().translate_path(path)
        if self.overlay is not None:
            rel = Path(built).relative_to(self.directory)
            alt = self.overlay / rel
            if alt.is_file():
                return str(alt)
        return built

    def log_message(self, *args):  # keep test output quiet
        pass


@contextmanager
def serve(root: Path, overlay: Path | None = None):
    """An HTTP server for ``root`` on 127.0.0.1, on a free port; yields its base URL."""
    handler = type("Handler", (_Handler,), {"overlay": overlay})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def browser():
    """Headless Debian Chromium driven by playwright (never a browser that playwright downloads)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"no Chromium at {CHROMIUM}: apt-get install -y chromium")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class Checker:
    """Opens pages of one served site in one browser context and reports their problems."""

    def __init__(self, browser, base: str, root: Path, overlay: Path | None = None):
        self.base, self.roots = base, [root] + ([overlay] if overlay is not None else [])
        self.context = browser.new_context(viewport={"width": 1280, "height": 1000})
        self.context.route("**/*", self._route)
        self._events: list[str] = []

    def _route(self, route):
        url = route.request.url
        if url.startswith(self.base) or url.startswith("data:") or url.startswith("blob:"):
            route.continue_()
        else:
            self._events.append(f"external request (blocked, the book must read offline): {url}")
            route.abort()

    def close(self):
        self.context.close()

    def check(self, rel: str, screenshot: Path | None = None) -> tuple[list[str], int]:
        """Problems of the page ``rel`` and its number of formulas; optionally saves a screenshot."""
        self._events = []
        page = self.context.new_page()
        page.on("pageerror", lambda e: self._events.append(f"script error: {e}"))
        page.on("response", lambda r: r.status >= 400 and not r.url.endswith("/favicon.ico")
                and self._events.append(f"HTTP {r.status}: {r.url}"))
        page.on("requestfailed", lambda r: r.url.startswith(self.base) and not r.url.endswith("/favicon.ico")
                and self._events.append(f"request failed: {r.url} ({r.failure})"))
        try:
            page.goto(self.base + rel, wait_until="load", timeout=PAGE_TIMEOUT_MS)
            result = page.evaluate(CHECK_JS)
            problems = list(result["problems"])
            problems += self._missing_pages(result["links"])
            if screenshot is not None:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                height = page.evaluate("document.documentElement.scrollHeight")
                page.screenshot(path=str(screenshot), full_page=True,
                                clip={"x": 0, "y": 0, "width": 1280, "height": min(height, 4000)})
            return problems + self._events, result["formulas"]
        finally:
            page.close()

    def _missing_pages(self, links: list[str]) -> list[str]:
        out = []
        for href in sorted(set(links)):
            if not href.startswith(self.base):
                continue
            path = urllib.parse.unquote(urllib.parse.urlsplit(href).path)[1:]
            found = any((r / path).is_file() or (r / path / "index.html").is_file() for r in self.roots)
            if path and not found:
                out.append(f"link to a page that was not built: {path}")
        return out


def main(argv: list[str]) -> int:
    root = Path(argv[0]).resolve() if argv else html_dir()
    bad = 0
    with serve(root) as base, browser() as b:
        checker = Checker(b, base, root)
        for rel in pages(root):
            problems, n = checker.check(rel)
            print(f"{'FAIL' if problems else 'ok  '} {rel} ({n} formulas)")
            for p in problems:
                print("     ", p)
            bad += bool(problems)
        checker.close()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
