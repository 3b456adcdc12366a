"""The blueprint page: the dependency graph of the lemma chain, drawn while the book builds.

Two directives, used on ``blueprint.md``:

* ``{blueprint-graph}`` -- the graph of :func:`ntkcheck.proofs.blueprint` as an inline SVG: one layer per
  dependency depth (a node sits one layer below the deepest node it uses), the order within a layer chosen
  by barycentre sweeps to shorten the edges; each node filled with the colour of its weakest step kind,
  carrying a bar of its steps by kind and a badge with its check status, and linking to its chapter (the
  ``prf:lemma`` label; the chapter page when it has no such label).
* ``{blueprint-table}`` -- the same graph as a table.

Check status: every registered check (``ntkcheck.checks``) is run at seed 0, scale 1, while the page is read
(in ``blueprint_check_workers`` worker processes, about 35 s of CPU), so a node says *holds* only when its
check held in this build; a check that fails or raises marks its node and is a build warning. With
``blueprint_run_checks: false`` (sphinx config) the nodes only say *registered*.

Nothing is downloaded and no graphviz binary is needed: the layout and the SVG are computed here.
"""

from __future__ import annotations

import html
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx.util import logging

logger = logging.getLogger(__name__)

# --- what the kinds look like: (short name, fill of the node, colour of its bar segment) -------------------
# Okabe–Ito colours (distinguishable with the common colour-vision deficiencies), light fills for the nodes
KIND_STYLE = {
    "identity, proved by sympy": ("sympy identity", "#bfe6d6", "#009E73"),
    "inequality, proved symbolically": ("symbolic inequality", "#bcd8ee", "#0072B2"),
    "verified at concrete sizes": ("verified at concrete sizes", "#f6efa0", "#d4c21a"),
    "inequality, checked numerically": ("checked numerically", "#f6d69a", "#E69F00"),
    "by hand": ("by hand", "#eecbdf", "#CC79A7"),
    "definition": ("definition", "#e4e4e4", "#999999"),
}
# check status -> (badge text, badge colour, node outline colour, outline dash)
STATUS_STYLE = {
    "holds": ("✓", "#1b7f3b", "#333333", ""),
    "fails": ("✗", "#c62828", "#c62828", ""),
    "error": ("!", "#c62828", "#c62828", ""),
    "registered": ("R", "#555555", "#333333", ""),
    "none": ("–", "#888888", "#777777", "4 3"),
}
NODE_W, NODE_H, GAP_X, GAP_Y, MARGIN = 128, 50, 22, 46, 14


def anchor(code: str) -> str:
    """An HTML id fragment for a node code (``T1'`` -> ``T1p``)."""
    return code.replace("'", "p").replace("′", "p")


def display(code: str) -> str:
    """A node code as printed (``T1'`` -> ``T1′``)."""
    return code.replace("'", "′")


# ----------------------------------------------------------------------------------------------- layout
def depths(nodes_: list[dict]) -> dict[str, int]:
    """Dependency depth of every node: 0 for a node that uses nothing, else 1 + the largest depth among the
    nodes it uses.  Raises ValueError on a cycle or an unknown target."""
    uses = {n["code"]: tuple(n["uses"]) for n in nodes_}
    out: dict[str, int] = {}
    visiting: set[str] = set()

    def visit(c, path):
        if c in out:
            return out[c]
        if c not in uses:
            raise ValueError(f"{path[-1]} uses {c!r}, which is not a node")
        if c in visiting:
            raise ValueError("the blueprint has a cycle: " + " -> ".join([*path, c]))
        visiting.add(c)
        d = 1 + max((visit(u, [*path, c]) for u in uses[c]), default=-1)
        visiting.discard(c)
        out[c] = d
        return d

    for n in nodes_:
        visit(n["code"], [])
    return out


