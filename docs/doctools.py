"""Run the Python blocks of a Markdown page and compare what they print with the ```text
block that follows each one. Used by tests/test_docs.py (check) and by
`python docs/doctools.py --update` (rewrite the outputs after a deliberate change)."""

from __future__ import annotations

import contextlib
import io
import re
import sys
import warnings
from pathlib import Path

DOCS = Path(__file__).resolve().parent
BLOCK = re.compile(r"```(python|text)\n(.*?)```", re.S)


def blocks(text: str):
    """[(kind, code, span)] of the python and text fences, in order."""
    return [(m.group(1), m.group(2), m.span(2)) for m in BLOCK.finditer(text)]


def run_page(path: Path):
    """Execute every python block of ``path`` in one namespace; return
    [(printed output, expected text or None, span of the text block)]."""
    text = path.read_text()
    found = blocks(text)
    namespace = {"__name__": f"docs_{path.stem}"}
    results = []
    for i, (kind, code, _) in enumerate(found):
        if kind != "python":
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(compile(code, f"{path.name} block {i}", "exec"), namespace)
        following = found[i + 1] if i + 1 < len(found) and found[i + 1][0] == "text" else None
        results.append((out.getvalue(), None if following is None else following[1],
                        None if following is None else following[2]))
    return results


def update(path: Path) -> None:
    text = path.read_text()
    edits = [(span, printed) for printed, expected, span in run_page(path) if span is not None]
    for (start, end), printed in sorted(edits, reverse=True):
        text = text[:start] + printed + text[end:]
    path.write_text(text)


if __name__ == "__main__":
    pages = [Path(p) for p in sys.argv[1:] if not p.startswith("--")] or sorted(DOCS.glob("*.md"))
    for page in pages:
        if "--update" in sys.argv:
            update(page)
            print(f"updated {page}")
