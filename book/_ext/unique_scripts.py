"""Drop repeated <script> entries from each page.

jupyter-book 1.x ends up registering sphinx-thebe's inline configuration script (``const THEBE_JS_URL
= …``) twice, so every page raised "Identifier 'THEBE_JS_URL' has already been declared" in the
browser. Identical script entries (same file or body, same attributes) are kept once, in their first
position; nothing else about the page changes.
"""

from __future__ import annotations


def _unique(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen, kept = set(), []
    for js in scripts:
        # an inline script has filename None or "" depending on how it was registered
        key = (str(getattr(js, "filename", js) or ""), repr(sorted(getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    context["script_files"] = kept  # a new list: the builder's own list is left as it is


def setup(app):
    app.connect("html-page-context", _unique, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