def layout(nodes_: list[dict]) -> tuple[dict[str, tuple[float, float]], float, float]:
    """Positions (top-left corner) of every node, and the drawing's width and height.

    Layers by :func:`depths`, top to bottom; within a layer the book's order, then four pairs of barycentre
    sweeps (down by the nodes used, up by the users) to shorten the edges."""
    depth = depths(nodes_)
    uses = {n["code"]: tuple(n["uses"]) for n in nodes_}
    users: dict[str, list[str]] = {c: [] for c in uses}
    for c, us in uses.items():
        for u in us:
            users[u].append(c)
    n_layers = 1 + max(depth.values(), default=0)
    layers = [[n["code"] for n in nodes_ if depth[n["code"]] == k] for k in range(n_layers)]
    pos = {c: float(i) for layer in layers for i, c in enumerate(layer)}

    def centre(layer):                  # slot positions, centred on the widest layer
        width = max(len(lay) for lay in layers)
        off = (width - len(layer)) / 2
        for i, c in enumerate(layer):
            pos[c] = off + i

    for layer in layers:
        centre(layer)
    for _ in range(4):
        for neighbours, order in ((uses, range(1, n_layers)), (users, range(n_layers - 2, -1, -1))):
            for k in order:
                layer = layers[k]
                key = {c: (sum(pos[u] for u in neighbours[c]) / len(neighbours[c]) if neighbours[c] else pos[c])
                       for c in layer}
                layer.sort(key=lambda c: (key[c], pos[c]))
                centre(layer)
    width = max(len(lay) for lay in layers)
    xy = {c: (MARGIN + pos[c] * (NODE_W + GAP_X), MARGIN + depth[c] * (NODE_H + GAP_Y)) for c in pos}
    return xy, 2 * MARGIN + width * NODE_W + (width - 1) * GAP_X, 2 * MARGIN + n_layers * NODE_H + (n_layers - 1) * GAP_Y


# --------------------------------------------------------------------------------------------------- SVG
def _esc(text) -> str:
    return html.escape(str(text), quote=True)


def kind_name(kind: str | None) -> str:
    return KIND_STYLE.get(kind, ("not derived",))[0] if kind else "not derived"


def svg(nodes_: list[dict], status: dict[str, dict], href: dict[str, str | None]) -> str:
    """The graph as an inline SVG element.

    Parameters: ``nodes_`` -- the blueprint nodes as dicts (fields of ``ntkcheck.proofs.Node``); ``status`` --
    code -> {"state": one of STATUS_STYLE, "text": one line}; ``href`` -- code -> the URL of its chapter (or
    None: drawn without a link).
    Returns: the ``<svg>`` markup (links as ``<a href>``; every node a ``<g class="bp-node">``)."""
    xy, width, height = layout(nodes_)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="blueprint-graph" viewBox="0 0 {width:.0f} {height:.0f}" '
           f'width="{width:.0f}" style="max-width:100%;height:auto" font-family="system-ui, sans-serif">',
           "<title>The dependency graph of the lemma chain: an arrow from A to B means that B uses A</title>",
           '<defs><marker id="bp-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#666"/></marker></defs>',
           '<g class="bp-edges" fill="none" stroke="#777" stroke-width="1.2" stroke-opacity="0.6">']
    for n in nodes_:
        x2, y2 = xy[n["code"]]
        for u in n["uses"]:
            x1, y1 = xy[u]
            ax, ay, bx, by = x1 + NODE_W / 2, y1 + NODE_H, x2 + NODE_W / 2, y2
            bend = max(18.0, (by - ay) * 0.45)
            out.append(f'<path class="bp-edge" data-from="{_esc(u)}" data-to="{_esc(n["code"])}" '
                       f'd="M {ax:.1f} {ay:.1f} C {ax:.1f} {ay + bend:.1f}, {bx:.1f} {by - bend:.1f}, {bx:.1f} {by - 1:.1f}" '
                       'marker-end="url(#bp-arrow)"/>')
    out.append("</g>")
    for n in nodes_:
        code, (x, y) = n["code"], xy[n["code"]]
        st = status.get(code, {"state": "none", "text": "no registered check"})
        badge, badge_col, outline, dash = STATUS_STYLE[st["state"]]
        _, fill, _ = KIND_STYLE.get(n.get("kind"), ("", "#ffffff", "#999"))
        tip = (f"{display(code)} {n['title']} — uses {', '.join(map(display, n['uses'])) or 'nothing'}; weakest step: "
               f"{kind_name(n.get('kind'))}; check: {st['text']}")
        g = [f'<g class="bp-node" id="bp-node-{anchor(code)}" data-code="{_esc(code)}" data-kind="{_esc(n.get("kind"))}" '
             f'data-status="{_esc(st["state"])}"><title>{_esc(tip)}</title>',
             f'<rect x="{x:.1f}" y="{y:.1f}" width="{NODE_W}" height="{NODE_H}" rx="7" fill="{fill}" stroke="{outline}" '
             f'stroke-width="{2.4 if st["state"] in ("fails", "error") else 1.3}"'
             + (f' stroke-dasharray="{dash}"' if dash else "") + "/>",
             f'<text x="{x + 9:.1f}" y="{y + 19:.1f}" font-size="15" font-weight="700" fill="#111">{_esc(display(code))}</text>',
             f'<text x="{x + 9:.1f}" y="{y + 35:.1f}" font-size="10" fill="#222">{_esc(_short(n["id"]))}</text>']
        # the steps by kind, as a bar along the bottom edge
        steps = {k: v for k, v in (n.get("steps") or {}).items() if v}
        total = sum(steps.values())
        if total:
            bx, bw = x + 8, NODE_W - 16
            for k in KIND_STYLE:
                if k in steps:
                    w = bw * steps[k] / total
                    g.append(f'<rect class="bp-bar" x="{bx:.1f}" y="{y + NODE_H - 9:.1f}" width="{w:.1f}" height="4" '
                             f'fill="{KIND_STYLE[k][2]}"/>')
                    bx += w
        cx, cy = x + NODE_W - 13, y + 13
        g.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="8.5" fill="{badge_col}"/>'
                 f'<text x="{cx:.1f}" y="{cy + 4:.1f}" font-size="11" font-weight="700" fill="#fff" '
                 f'text-anchor="middle">{_esc(badge)}</text></g>')
        link = href.get(code)
        if link:
            out.append(f'<a class="bp-link" href="{_esc(link)}">' + "".join(g) + "</a>")
        else:
            out.append("".join(g))
    out.append("</svg>")
    return "\n".join(out)


