"""The blueprint (``ntkcheck.proofs.blueprint``) and its drawing on the book's blueprint page.

The graph: acyclic, every USES target a node, the edges and step kinds of known nodes as read off their
modules and chapters by hand, the trust base of a certificate.  The drawing (book/_ext/blueprint_graph.py):
every arrow points down a layer, every node of the SVG links to a chapter that exists and defines the label
it points at, and the statuses say what the checks did.  The built page itself is checked in tests_browser.
"""
from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ntkcheck import proofs
from ntkcheck.proofs._core import BY_HAND, CONCRETE, DEFINITION, IDENTITY, NUMERIC, PROVED, Derivation

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
sys.path.insert(0, str(BOOK / "_ext"))
import blueprint_graph as bg  # noqa: E402

NODES = proofs.blueprint(kinds=False)
BY_CODE = {n.code: n for n in NODES}
SVG_NS = "{http://www.w3.org/2000/svg}"


def as_dicts(nodes):
    return [dict(n.__dict__, uses=list(n.uses)) for n in nodes]


# --------------------------------------------------------------------------------------------- the graph
def test_the_nodes():
    # G1–G6, B1–B7, T1, T1', D1–D6, C1–C3 (issue: the blueprint of the lemma chain), in the book's order
    expected = [*(f"G{k}" for k in range(1, 7)), *(f"B{k}" for k in range(1, 8)), "T1", "T1'",
                *(f"D{k}" for k in range(1, 7)), "C1", "C2", "C3"]
    assert [n.code for n in NODES] == expected
    assert len({n.id for n in NODES}) == len(NODES)


def test_every_uses_target_is_a_node_and_none_uses_itself():
    bad = [(n.code, u) for n in NODES for u in n.uses if u not in BY_CODE or u == n.code]
    assert not bad, bad
    assert all(len(set(n.uses)) == len(n.uses) for n in NODES)


def test_acyclic():
    # Kahn's algorithm, written here: every node must be removable once the nodes it uses are
    remaining = {n.code: set(n.uses) for n in NODES}
    order = []
    while remaining:
        ready = sorted(c for c, us in remaining.items() if not us)
        assert ready, f"a cycle among {sorted(remaining)}"
        for c in ready:
            del remaining[c]
            order.append(c)
        for us in remaining.values():
            us.difference_update(ready)
    assert len(order) == len(NODES)


def test_the_drawing_rejects_a_cycle_and_an_unknown_target():
    with pytest.raises(ValueError, match="cycle: A -> B -> A"):
        bg.depths([{"code": "A", "uses": ["B"]}, {"code": "B", "uses": ["A"]}])
    with pytest.raises(ValueError, match="'Z', which is not a node"):
        bg.depths([{"code": "A", "uses": ["Z"]}])


def test_edges_read_off_the_chapters():
    # by hand, from the statements and proofs of the chapters (and MATH's lemma chain):
    assert BY_CODE["G1"].uses == ()                            # the softmax Jacobian and the chain rule
    assert set(BY_CODE["G4"].uses) == {"G1", "G2"}             # blocks of J from G1, zero row sums of P from G2
    assert set(BY_CODE["B3"].uses) == {"G4", "B2"}             # the factorized entries, each moved as B2 allows
    assert set(BY_CODE["B5"].uses) == {"G1", "G4", "B2", "B4"}
    t1, t1p = set(BY_CODE["T1"].uses), set(BY_CODE["T1'"].uses)
    assert {"B2", "B3", "B4", "B5", "B6"} <= t1p and t1p < t1    # T1' is T1 without the limit kernel ...
    assert t1 - t1p == {"G5", "G6"}                            # ... neither H* (G5) nor λ > 0 (G6)
    assert "B7" not in t1 and "B1" not in t1                   # (i)–(iv) are hypotheses of the theorem
    assert BY_CODE["C1"].uses == ("G5",) and BY_CODE["C3"].uses == ("C2",)
    assert BY_CODE["T1'"].module == BY_CODE["T1"].module == "linear_convergence"
    assert BY_CODE["T1'"].check == "T1" and BY_CODE["C2"].check is None


def test_the_trust_base_of_a_certificate():
    # C2 → T1', G4, B2, B3, B4; T1' adds B5, B6; G4 → G1, G2; B4 → G3 (closed by hand)
    assert {n.code for n in proofs.blueprint(["C2"], kinds=False)} == \
        {"C2", "T1'", "G4", "B2", "B3", "B4", "B5", "B6", "G1", "G2", "G3"}
    assert {n.code for n in proofs.blueprint(["G1"], kinds=False)} == {"G1"}
    with pytest.raises(KeyError, match="no blueprint node 'X9'"):
        proofs.blueprint(["X9"], kinds=False)


def test_pages():
    for n in NODES:
        assert n.page.endswith(".md") and not n.page.startswith("/")
        if n.module is not None:
            assert (BOOK / n.page).is_file(), n
            assert n.label == (n.id if n.code != "T1'" else "linear-convergence")


# --------------------------------------------------------------------------------------------- the kinds
def test_weakest_kind_orders_the_kinds():
    d = Derivation("X", "x", "a test")
    assert proofs.kind_order() == (IDENTITY, PROVED, CONCRETE, NUMERIC, BY_HAND)
    for kinds, weakest in [([IDENTITY, DEFINITION], IDENTITY), ([PROVED, IDENTITY], PROVED),
                           ([IDENTITY, CONCRETE, PROVED], CONCRETE), ([NUMERIC, CONCRETE], NUMERIC),
                           ([BY_HAND, IDENTITY, NUMERIC], BY_HAND), ([DEFINITION], DEFINITION)]:
        assert proofs.weakest_kind(kinds) == weakest, kinds
    assert proofs.weakest_kind(d) == DEFINITION                 # nothing proved
    with pytest.raises(ValueError, match="unknown step kind"):
        proofs.weakest_kind(["a guess"])


