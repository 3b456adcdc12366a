"""Serve MathJax 3 from the built book itself, so the formulas typeset offline.

Sphinx points every page with math at a MathJax CDN by default; offline a reader then sees raw LaTeX.
This extension copies MathJax 3.2.2 from the PyPI package ``django-static-mathjax`` (installed with the
``book`` extra; it ships the MathJax distribution as the Python package ``mathjax`` and needs no Django)
into ``_build/html/_static/mathjax/`` and sets ``mathjax_path`` to the copy. The build reads only
installed files: no download at build time, no CDN at reading time. The MathJax 3 configuration that
myst-parser writes (``mathjax3_config``) matches this major version.

Only what the pages use is copied (about 8 MB of the package's 35 MB): the combined TeX/MathML-to-CHTML
component, the TeX extensions it autoloads (``\\boldsymbol`` and the like), the CHTML fonts and the
context menu with its accessibility parts.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from sphinx.errors import ExtensionError

COMPONENT = "tex-mml-chtml.js"
#: paths inside MathJax's es5/ folder that the component loads on demand
PARTS = ("input", "output/chtml", "a11y", "ui", "sre", "adaptors")
TARGET = "mathjax"  # under _static/


def mathjax_es5() -> Path:
    """The es5/ folder of the installed MathJax 3 distribution."""
    spec = importlib.util.find_spec("mathjax")
    roots = [] if spec is None or spec.submodule_search_locations is None else list(spec.submodule_search_locations)
    for root in roots:
        es5 = Path(root) / "static" / "mathjax" / "es5"
        package = Path(root) / "static" / "mathjax" / "package.json"
        if (es5 / COMPONENT).is_file() and package.is_file() and '"version": "3.' in package.read_text():
            return es5
    raise ExtensionError(
        "offline_mathjax: MathJax 3 files not found; install the book extra (pip install -e '.[book]'), "
        "which brings the PyPI package django-static-mathjax"
    )


def _set_path(app, config) -> None:
    mathjax_es5()  # fail at configuration time, before any notebook runs, when the files are missing
    config.mathjax_path = f"{TARGET}/{COMPONENT}"  # relative: resolved against _static/


def _copy(app) -> None:
    if app.builder.format != "html":
        return
    es5 = mathjax_es5()
    dest = Path(app.outdir) / "_static" / TARGET
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(es5 / COMPONENT, dest / COMPONENT)
    for part in PARTS:
        if (es5 / part).is_dir():
            shutil.copytree(es5 / part, dest / part, dirs_exist_ok=True)
    shutil.copy2(es5.parent / "LICENSE", dest / "LICENSE")


def setup(app):
    app.connect("config-inited", _set_path)
    app.connect("builder-inited", _copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