def _short(ident: str, limit: int = 21) -> str:
    return ident if len(ident) <= limit else ident[: limit - 1] + "…"


def legend() -> str:
    """The legend under the graph: the kind colours and the status badges (HTML)."""
    sw = ('<span class="bp-swatch" style="display:inline-block;width:0.95em;height:0.95em;border:1px solid #555;'
          'border-radius:3px;vertical-align:-0.1em;margin-right:0.3em;background:{}"></span>')
    kinds = [f'<span class="bp-legend-item">{sw.format(fill)}{_esc(name)}</span>'
             for k, (name, fill, _) in KIND_STYLE.items() if k != "definition"]
    badge = ('<span style="display:inline-block;width:1.2em;height:1.2em;line-height:1.2em;border-radius:50%;'
             'text-align:center;color:#fff;font-weight:700;font-size:0.8em;margin-right:0.3em;background:{}">{}</span>')
    names = {"holds": "check holds (run in this build)", "fails": "check fails", "error": "check raised an error",
             "registered": "check registered (not run in this build)", "none": "no registered check"}
    status = [f'<span class="bp-legend-item">{badge.format(col, _esc(b))}{_esc(names[s])}</span>'
              for s, (b, col, _, _) in STATUS_STYLE.items()]
    return ('<p class="bp-legend"><strong>Fill: the weakest kind of step.</strong> ' + " · ".join(kinds)
            + '<br><strong>Bar: the steps by kind.</strong> <strong>Badge: the check.</strong> ' + " · ".join(status)
            + "</p>")


def steps_text(steps: dict) -> str:
    return ", ".join(f"{v} {kind_name(k)}" for k, v in sorted(steps.items(), key=lambda kv: list(KIND_STYLE).index(kv[0])
                                                                 if kv[0] in KIND_STYLE else 99) if v)