def test_kinds_on_known_modules():
    # read off the modules by hand: G1 records definitions and sympy identities only; G4 has one identity
    # checked at concrete sizes (the Jacobian Gram, concrete=True) and no step by hand or numeric; B3 has
    # steps argued by hand (the passage from the sign patterns sympy checks to every size)
    nodes = {n.code: n for n in proofs.blueprint(["G4", "B3"])}
    assert nodes["G1"].kind == IDENTITY
    assert nodes["G4"].kind == CONCRETE
    assert nodes["B3"].kind == BY_HAND
    assert nodes["G4"].steps == proofs.lemma("G4").derive().summary()
    assert all(n.kind is None and n.steps == {} for n in NODES)          # kinds=False derives nothing


# ------------------------------------------------------------------------------------------- the drawing
def _status(state="holds"):
    return {n.code: {"state": state if n.check else "none", "text": "t"} for n in NODES}


def _hrefs_from_sources():
    """code -> URL as the html builder writes it from the root page blueprint.html: <page>.html#<label>."""
    return {n.code: n.page[:-3] + ".html#" + n.label for n in NODES if (BOOK / n.page).is_file()}


def test_every_arrow_points_down_a_layer():
    xy, width, height = bg.layout(as_dicts(NODES))
    for n in NODES:
        for u in n.uses:
            assert xy[u][1] + bg.NODE_H < xy[n.code][1], (u, n.code)
    boxes = sorted(xy.values())
    assert all(0 <= x and x + bg.NODE_W <= width and 0 <= y and y + bg.NODE_H <= height for x, y in boxes)
    for (x1, y1), (x2, y2) in zip(boxes, boxes[1:]):             # no two nodes overlap
        assert x1 + bg.NODE_W <= x2 or abs(y1 - y2) >= bg.NODE_H


def test_the_svg_links_resolve_to_labelled_chapters():
    href = _hrefs_from_sources()
    root = ET.fromstring(bg.svg(as_dicts(NODES), _status(), href))
    links = {a.find(f"{SVG_NS}g").get("data-code"): a.get("href") for a in root.iter(f"{SVG_NS}a")}
    assert set(links) == set(href)                              # every node whose chapter exists is a link
    assert {n.code for n in NODES if n.module} <= set(links)    # ... at least every lemma
    for code, url in links.items():
        page, _, label = url.partition("#")
        source = BOOK / (page[: -len(".html")] + ".md")
        assert source.is_file(), f"{code} links to {url}: no {source}"
        labels = re.findall(r"^:label:\s*(\S+)\s*$|^\((\S+)\)=\s*$", source.read_text(encoding="utf-8"), flags=re.M)
        assert label in {a or b for a, b in labels}, f"{code} links to #{label}, which {source.name} does not define"
    edges = {(p.get("data-from"), p.get("data-to")) for p in root.iter(f"{SVG_NS}path") if p.get("class") == "bp-edge"}
    assert edges == {(u, n.code) for n in NODES for u in n.uses}


def test_the_svg_marks_kinds_and_statuses():
    nodes = as_dicts(NODES)
    nodes[3]["kind"] = CONCRETE                                # G4, as derived
    root = ET.fromstring(bg.svg(nodes, _status("fails"), {}))
    groups = {g.get("data-code"): g for g in root.iter(f"{SVG_NS}g") if g.get("class") == "bp-node"}
    assert len(groups) == len(NODES) and not list(root.iter(f"{SVG_NS}a"))   # no link without a chapter
    g4 = groups["G4"]
    assert g4.get("data-kind") == CONCRETE and g4.get("data-status") == "fails"
    assert g4.find(f"{SVG_NS}rect").get("fill") == bg.KIND_STYLE[CONCRETE][1]
    assert groups["C2"].get("data-status") == "none"


def test_statuses_from_the_check_results():
    nodes = as_dicts(NODES)
    registry = {n.check: "what" for n in NODES if n.check}
    results = {c: {"holds": True, "trials": 5, "seconds": 1.0} for c in registry}
    results["B2"] = {"holds": False, "trials": 5}
    results["B3"] = {"holds": False, "error": "ValueError: boom"}
    results["G6"]["C1"] = {"certified": [1e-26, 2e-26], "positive_definite_proved": True, "n": 18, "sigma": 0.1}
    st = bg.statuses(nodes, registry, results)
    assert st["G1"]["state"] == "holds" and st["B2"]["state"] == "fails" and st["B3"]["state"] == "error"
    assert st["T1'"]["state"] == "holds" and "T1's check" in st["T1'"]["text"]
    assert st["C1"]["state"] == "none" and "K ≻ 0 proved" in st["C1"]["text"]
    assert st["C3"]["state"] == "none"
    unrun = bg.statuses(nodes, registry, None)
    assert {s["state"] for c, s in unrun.items() if BY_CODE[c].check} == {"registered"}
    del registry["D6"]
    assert bg.statuses(nodes, registry, results)["D6"]["state"] == "none"


def test_the_table_has_a_row_per_node():
    html = bg.table(as_dicts(NODES), _status(), _hrefs_from_sources())
    rows = re.findall(r'<tr id="bp-row-([^"]+)">', html)
    assert rows == [bg.anchor(n.code) for n in NODES]
    assert html.count('<a class="reference internal"') >= sum(len(n.uses) for n in NODES if n.module) + 21
