"""The README's library example runs as written: its ``>>>`` block is a doctest (the expected values are the
README's own statements: the shapes, H* = K ⊗ I, the mpmath twin agreeing with float64)."""
from __future__ import annotations

import doctest
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _library_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Using the library", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block, "the README's 'Using the library' section has no python block"
    assert block[1].lstrip().startswith(">>>"), "the library example is not in doctest form (>>> lines)"
    return block[1]


def test_the_readme_library_example_runs():
    test = doctest.DocTestParser().get_doctest(_library_example(), {}, "README: Using the library", str(README), 0)
    assert len(test.examples) >= 8
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0 and result.attempted == len(test.examples), result