def table(nodes_: list[dict], status: dict[str, dict], href: dict[str, str | None]) -> str:
    """The graph as an HTML table: node, title (a link to its chapter), what it uses (links), weakest step,
    steps by kind, check status."""
    by_code = {n["code"]: n for n in nodes_}
    depth = depths(nodes_)

    def link(code, text):
        u = href.get(code)
        return f'<a class="reference internal" href="{_esc(u)}">{_esc(text)}</a>' if u else _esc(text)

    rows = ['<table class="table blueprint-table"><thead><tr><th>node</th><th>depth</th><th>chapter</th><th>uses</th>'
            "<th>weakest step</th><th>steps by kind</th><th>check</th></tr></thead><tbody>"]
    for n in nodes_:
        code = n["code"]
        st = status.get(code, {"state": "none", "text": "no registered check"})
        uses = ", ".join(link(u, display(u)) for u in n["uses"]) or "—"
        _, fill, _ = KIND_STYLE.get(n.get("kind"), ("", "#fff", ""))
        chapter = link(code, f"{n['title']}") + f' <code>{_esc(n["id"])}</code>'
        if not href.get(code):
            chapter += " (its chapter is not in this book yet)"
        rows.append(f'<tr id="bp-row-{anchor(code)}"><td><strong>{_esc(display(code))}</strong></td>'
                    f"<td>{depth[code]}</td><td>{chapter}</td><td>{uses}</td>"
                    f'<td style="background:{fill}">{_esc(kind_name(n.get("kind")))}</td>'
                    f"<td>{_esc(steps_text(n.get('steps') or {}) or (n.get('basis') and 'its own argument: ' + n['basis']) or '—')}</td>"
                    f"<td>{_esc(st['text'])}</td></tr>")
        assert code in by_code
    rows.append("</tbody></table>")
    return "\n".join(rows)


# ------------------------------------------------------------------------------------------ check status
WORKER = r"""
import json, sys
from ntkcheck import checks
out = {}
for code in sys.argv[1:]:
    rec = checks.run(checks.find(code), seed=0)
    rec = rec.to_json() if hasattr(rec, "to_json") else rec
    details = rec.get("details") if isinstance(rec.get("details"), dict) else {}
    out[code] = {"holds": bool(rec.get("holds")), "error": rec.get("error"), "seconds": rec.get("seconds"),
                 "trials": rec.get("trials"), "C1": details.get("C1")}
print(json.dumps(out, default=str))
"""


def run_checks(codes: list[str], workers: int, cwd: Path) -> dict[str, dict]:
    """Run the registered checks ``codes`` at seed 0, scale 1, in ``workers`` Python processes.

    Returns: code -> {"holds", "error", "seconds", "trials", "C1"} (C1: the certificate G6's check runs)."""
    chunks = [codes[k::workers] for k in range(workers) if codes[k::workers]]
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, *chunk], cwd=cwd, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for chunk in chunks]
    found = {}
    for chunk, p in zip(chunks, procs):
        out, err = p.communicate()
        if p.returncode != 0:
            for code in chunk:
                found[code] = {"holds": False, "error": f"the check process exited {p.returncode}: {err.strip()[-300:]}"}
            continue
        found.update(json.loads(out.strip().splitlines()[-1]))
    return found


def statuses(nodes_: list[dict], registry: dict[str, str], results: dict[str, dict] | None) -> dict[str, dict]:
    """code -> {"state", "text"} for every node, from the registry (code -> what the check does) and, when the
    checks were run, their results."""
    out = {}
    for n in nodes_:
        code, check = n["code"], n.get("check")
        if check is None:
            out[code] = {"state": "none", "text": "no registered check: a certificate is a proof; `ntkcheck certify "
                                                  "check FILE` re-verifies one"}
            if code == "C1" and results and isinstance((results.get("G6") or {}).get("C1"), dict):
                c1 = results["G6"]["C1"]
                if c1.get("certified"):
                    proved = "K ≻ 0 proved" if c1.get("positive_definite_proved") else "K ≻ 0 not proved"
                    out[code]["text"] = (f"no registered check of its own; G6's check certifies its first data set "
                                         f"({c1.get('n')} points, σ = {c1.get('sigma')}) in this build: {proved}")
                else:
                    out[code]["text"] = f"no registered check of its own; in G6's check: {c1.get('reason')}"
            continue
        if check not in registry:
            out[code] = {"state": "none", "text": f"no check registered under {check}"}
            continue
        if results is None:
            out[code] = {"state": "registered", "text": f"{check} registered (not run in this build)"}
            continue
        r = results.get(check) or {"holds": False, "error": "not run"}
        shared = f"{check}'s check, " if check != code else ""
        if r.get("error"):
            out[code] = {"state": "error", "text": f"{shared}raised: {r['error']}"}
        elif r.get("holds"):
            out[code] = {"state": "holds", "text": f"{shared}holds at seed 0 in this build ({r.get('trials')} trials, "
                                                   f"{float(r.get('seconds') or 0):.1f} s)"}
        else:
            out[code] = {"state": "fails", "text": f"{shared}FAILS at seed 0 in this build"}
    return out


