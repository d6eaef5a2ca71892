"""Campaign config: unknown keys, schema, and semantic checks name the key and the fix."""

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from snakemake.utils import validate

import massengine.config as mecfg

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "config" / "schemas" / "config.schema.yaml"


def load(name="config/test/tiny.yaml"):
    config = yaml.safe_load((ROOT / name).read_text())
    validate(config, str(SCHEMA))  # fills the schema's defaults, as the workflow does
    return config


def full_check(config):
    mecfg.check_keys(config, yaml.safe_load(SCHEMA.read_text()))
    validate(config, str(SCHEMA))
    mecfg.check(config)


@pytest.mark.parametrize("name", ["config/config.yaml", "config/test/tiny.yaml"])
def test_shipped_configs_are_valid(name):
    full_check(load(name))


def test_default_campaign_matches_the_issue():
    config = load("config/config.yaml")
    assert config["node"]["model"] == "hopf" and config["connectome"]["name"] == "example_connectome"
    assert set(config["couplings"]) == {"diffusive", "additive", "laplacian", "tanh", "sigmoidal",
                                        "sigmoidal_jansen_rit"}
    ks = mecfg.k_values(config)
    assert ks.size >= 16 and ks.min() >= 0 and ks.max() <= 1.5
    sim = config["simulation"]
    assert (sim["duration"], sim["dt"], sim["transient"]) == (300.0, 0.1, 50.0)


def mutated(path, value, base="config/test/tiny.yaml"):
    config = copy.deepcopy(load(base))
    *parents, last = path.split(".")
    node = config
    for key in parents:
        node = node.setdefault(key, {})
    if value is DELETE:
        node.pop(last)
    else:
        node[last] = value
    return config


DELETE = object()


@pytest.mark.parametrize("path,value,message", [
    ("k_per_jobs", 2, r"^k_per_jobs: unknown key; valid keys here: .*Did you mean 'k_per_job'\?"),
    ("simulation.durration", 10.0, r"^simulation.durration: unknown key.*Did you mean 'duration'\?"),
    ("couplings.tanh", {"scael": 1.0}, r"^couplings.tanh.scael: unknown parameter of tanh; valid: scale. "
                                       r"Did you mean 'scale'\?"),
    ("couplings.sigmoid", {}, r"^couplings.sigmoid: unknown coupling; valid: diffusive, .*Did you mean"),
    ("couplings.tanh", {"k": 2.0}, r"^couplings.tanh.k: k is swept"),
    ("node.model", "hopff", r"^node.model: unknown model 'hopff'; valid: hopf, .*Did you mean 'hopf'\?"),
    ("node.params", {"omega": 1.0}, r"^node.params.omega: unknown parameter of hopf; valid: a, w, beta"),
    ("node.params", {"a": 50.0}, r"^node.params.a: 50.0 is outside the valid range \[-5.0, 5.0\]"),
    ("node.initial", {"z": 1.0}, r"^node.initial.z: unknown state variable; hopf has x, y"),
    ("node.initial", {"x": [1.0, 2.0]}, r"^node.initial.x: a list needs one value per region \(8\), got 2"),
    ("connectome.name", "/nonexistent/conn.zip", r"^connectome.name: unknown connectome '/nonexistent/conn.zip'"),
    ("connectome.weights", "/nonexistent/w.npy",
     r"^connectome.weights: weights file '/nonexistent/w.npy' does not exist"),
    ("simulation.transient", 200.0, r"^simulation.transient: 200.0 ms must be shorter than simulation.duration"),
    ("simulation.sample_period", 0.25, r"^simulation.sample_period: 0.25 ms is not a whole multiple of dt = 0.1 ms"),
    ("k", [0.1, float("nan")], r"^k: every k must be finite"),
    ("k", [0.1, 0.1], r"^k: k values must be distinct"),
    ("k", {"log": [0.0, 1.0], "num": 4}, r"^k.log: a log-spaced axis needs bounds > 0"),
    ("grid", {"spead": [1.0]}, r"^grid: unknown grid axis 'spead'; valid axes: speed, noise, node.a, .*Did you mean"),
    ("grid", {"node.a": [0.1, float("inf")]}, r"^grid.node.a: every grid.node.a must be finite"),
    ("grid", {"coupling.scale": [1.0]}, r"^grid: unknown grid axis 'coupling.scale'.* \(coupling 'diffusive'\)"),
    ("refine", {"metric": "sync"}, r"^refine.metric: 'sync' is no scalar metric; one of mean_fc"),
    ("refine", {"rounds": -1}, r"^refine.rounds: must be an integer >= 0"),
    ("metrics.target_fc", "/nonexistent/fc.npy", r"^metrics.target_fc: file '/nonexistent/fc.npy' does not exist"),
    ("simulation.record", ["r"], r"^simulation: unknown recorded variable 'r'"),
])
def test_semantic_errors_name_the_key(path, value, message):
    config = mutated(path, value)
    with pytest.raises(mecfg.ConfigError, match=message):
        mecfg.check_keys(config, yaml.safe_load(SCHEMA.read_text()))
        mecfg.check(config)


