"""Inputs that hung or passed unchecked (issue 21, items 14-17): each refused, in well under
a second, by a message naming the key and the fix."""

import re
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

import massengine as me
from massengine import cli
from massengine import config as mecfg

from conftest import ROOT, TINY

# 652 bytes that expand to 10**9 values: every level repeats the one before it ten times.
ALIAS_BOMB = "k: [&a [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],\n" + "".join(
    f"    &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "],\n" for i in range(8)) + "]\n"


def _config(tmp_path, text_or_changes, name="c.yaml"):
    path = tmp_path / name
    if isinstance(text_or_changes, str):
        path.write_text(text_or_changes)
    else:
        config = {**yaml.safe_load(TINY.read_text()), "output_dir": str(tmp_path / "out"), **text_or_changes}
        path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("where", ["key", "top"])
def test_a_yaml_alias_bomb_is_refused_in_well_under_a_second(tmp_path, where):
    text = TINY.read_text().replace("k: [0.0, 0.5, 1.0]\n", "") + ALIAS_BOMB
    if where == "top":
        text = "- " + ALIAS_BOMB.replace("\n    ", "\n      ")
    start = time.perf_counter()
    config, problems = mecfg.check_file(_config(tmp_path, text))
    assert time.perf_counter() - start < 1.0
    assert config is None and "once its YAML aliases (*name) are expanded" in problems[0]


def test_a_yaml_alias_bomb_is_refused_by_a_dry_run(tmp_path):
    text = TINY.read_text().replace("k: [0.0, 0.5, 1.0]\n", "") + ALIAS_BOMB
    path = _config(tmp_path, text)
    run = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-n", "--directory",
                          str(tmp_path), "--configfile", str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "once its YAML aliases (*name) are expanded" in run.stdout + run.stderr


@pytest.mark.parametrize("changes, message", [
    ({"noise": {"z": 0.1}}, r"^noise: unknown noise variable 'z' for node model 'hopf'"),
    ({"seeds": [1099511627776]}, r"^seeds: each seed must be an integer in \[-2\*\*31, 2\*\*31\)"),
    ({"node": {"model": "hopf", "params": {"a": [0.1, 0.2]}}},
     r"^node\.params\.a: a list needs one value per region \(8\), got shape \(2,\)"),
    ({"connectome": {"name": "example_connectome", "weights": "w.csv"}},
     r"^connectome: give either name .* or weights .*, not both"),
])
def test_check_refuses_what_every_job_would_fail_on(tmp_path, changes, message):
    config, problems = mecfg.check_file(_config(tmp_path, changes))
    assert config is None and len(problems) == 1
    assert re.search(message, problems[0]), problems


def test_check_names_the_labels_file_for_duplicate_labels(tmp_path):
    np.savetxt(tmp_path / "w.csv", np.ones((3, 3)), delimiter=",")
    (tmp_path / "labels.txt").write_text("a\na\nb\n")
    connectome = {"weights": str(tmp_path / "w.csv"), "labels": str(tmp_path / "labels.txt"), "speed": None}
    _, problems = mecfg.check_file(_config(tmp_path, {"connectome": connectome}))
    assert problems[0].startswith("connectome.labels: region labels must be distinct") and "repeated: a" in problems[0]


def test_check_refuses_an_output_dir_of_someone_elses_files(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "thesis.tex").write_text("years of work")
    assert cli.main(["check", str(_config(tmp_path, {}))]) == 2
    assert "output_dir: output_dir" in capsys.readouterr().err and (tmp_path / "out" / "thesis.tex").exists()


def _net(**node):
    return me.Network(me.nodes.Hopf(initial={"x": 0.2}, **node), weights=np.ones((3, 3)))


@pytest.mark.parametrize("weights", [[[1.0, 2.0], [3.0]], [["a", "b"], ["c", "d"]]])
def test_ragged_or_non_numeric_weights_name_the_argument(weights):
    with pytest.raises(ValueError, match=r"^weights must be an \(N, N\) matrix of numbers"):
        me.Network(me.nodes.Hopf(), weights=weights)


@pytest.mark.parametrize("noise", ["abc", True])
def test_noise_that_is_no_number_is_refused_before_the_run(noise):
    with pytest.raises(ValueError, match=r"^noise for 'x' must be a number"):
        me.simulate(_net(), duration=2.0, dt=0.1, noise=noise)


def test_chunk_samples_zero_is_refused_by_the_api():
    with pytest.raises(ValueError, match=r"^chunk_samples must be an integer >= 1"):
        me.simulate(_net(), duration=2.0, dt=0.1, chunk_samples=0)


FIT = dict(duration=200.0, dt=0.1, transient=50.0, steps=2)


def _target():
    return np.array([[1.0, 0.3, 0.1], [0.3, 1.0, 0.2], [0.1, 0.2, 1.0]])


@pytest.mark.parametrize("kwargs, message", [
    ({"bounds": {"k": (1.0, 0.0)}}, r"bounds\['k'\] = \(1\.0, 0\.0\): low must be below high"),
    ({"bounds": {"k": (float("nan"), 1.0)}}, r"low must be below high"),
    ({"learning_rate": 0.0}, r"^learning_rate must be a finite number > 0"),
    ({"learning_rate": -0.1}, r"^learning_rate must be a finite number > 0"),
    ({"learning_rate": float("nan")}, r"^learning_rate must be a finite number > 0"),
])
def test_fit_refuses_inverted_bounds_and_bad_learning_rates(kwargs, message):
    start = time.perf_counter()
    with pytest.raises(ValueError, match=message):
        me.fit.fit_k(_net(), _target(), 0.1, **FIT, **kwargs)
    assert time.perf_counter() - start < 5.0  # refused before any simulation


def test_fit_refuses_a_constant_target_fc_before_simulating():
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"^the target FC is constant"):
        me.fit.fit_k(_net(), np.ones((3, 3)), 0.1, **FIT)
    assert time.perf_counter() - start < 5.0
