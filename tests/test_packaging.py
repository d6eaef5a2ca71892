"""What a release needs: metadata, a wheel that works from any directory, dependencies that
resolve beside the newest JAX stack, env files pinned to this version, a library that logs
instead of printing."""

import ast
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tomllib
import urllib.request
import warnings
import zipfile
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version
from snakemake.utils import validate

import massengine as me
from massengine import campaign, io
from massengine import config as mecfg

from conftest import ROOT, TINY

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
UNCAPPED = {"jax", "numpy", "zarr", "xarray", "dask", "scipy", "snakemake"}


# ---- version and metadata ------------------------------------------------------------------


def test_version_is_written_once_and_read_everywhere():
    assert re.fullmatch(r"\d+\.\d+\.\d+", me.__version__)
    assert "version" not in PROJECT and "version" in PROJECT["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "massengine._version.__version__"}
    assert io.version() == me.__version__
    ds = me.simulate(me.Network(me.nodes.Hopf(), weights=[[0.0, 1.0], [1.0, 0.0]]), duration=1.0)
    assert ds.attrs["massengine_version"] == me.__version__
    assert f"massengine {me.__version__}:" in ds.attrs["history"]


def test_release_metadata_and_files():
    assert PROJECT["license"] == "Apache-2.0"
    assert PYPROJECT["build-system"]["requires"] == ["setuptools>=77"]  # PEP 639 support
    for name in PROJECT["license-files"]:
        assert (ROOT / name).is_file(), name
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert PROJECT["authors"] == [{"name": "massengine developers"}]
    classifiers = PROJECT["classifiers"]
    for minor in (11, 12, 13):
        assert f"Programming Language :: Python :: 3.{minor}" in classifiers
    assert "Typing :: Typed" in classifiers and not any(c.startswith("License ::") for c in classifiers)
    assert (ROOT / "massengine" / "py.typed").is_file()
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0" and citation["version"] == me.__version__
    assert citation["license"] == "Apache-2.0" and citation["title"].startswith("massengine")
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert re.search(rf"^## \[{re.escape(me.__version__)}\]", changelog, re.M), "no CHANGELOG entry for this version"


def test_dependencies_have_lower_bounds_and_no_caps():
    extras = PROJECT["optional-dependencies"]
    requirements = [Requirement(r) for r in PROJECT["dependencies"] + extras["cuda12"] + extras["cuda13"]]
    seen = set()
    for req in requirements:
        if req.name in UNCAPPED:
            seen.add(req.name)
            operators = {spec.operator for spec in req.specifier}
            assert operators == {">="}, f"{req}: lower bound only (a cap needs a named break)"
    assert seen == UNCAPPED
    cuda = [Requirement(r) for r in extras["cuda12"] + extras["cuda13"]]
    jax = next(r for r in requirements if r.name == "jax" and not r.extras)
    assert all(r.name == "jax" and r.specifier == jax.specifier for r in cuda)  # the extras follow jax


def test_no_private_jax_api_in_the_package():
    for path in (ROOT / "massengine").rglob("*.py"):
        assert "jax._src" not in path.read_text(), path


# ---- schema and env files --------------------------------------------------------------------


def test_the_config_schema_ships_in_the_package_and_the_repo_copy_matches():
    packaged = mecfg.schema_path()
    assert packaged.is_file() and packaged.parent.parent == Path(me.__file__).parent
    copy = ROOT / "config" / "schemas" / "config.schema.yaml"
    assert yaml.safe_load(copy.read_text()) == yaml.safe_load(packaged.read_text()), (
        "config/schemas/config.schema.yaml differs from massengine/schemas/config.schema.yaml; "
        "edit the packaged one and copy it over")


def test_workflow_env_pins_this_version():
    env = yaml.safe_load((ROOT / "workflow" / "envs" / "massengine.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert f"massengine=={me.__version__}" in pip
    assert not any(line.startswith("-e") for line in pip)
    conda = {Requirement(d).name for d in env["dependencies"] if isinstance(d, str)}
    assert {"numpy", "scipy", "xarray", "zarr", "dask"} <= conda


def test_catalog_file_declares_usage():
    catalog = yaml.safe_load((ROOT / ".snakemake-workflow-catalog.yml").read_text())["usage"]
    assert catalog["software-stack-deployment"]["conda"] is True and catalog["report"] is True
    assert (ROOT / "workflow" / "Snakefile").is_file() and (ROOT / "config" / "README.md").is_file()


# ---- the wheel, installed elsewhere ------------------------------------------------------------


def _tracked_tree(dest: Path) -> Path:
    """The files git would commit (tracked, or new and not ignored), copied to ``dest``: the
    wheel is built from what a clone has, not from leftovers of this checkout."""
    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, check=True).stdout.decode()
    for rel in filter(None, listing.split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def test_wheel_installs_and_checks_a_config_from_another_directory(tmp_path):
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to know which files a clone has")
    src = _tracked_tree(tmp_path / "src")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            str(src), "-w", str(tmp_path / "dist")], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("massengine-*.whl")
    assert wheel.name.startswith(f"massengine-{me.__version__}-py3-none-any")
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("massengine/schemas/config.schema.yaml", "massengine/py.typed",
                   "massengine/datasets/data/example_connectome/weights.npy",
                   f"massengine-{me.__version__}.dist-info/licenses/LICENSE"):
        assert needed in names, needed
    metadata = zipfile.ZipFile(wheel).read(f"massengine-{me.__version__}.dist-info/METADATA").decode()
    assert "License-Expression: Apache-2.0" in metadata and f"Version: {me.__version__}" in metadata

    target = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                              str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-3000:]
    config = tmp_path / "elsewhere" / "campaign.yaml"  # a config away from any checkout
    config.parent.mkdir()
    config.write_text(TINY.read_text())
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}  # the wheel's copy, ahead of the checkout's editable one
    where = subprocess.run([sys.executable, "-c", "import massengine, massengine.config as c; "
                            "print(massengine.__file__); print(c.schema_path())"],
                           cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert where.returncode == 0, where.stderr[-3000:]
    assert all(line.startswith(str(target)) for line in where.stdout.split()), where.stdout
    check = subprocess.run([sys.executable, "-m", "massengine.cli", "check", str(config)],
                           cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stderr[-3000:]
    assert check.stdout.strip() == f"{config}: valid; 2 coupling(s) x 2 chunk(s) = 4 simulate jobs"
    config.write_text(TINY.read_text().replace("tanh: {scale: 1.0}", "tanh: {scael: 1.0}"))
    bad = subprocess.run([sys.executable, "-m", "massengine.cli", "check", str(config)],
                         cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "couplings.tanh.scael" in bad.stderr


# ---- resolution beside the newest JAX stack ----------------------------------------------------

INDEX = "https://pypi.org/simple/"
NEWEST_AT_LEAST = {"jax": "0.11", "numpy": "2.5", "zarr": "3.2"}


def _index_reachable() -> bool:
    try:
        with urllib.request.urlopen(urllib.request.Request(INDEX + "pip/", method="HEAD"), timeout=5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def new_pip(tmp_path_factory):
    """The newest pip, run from its wheel: older ones (Python 3.11's 23.2) check Requires-Python
    against the running interpreter even under ``--python-version``."""
    if not _index_reachable():
        pytest.skip(f"the package index ({INDEX}) is unreachable")
    folder = tmp_path_factory.mktemp("pip")
    got = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "pip", "-d", str(folder)],
                         capture_output=True, text=True, timeout=120)
    assert got.returncode == 0, got.stderr[-2000:]
    (wheel,) = folder.glob("pip-*.whl")
    return [sys.executable, str(wheel / "pip")], tmp_path_factory.mktemp("wheels")


def _resolve(pip, wheels: Path, python: str, requirements, report: Path) -> dict:
    """Versions pip would install for ``python`` (binary wheels only). A dependency published
    only as a source distribution is built into a wheel first, as a user's pip would."""
    for _ in range(4):
        run = subprocess.run([*pip, "install", "--dry-run", "--ignore-installed", "--only-binary=:all:",
                              "--python-version", python, "--target", str(report.parent / "unused"),
                              "--find-links", str(wheels), "--report", str(report), *requirements],
                             capture_output=True, text=True, timeout=300)
        if run.returncode == 0:
            installs = json.loads(report.read_text())["install"]
            return {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in installs}
        # pip names them one way or the other, depending on whether it had to backtrack
        said = run.stdout + run.stderr
        missing = re.findall(r"No matching distribution found for ([A-Za-z0-9_.\-]+)", said)
        listed = re.search(r"no matching distributions available for your environment:\n((?:    \S+\n?)+)", said)
        missing += listed.group(1).split() if listed else []
        assert missing, run.stderr[-3000:]
        for name in missing:
            built = subprocess.run([*pip, "wheel", "--no-deps", "-q", name, "-w", str(wheels)],
                                   capture_output=True, text=True, timeout=300)
            assert built.returncode == 0, built.stderr[-3000:]
    raise AssertionError(f"{python}: still unresolvable: {run.stderr[-3000:]}")


@pytest.mark.parametrize("python", ["3.12", "3.13"])
def test_requirements_resolve_with_the_newest_jax_numpy_and_zarr(new_pip, python, tmp_path):
    pip, wheels = new_pip
    newest = _resolve(pip, wheels, python, sorted(NEWEST_AT_LEAST), tmp_path / "alone.json")
    resolved = _resolve(pip, wheels, python, PROJECT["dependencies"], tmp_path / "all.json")
    for name, floor in NEWEST_AT_LEAST.items():
        assert resolved[name] == newest[name], f"Python {python}: {name} {resolved[name]}, newest {newest[name]}"
        assert Version(resolved[name]) >= Version(floor), (name, resolved[name])


# ---- logging instead of printing ---------------------------------------------------------------


def test_the_library_never_prints():
    offenders = []
    for path in sorted((ROOT / "massengine").rglob("*.py")):
        if path.name == "cli.py":  # the command line's output is its interface
            continue
        if path.name == "progress.py":  # the progress bar, on a terminal only (tests/test_batching.py)
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if isinstance(node, ast.Attribute) and node.attr in ("stdout", "stderr") and \
                    isinstance(node.value, ast.Name) and node.value.id == "sys":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} (sys.{node.attr})")
    assert not offenders, offenders


def test_a_job_log_holds_messages_warnings_and_other_loggers_and_is_detached_after(tmp_path):
    root_handlers = list(logging.getLogger().handlers)
    showwarning = warnings.showwarning

    def stage(x):
        logging.getLogger("massengine.campaign").info("first message %d", x)
        logging.getLogger("massengine.campaign").debug("not at INFO")
        warnings.warn("a coarse dt", UserWarning, stacklevel=1)
        logging.getLogger("jax._src.xla_bridge").warning("a library's warning")
        return x + 1

    assert campaign.run_logged(tmp_path / "job.log", stage, 1) == 2
    lines = (tmp_path / "job.log").read_text().splitlines()
    assert lines[0] == "first message 1" and "not at INFO" not in lines
    assert any("UserWarning: a coarse dt" in line for line in lines)
    assert "a library's warning" in lines
    assert logging.getLogger().handlers == root_handlers and warnings.showwarning is showwarning
    assert logging.getLogger("massengine").level == logging.NOTSET


# ---- self-contained docs -----------------------------------------------------------------------


def test_docs_and_docstrings_never_send_users_to_files_they_do_not_have():
    pages = [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "config").rglob("*.md"),
             *(ROOT / "config").rglob("*.yaml"), *(ROOT / "massengine").rglob("*.py"), *(ROOT / "workflow").rglob("*")]
    pointers = re.compile(r"DESIGN(\.md| §)|shared folder|\.\./shared/")
    found = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in pages if p.is_file()
             for m in [pointers.search(p.read_text(errors="ignore"))] if m]
    assert not found, found
    readme = (ROOT / "README.md").read_text()
    assert "(docs/semantics.md)" in readme
    semantics = (ROOT / "docs" / "semantics.md").read_text()
    for topic in ("## The time grid", "## Delays", "## History", "## Couplings", "## Divergence",
                  "## Batches and precision"):
        assert topic in semantics, topic
    for name, coupling in me.COUPLINGS.items():  # every coupling and every default, as the code has them
        row = next(line for line in semantics.splitlines() if line.startswith(f"| `{name}` |"))
        for param, spec in coupling.params.items():
            if param != "k":
                assert f"`{param}` ({spec.default})" in row, (name, param)


def test_tvb76_campaign_reads_the_tvb_extra_not_a_private_path():
    config = yaml.safe_load((ROOT / "config" / "campaigns" / "tvb76.yaml").read_text())
    assert config["connectome"]["name"] == "tvb_76"
    mecfg.check_keys(config, yaml.safe_load(mecfg.schema_path().read_text()))
    validate(config, str(mecfg.schema_path()))  # fills the schema's defaults, as the workflow does
    try:
        import tvb_data  # noqa: F401
    except ModuleNotFoundError:
        with pytest.raises(mecfg.ConfigError, match=r"pip install massengine\[tvb\]"):
            mecfg.check(config)
    else:
        mecfg.check(config)
