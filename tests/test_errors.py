"""Every bad input raises a ValueError that names the problem and the fix."""

import numpy as np
import pytest

import massengine as me

W = np.array([[0, 1.0, 0.5], [1.0, 0, 0.2], [0.3, 0.4, 0]])
D = np.array([[0, 10.0, 20.0], [10.0, 0, 15.0], [20.0, 15.0, 0]])


def net(**kw):
    args = dict(weights=W, distances=D, speed=5.0, coupling="diffusive", k=0.2)
    args.update(kw)
    return me.Network(me.nodes.Hopf(), **args)


@pytest.mark.parametrize("kwargs,message", [
    (dict(weights=np.ones((3, 2))), r"weights must be a square \(N, N\) matrix, got shape \(3, 2\)"),
    (dict(weights=np.array([[0, np.inf], [1, 0]]), distances=None),
     r"weights contains non-finite values \(first at index \(0, 1\)\)"),
    (dict(distances=np.ones((2, 2))), r"distances must have the weights' shape \(3, 3\), got \(2, 2\)"),
    (dict(distances=-D), r"distances must be >= 0; found -10 at index \(0, 1\)"),
    (dict(speed=0.0), r"speed must be a finite number > 0 \(mm/ms = m/s\), got 0.0"),
    (dict(speed=-3.0), r"speed must be a finite number > 0"),
    (dict(speed=None), r"distances need a conduction speed"),
    (dict(delays=D), r"give distances \(with speed\) or delays \(ms\), not both"),
    (dict(coupling="sigmoid"), r"unknown coupling 'sigmoid'; valid couplings: diffusive, additive, "
                               r"laplacian, tanh, sigmoidal, sigmoidal_jansen_rit, kuramoto"),
    (dict(coupling="tanh", slope=2.0), r"unknown parameter 'slope' for coupling 'tanh'; valid "
                                       r"parameters: k, scale"),
    (dict(coupled_var="z"), r"unknown coupled_var 'z' for node model 'hopf'; choose one of x, y"),
    (dict(target="v"), r"unknown coupling target 'v' for node model 'hopf'; its state variables are x, y"),
    (dict(k=np.nan), r"parameter 'diffusive.k' must be finite"),
    (dict(coupling="laplacian", normalize="symmetric"),
     r"parameter 'normalize' must be one of \(None, 'sym', 'rw'\)"),
])
def test_bad_network(kwargs, message):
    with pytest.raises(ValueError, match=message):
        net(**kwargs)


def test_bad_node_parameters():
    with pytest.raises(ValueError, match=r"unknown parameter 'omega' for node model 'hopf'; valid "
                                         r"parameters: a, w, beta\."):
        me.nodes.Hopf(omega=0.3)
    with pytest.raises(ValueError, match=r"unknown initial state 'v' for node model 'hopf'"):
        me.nodes.Hopf(initial={"v": 1.0})
    with pytest.raises(ValueError, match=r"initial\['x'\] must be a scalar or have shape \(3,\)"):
        me.Network(me.nodes.Hopf(initial={"x": np.ones(4)}), weights=W)
    with pytest.raises(ValueError, match=r"'hopf.a' must be a scalar or an array of shape \(3,\)"):
        me.Network(me.nodes.Hopf(a=np.ones(5)), weights=W)


@pytest.mark.parametrize("kwargs,message", [
    (dict(dt=0.0), r"dt must be a finite number > 0 \(ms\), got 0.0"),
    (dict(dt=-0.1), r"dt must be a finite number > 0"),
    (dict(duration=50.0, transient=50.0), r"transient must be >= 0 and shorter than duration \(50.0 ms\)"),
    (dict(transient=-1.0), r"transient must be >= 0"),
    (dict(duration=3.0), r"the longest conduction delay \(4 ms\) is longer than the run \(3 ms\): "
                         r"raise duration or speed"),
    (dict(sample_every=0), r"sample_every must be an integer >= 1"),
    (dict(sample_every=2.5), r"sample_every must be an integer >= 1"),
    (dict(integrator="rk4"), r"integrator must be one of \('euler', 'heun'\)"),
    (dict(precision="float16"), r"precision must be one of \('float32', 'float64'\)"),
    (dict(history="random"), r"history must be one of \('zeros', 'initial'\) or an \(H, N\) array"),
    (dict(history=np.zeros((3, 3))), r"history array must have shape \(H, N\) with H >= 41"),
    (dict(record=["r"]), r"unknown recorded variable 'r' for node model 'hopf'; choose one of x, y"),
    (dict(noise=-0.1), r"noise for 'x' must be a finite sigma >= 0"),
    (dict(noise={"q": 0.1}), r"unknown noise variable 'q' for node model 'hopf'"),
    (dict(duration=10.0, transient=9.9, sample_every=10), r"no samples"),
    (dict(delay_rounding="up"), r"delay_rounding must be one of \('ceil', 'round', 'floor'\)"),
])
def test_bad_run_settings(kwargs, message):
    args = dict(duration=20.0, dt=0.1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        me.simulate(net(), **args)


def test_bad_sweep_arguments():
    with pytest.raises(ValueError, match=r"k must be a non-empty 1-D list of finite numbers"):
        me.sweep(net(), k=[], duration=10.0)
    with pytest.raises(ValueError, match=r"k must be a non-empty 1-D list of finite numbers"):
        me.sweep(net(), k=[0.1, np.inf], duration=10.0)
    with pytest.raises(ValueError, match=r"unknown coupling 'tahn'.*Did you mean 'tanh'"):
        me.sweep(net(), k=[0.1], couplings=["tahn"], duration=10.0)
    with pytest.raises(ValueError, match=r"couplings must be distinct"):
        me.sweep(net(), k=[0.1], couplings=["tanh", "tanh"], duration=10.0)
    with pytest.raises(ValueError, match=r"needs a 'name' key"):
        me.sweep(net(), k=[0.1], couplings=[{"scale": 1.0}], duration=10.0)


def test_isolated_regions_warn_by_label():
    w = W.copy()
    w[1] = 0.0
    with pytest.warns(UserWarning, match=r"1 region\(s\) have no incoming connection \(B\)"):
        me.Network(me.nodes.Hopf(), weights=w, labels=["A", "B", "C"])


def test_coarse_dt_warns_that_delays_are_rounded():
    with pytest.warns(UserWarning, match=r"dt = 3 ms is longer than the shortest nonzero delay \(2 ms\)"):
        me.simulate(net(), duration=30.0, dt=3.0)


def test_node_must_be_an_instance():
    with pytest.raises(ValueError, match=r"node must be a node model instance"):
        me.Network(me.nodes.Hopf, weights=W)