# ------------------------------------------------------------------------------------------------ sphinx
class blueprint_placeholder(nodes.General, nodes.Element):
    """Replaced by the graph or the table once every page has been read (links need every label)."""


def _data(env, config) -> dict:
    data = getattr(env, "blueprint_data", None)
    if data is not None:
        return data
    from ntkcheck import checks, proofs

    t0 = time.perf_counter()
    registry = {c.code: c.what for c in checks.all_checks()}
    procs = None
    repo = Path(env.srcdir).resolve().parent
    workers = max(1, int(config.blueprint_check_workers or min(2, os.cpu_count() or 1)))
    if config.blueprint_run_checks:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=1)
        procs = pool.submit(run_checks, list(registry), workers, repo)   # in other processes, while we derive
    nodes_ = [dict(n.__dict__, uses=list(n.uses)) for n in proofs.blueprint()]
    results = procs.result() if procs is not None else None
    data = {"nodes": nodes_, "status": statuses(nodes_, registry, results), "ran": results is not None,
            "seconds": time.perf_counter() - t0}
    for code, st in data["status"].items():
        if st["state"] in ("fails", "error"):
            logger.warning(f"blueprint: the check of {code} {st['state']}: {st['text']}")
    logger.info(f"blueprint: {len(nodes_)} nodes, checks {'run' if data['ran'] else 'not run'} "
                f"({data['seconds']:.1f} s)")
    env.blueprint_data = data
    return data


class _Blueprint(Directive):
    has_content = False
    what = "graph"

    def run(self):
        env = self.state.document.settings.env
        env.note_reread()                   # the checks' status belongs to this build: never reuse the page
        _data(env, env.config)
        return [blueprint_placeholder(what=self.what)]


class BlueprintGraph(_Blueprint):
    what = "graph"


class BlueprintTable(_Blueprint):
    what = "table"


def _hrefs(app, fromdocname: str, nodes_: list[dict]) -> dict[str, str | None]:
    """code -> the relative URL of its chapter: the page of its label (``prf:lemma`` or a MyST target) with the
    label as fragment; the chapter page alone when there is no such label; None when the page is not in the
    book.  A lemma whose label is missing, or sits on another page than its declared one, is a warning."""
    env = app.env
    proof_list = getattr(env, "proof_list", {}) or {}
    std = env.get_domain("std").labels
    out = {}
    for n in nodes_:
        label, page = n["label"], n["page"].rsplit(".", 1)[0]
        if label in proof_list:
            doc, frag = proof_list[label]["docname"], label
        elif label in std:
            doc, frag = std[label][0], std[label][1]
        else:
            doc, frag = page, ""
            if n.get("module"):
                logger.warning(f"blueprint: {n['code']} links to the label {label!r}, which no page defines")
        if n.get("module") and doc != page:
            logger.warning(f"blueprint: {n['code']}'s label {label!r} is on {doc}, not on its page {page}")
        if doc not in env.found_docs:
            out[n["code"]] = None
            continue
        uri = app.builder.get_relative_uri(fromdocname, doc)
        out[n["code"]] = uri + (f"#{frag}" if frag else "")
    return out


def _resolve(app, doctree, fromdocname):
    placeholders = list(doctree.findall(blueprint_placeholder))
    if not placeholders:
        return
    data = _data(app.env, app.config)
    href = _hrefs(app, fromdocname, data["nodes"])
    for ph in placeholders:
        if ph["what"] == "graph":
            markup = ('<div class="blueprint-figure" style="overflow-x:auto">' + svg(data["nodes"], data["status"], href)
                      + "</div>" + legend())
        else:
            markup = table(data["nodes"], data["status"], href)
        ph.replace_self(nodes.raw("", markup, format="html"))


def _purge(app, env, docname):
    if docname == "blueprint" and hasattr(env, "blueprint_data"):
        del env.blueprint_data


def setup(app):
    app.add_config_value("blueprint_run_checks", True, "env")
    app.add_config_value("blueprint_check_workers", 0, "env")    # 0: min(2, cores)
    app.add_node(blueprint_placeholder)
    app.add_directive("blueprint-graph", BlueprintGraph)
    app.add_directive("blueprint-table", BlueprintTable)
    app.connect("env-purge-doc", _purge)
    app.connect("doctree-resolved", _resolve)
    return {"parallel_read_safe": False, "parallel_write_safe": True}
