"""The built book, opened page by page in headless Chromium, offline (see rendered.py for the checks).

Run after building the book (``jupyter-book build book --all -W -n --keep-going``):
``python -m pytest -q tests_browser``. Without a built book or without Chromium these tests fail
rather than skip: they are the book's rendering check in CI.

Screenshots of three pages land in ``book/_build/screenshots/``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import rendered

BOOK = rendered.book_dir()
HTML = rendered.html_dir()
PAGES = rendered.pages(HTML)
SCREENSHOTS = {
    "intro.html": "intro.png",
    "bounds/b3-ntk-perturbation.html": "b3-ntk-perturbation.png",
    "beyond/index.html": "beyond.png",
    "blueprint.html": "blueprint.png",
}
NOT_BUILT = f"no built book at {HTML}: run `jupyter-book build book --all -W -n --keep-going` first"


@pytest.fixture(scope="session")
def chromium():
    with rendered.browser() as b:
        yield b


@pytest.fixture(scope="session")
def site(chromium):
    assert PAGES, NOT_BUILT
    with rendered.serve(HTML) as base:
        checker = rendered.Checker(chromium, base, HTML)
        yield checker
        checker.close()


def test_every_toc_page_was_built():
    assert PAGES, NOT_BUILT
    for name in rendered.toc_files(BOOK):
        assert (HTML / f"{name}.html").is_file(), f"{name} is in _toc.yml but {name}.html was not built"
    assert rendered.redirect_target(HTML / "index.html") == "intro.html"


def test_no_math_from_a_cdn():
    """Every page with math loads MathJax from the book's own _static/, never from another host."""
    assert PAGES, NOT_BUILT
    assert (HTML / "_static" / "mathjax" / "tex-mml-chtml.js").is_file()
    with_math = 0
    for rel in PAGES:
        html = (HTML / rel).read_text()
        srcs = re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)
        remote = [s for s in srcs if re.match(r"(https?:)?//", s)]
        assert not remote, f"{rel} loads scripts from another host: {remote}"
        if 'class="math' in html:
            with_math += 1
            assert any("_static/mathjax/tex-mml-chtml.js" in s for s in srcs), f"{rel} has math but no local MathJax"
    assert with_math >= 20


@pytest.mark.parametrize("rel", PAGES or ["(no built book)"])
def test_page_renders(site, rel):
    shot = SCREENSHOTS.get(rel)
    problems, _ = site.check(rel, screenshot=None if shot is None else BOOK / "_build" / "screenshots" / shot)
    assert not problems, f"{rel}:\n  " + "\n  ".join(problems)


def test_screenshots_saved(site):
    # the page tests above save them; taken here when those were deselected
    for rel, shot in SCREENSHOTS.items():
        png = BOOK / "_build" / "screenshots" / shot
        if not png.is_file():
            site.check(rel, screenshot=png)
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000, png


# --- the blueprint page draws the lemma graph ---

BLUEPRINT_JS = r"""
() => {
  const svg = document.querySelector("svg.blueprint-graph");
  if (!svg) return null;
  const box = svg.getBoundingClientRect();
  const nodes = Array.from(svg.querySelectorAll("g.bp-node")).map(g => {
    const b = g.getBoundingClientRect();
    const a = g.closest("a");
    // the element a reader would hit at the node's centre (scrolled into view first)
    g.scrollIntoView({block: "center"});
    const c = g.getBoundingClientRect();
    const hit = document.elementFromPoint(c.x + c.width / 2, c.y + c.height / 2);
    return {code: g.dataset.code, status: g.dataset.status, kind: g.dataset.kind, w: b.width, h: b.height,
            href: a ? new URL(a.getAttribute("href"), document.baseURI).href : null,
            reachable: !!(hit && g.contains(hit))};
  });
  return {width: box.width, height: box.height, nodes, edges: svg.querySelectorAll("path.bp-edge").length,
          rows: document.querySelectorAll("table.blueprint-table tbody tr").length};
}
"""
# the nodes of the blueprint (issue 14 item 3): G1–G6, B1–B7, T1, T1', D1–D6, C1–C3
BLUEPRINT_NODES = {*(f"G{k}" for k in range(1, 7)), *(f"B{k}" for k in range(1, 8)), "T1", "T1'",
                   *(f"D{k}" for k in range(1, 7)), "C1", "C2", "C3"}


