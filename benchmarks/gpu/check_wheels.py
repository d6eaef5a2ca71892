"""Check that the downloaded wheels install on the GPU machine without a package index.

    python benchmarks/gpu/check_wheels.py benchmarks/gpu/wheels benchmarks/gpu/image-packages.txt

For each peer folder: every wheel is for CPython 3.12 (or pure Python) on x86-64 Linux, one
version per package, and every requirement (``Requires-Dist`` without an extra, with its
environment marker evaluated for Python 3.12 on Linux) is either a wheel of that folder or a
package of the image. Exits non-zero naming what is missing.
"""

from __future__ import annotations

import re
import sys
import zipfile
from pathlib import Path

ENV = {"python_version": "3.12", "python_full_version": "3.12.3", "sys_platform": "linux",
       "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
       "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": ""}


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        lines = z.read(meta).decode().splitlines()
    out = []
    for line in lines:
        if not line.startswith("Requires-Dist:"):
            continue
        req, _, marker = line.split(":", 1)[1].partition(";")
        if marker.strip() and not applies(marker):
            continue
        out.append(norm(re.match(r"\s*([A-Za-z0-9._-]+)", req).group(1)))
    return out


def applies(marker: str) -> bool:
    """Evaluate a PEP 508 marker for the GPU machine (packaging if present, else a small parser)."""
    try:
        from packaging.markers import Marker

        return Marker(marker).evaluate(ENV)
    except ImportError:
        if "extra" in marker:
            return False
        m = re.match(r"\s*python_version\s*(<|>=|<=|>|==|!=)\s*['\"]([\d.]+)['\"]\s*$", marker)
        if not m:
            return True
        have, want = tuple(map(int, ENV["python_version"].split("."))), tuple(map(int, m.group(2).split(".")))
        return {"<": have < want, ">=": have >= want, "<=": have <= want, ">": have > want,
                "==": have == want, "!=": have != want}[m.group(1)]


def main():
    wheels_dir, image_list = Path(sys.argv[1]), Path(sys.argv[2])
    image = {norm(x) for x in image_list.read_text().split() if x and not x.startswith("#")}
    image |= {norm(x.split()[0]) for x in image_list.read_text().splitlines() if x and not x.startswith("#")}
    ok = True
    for folder in sorted(p for p in wheels_dir.iterdir() if p.is_dir()):
        wheels = sorted(folder.glob("*.whl"))
        names = [norm(w.name.split("-")[0]) for w in wheels]
        dupes = {n for n in names if names.count(n) > 1}
        tag = r"-(py3|py2\.py3|cp312)-(none|cp312|abi3)-(any|manylinux[\w.]*x86_64)\.whl$"
        bad_tags = [w.name for w in wheels if not re.search(tag, w.name)]
        missing = sorted({r for w in wheels for r in requirements(w)} - set(names) - image)
        size = sum(w.stat().st_size for w in wheels) / 2**20
        print(f"{folder.name}: {len(wheels)} wheels, {size:.1f} MiB; missing: {missing or 'none'}"
              + (f"; two versions of {sorted(dupes)}" if dupes else "")
              + (f"; not for cp312 x86-64: {bad_tags}" if bad_tags else ""))
        ok &= not missing and not dupes and not bad_tags
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