@pytest.mark.parametrize("path,value,message", [
    ("k_per_job", 0, r"0 is less than the minimum of 1"),
    ("k", [], r"should be non-empty|is too short|not valid under any"),
    ("simulation.dt", -0.1, r"less than or equal to the minimum of 0"),
    ("simulation.integrator", "rk4", r"'rk4' is not one of \['euler', 'heun'\]"),
    ("connectome.speed", "fast", r"'fast' is not of type 'number', 'null'"),
    ("node", DELETE, r"'node' is a required property"),
])
def test_schema_errors(path, value, message):
    with pytest.raises(Exception, match=message):
        validate(mutated(path, value), str(SCHEMA))


def test_wrong_shape_target_fc(tmp_path):
    np.save(tmp_path / "fc.npy", np.eye(3))
    with pytest.raises(mecfg.ConfigError, match=r"metrics.target_fc: shape \(3, 3\) does not match the connectome's 8"):
        mecfg.check(mutated("metrics.target_fc", str(tmp_path / "fc.npy")))


def test_k_grid_and_chunks():
    config = mutated("k", {"start": 0.0, "stop": 1.0, "num": 5})
    config["k_per_job"] = 2
    chunks = mecfg.k_chunks(config)
    assert [c.tolist() for c in chunks] == [[0.0, 0.25], [0.5, 0.75], [1.0]]


def test_config_hash_is_stable_and_sensitive():
    a, b = load(), load()
    assert mecfg.config_hash(a) == mecfg.config_hash(b)
    b["seeds"] = [1]
    assert mecfg.config_hash(a) != mecfg.config_hash(b)


@settings(max_examples=40, deadline=None)
@given(key=st.text(min_size=1, max_size=12),
       value=st.one_of(st.integers(), st.floats(allow_nan=True), st.text(max_size=5)))
def test_arbitrary_extra_keys_never_crash_the_checker(key, value):
    config = load()
    config["simulation"] = {**config["simulation"], key: value}
    schema = yaml.safe_load(SCHEMA.read_text())
    if key in schema["properties"]["simulation"]["properties"]:
        return
    with pytest.raises(mecfg.ConfigError, match=r"^simulation\."):
        mecfg.check_keys(config, schema)


def test_grid_and_refine_errors_name_the_config_keys():
    """Errors of the grid: and refine: blocks speak of config keys, not API arguments."""
    no_delays = mutated("connectome.speed", None)
    no_delays["grid"] = {"speed": [1.0, 2.0]}
    with pytest.raises(mecfg.ConfigError, match=r"^grid.speed: .*set connectome.speed \(not null\)"):
        mecfg.check(no_delays)
    both = mutated("noise", 0.01)
    both["grid"] = {"noise": [0.0, 0.1]}
    with pytest.raises(mecfg.ConfigError, match=r"^grid.noise: .*set noise: null"):
        mecfg.check(both)
    no_target = mutated("refine", {"rounds": 1, "metric": "fc_target_corr"})
    with pytest.raises(mecfg.ConfigError, match=r"^refine.metric: fc_target_corr needs metrics.target_fc"):
        mecfg.check(no_target)
