"""The documentation's examples run: every ```python block of a page, in order, in one namespace.
(```py blocks are fragments and are not run.)"""

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(p.name for p in DOCS.glob("*.md") if "```python" in p.read_text())


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": f"docs.{page}"}
    for block in re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), flags=re.S):
        exec(compile(block, f"docs/{page}", "exec"), namespace)