def test_blueprint_shows_the_graph(site):
    """The blueprint page shows the graph: every node drawn at a readable size and reachable by a click, every
    lemma a link to its chapter at its label (the page and the element with that id exist in the built book),
    every lemma's check held in the build that drew it, and the table has a row per node."""
    page = site.context.new_page()
    try:
        page.goto(site.base + "blueprint.html", wait_until="load", timeout=rendered.PAGE_TIMEOUT_MS)
        graph = page.evaluate(BLUEPRINT_JS)
    finally:
        page.close()
    assert graph is not None, "blueprint.html has no svg.blueprint-graph"
    assert graph["width"] > 500 and graph["height"] > 400, graph
    nodes = {n["code"]: n for n in graph["nodes"]}
    assert set(nodes) == BLUEPRINT_NODES
    assert graph["rows"] == len(BLUEPRINT_NODES) and graph["edges"] >= len(BLUEPRINT_NODES)
    problems = []
    for code, n in sorted(nodes.items()):
        if n["w"] < 60 or n["h"] < 25 or not n["reachable"]:
            problems.append(f"{code}: drawn {n['w']:.0f}×{n['h']:.0f} px, reachable by a click: {n['reachable']}")
        if not code.startswith("C"):
            if n["status"] != "holds":
                problems.append(f"{code}: check status {n['status']!r} in the build, not 'holds'")
            if not n["href"]:
                problems.append(f"{code}: not a link")
        if n["href"]:
            url = n["href"].removeprefix(site.base)
            path, _, frag = url.partition("#")
            target = HTML / path
            if not target.is_file():
                problems.append(f"{code}: links to {url}, a page that was not built")
            elif frag and f'id="{frag}"' not in target.read_text():
                problems.append(f"{code}: links to {url}, but {path} has no element with id {frag!r}")
    assert not problems, "\n".join(problems)


# --- the checker itself: a built page with one defect injected must fail, the page as built must pass ---

BROKEN = {
    # name: (HTML injected after the page's title, the kind of problem that must be reported)
    # `$\frac{1}{$` in a page's source: its braces never close, so MathJax leaves it as TeX
    "unclosed-formula": (r'<p><span class="math notranslate nohighlight">\(\frac{1}{\)</span></p>', "raw TeX"),
    "tex-error": (r'<p><span class="math notranslate nohighlight">\(\frac{1}\)</span></p>', "MathJax error"),
    # S̃ (S + combining tilde) and ū (precomposed) in TeX, where \tilde S and \bar u were meant
    "unicode-accent": (r'<p><span class="math notranslate nohighlight">\(S̃_r \le e^{2R}\)</span></p>',
                       "Unicode accent in TeX"),
    "unicode-accent-precomposed": (r'<p><span class="math notranslate nohighlight">\(ū + 1\)</span></p>',
                                   "Unicode accent in TeX"),
    "undefined-macro": (r'<p><span class="math notranslate nohighlight">\(\lambdaa + 1\)</span></p>',
                        "undefined TeX macro"),
    "raw-dollar": (r"<p>with $\lambda_{\min}(H^*)$ the smallest eigenvalue</p>", "raw TeX"),
    "raw-untypeset": (r'<p class="mathjax_ignore">the kernel \(K \otimes I\) is positive definite</p>', "raw TeX"),
    "broken-image": ('<img alt="figure" src="../_images/no-such-figure.png">', "broken image"),
    "unresolved-prf-ref": ('<p>by <code class="xref prf prf-ref docutils literal notranslate">'
                           '<span class="pre">no-such-lemma</span></code></p>', "unresolved reference"),
    "unresolved-doc-link": ('<p>see (<span class="xref myst"></span>)</p>', "unresolved reference"),
    "unresolved-numref": ("<p>as in Figure ??</p>", "unresolved reference"),
    "cdn-script": ('<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script>',
                   "external request"),
    "missing-page": ('<p><a class="reference internal" href="b9-no-such-lemma.html">B9</a></p>',
                     "link to a page that was not built"),
}
# a defect made by removing something from the page: (pattern removed, the kind that must be reported)
REMOVED = {
    "no-mathjax": (r'<script[^>]*src="[^"]*_static/mathjax/tex-mml-chtml\.js[^"]*"[^>]*></script>', "MathJax not loaded"),
}
VICTIM = "bounds/b3-ntk-perturbation.html"


@pytest.fixture(scope="session")
def broken_site(chromium, tmp_path_factory):
    """The built book served with extra pages next to VICTIM: its copy as built and one copy per defect."""
    assert (HTML / VICTIM).is_file(), NOT_BUILT
    overlay = tmp_path_factory.mktemp("overlay")
    page = (HTML / VICTIM).read_text()
    assert page.count("</h1>") >= 1
    names = {"as-built": page}
    for name, (snippet, _) in BROKEN.items():
        names[name] = page.replace("</h1>", "</h1>\n" + snippet, 1)
    for name, (pattern, _) in REMOVED.items():
        names[name], n = re.subn(pattern, "", page)
        assert n == 1, f"{name}: {pattern} not in {VICTIM}"
    folder = overlay / Path(VICTIM).parent
    folder.mkdir(parents=True)
    for name, text in names.items():
        (folder / f"_check-{name}.html").write_text(text)
    with rendered.serve(HTML, overlay=overlay) as base:
        checker = rendered.Checker(chromium, base, HTML, overlay)
        yield checker, lambda name: f"{Path(VICTIM).parent.as_posix()}/_check-{name}.html"
        checker.close()


def test_checker_passes_the_page_as_built(broken_site):
    checker, url = broken_site
    problems, formulas = checker.check(url("as-built"))
    assert formulas > 10 and not problems, problems


@pytest.mark.parametrize("name", sorted(BROKEN) + sorted(REMOVED))
def test_checker_catches(broken_site, name):
    checker, url = broken_site
    problems, _ = checker.check(url(name))
    kind = {**BROKEN, **REMOVED}[name][1]
    assert any(p.startswith(kind) for p in problems), f"{name}: expected a '{kind}' problem, got {problems}"
