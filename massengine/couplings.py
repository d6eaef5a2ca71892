"""Coupling kernels and their registry.

Every coupling is one weighted sum shared by all kinds (as in TVB), framed by three pure
pieces (formulas and defaults: docs/semantics.md):

- ``source(v)``: a nonlinearity that depends on the source only (the Jansen–Rit sigmoid).
  The engine applies it once per region when it writes the ring buffer (N, not N², work).
- ``edge(v_ij, x_i)``: a per-edge function of the delayed source read and the target's
  present value (broadcast to the edges) (``sin(theta_j - theta_i)`` for Kuramoto); identity elsewhere.
- ``node(S_i, x_i)``: what turns the weighted sum ``S_i = sum_j A_ij edge(...)`` into the
  coupling current (``k * tanh(scale * S)``...).

``A`` is the weights ``W`` for every coupling except ``laplacian``, which sums ``-L``'s
off-diagonal and adds its diagonal times the present value. ``diffusive`` is written the
same way (``A = W``, ``d = rowsum W``), so that ``laplacian`` with ``normalize=None`` equals
``diffusive`` bit for bit.

The public kernels (``diffusive(xd, x_self, weights, k=..., ...)``...) take a delayed source
read ``xd`` of shape (N, N) — target i reads every source j — the targets' present values
``x_self`` (N,) and the weights (N, N), and return the (N,) coupling current. The engine calls
the very same pieces, so what the kernels compute is what the simulator integrates.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp

from .connectivity import LAPLACIAN_NORMALIZATIONS, laplacian_formula
from .parameters import Param, closest, resolve

K_PARAM = Param(0.1, "global coupling strength (TVB's G); sweep it, start ~0.1–0.5")


def _identity_source(v, p):
    return v


def _identity_edge(v, x_target, p):
    return v


@dataclass(frozen=True)
class Coupling:
    """A coupling kind: its formula, parameters and the three pieces described above.

    ``prepare(weights, p)`` returns ``(A, d)``: the matrix of the weighted sum and the
    per-target factor of the present value (``None`` when there is none). Parameters listed
    in ``static`` are not numbers (``normalize``); they select code rather than values.
    """

    name: str
    formula: str
    when: str
    params: Mapping[str, Param]
    node: Callable
    source: Callable = _identity_source
    edge: Callable = _identity_edge
    prepare: Callable = field(default=lambda w, p: (w, None))
    static: tuple[str, ...] = ()

    @property
    def has_source(self) -> bool:
        return self.source is not _identity_source

    @property
    def has_edge(self) -> bool:
        return self.edge is not _identity_edge

    def resolve(self, given: Mapping) -> dict:
        return resolve(f"coupling {self.name!r}", self.params, given)

    def current(self, reads, x_self, prepared, p):
        """Coupling current (N,) from a dense read already passed through ``source``.

        ``reads`` (N, N): ``reads[i, j] = source(x_j(t - tau_ij))``.
        """
        a, d = prepared
        values = self.edge(reads, x_self[:, None], p) if self.has_edge else reads
        return self.finish(weighted_sum(values, a), x_self, d, p)

    def current_edges(self, reads, x_self, edge_weights, d, targets, p):
        """The same current from the nonzero edges only: ``reads`` (E,) of the sources seen
        by ``targets`` (sorted, as ``np.nonzero`` gives them), ``edge_weights`` (E,) the
        matching entries of ``A`` and ``d`` the factor of ``prepare``; the cost grows with
        E, not N²."""
        values = self.edge(reads, x_self[targets], p) if self.has_edge else reads
        return self.finish(weighted_sum(values, edge_weights, targets, x_self.shape[0]), x_self, d, p)

    def finish(self, summed, x_self, d, p):
        """The current from the weighted sum ``S_i`` and the present values ``x_i``: minus
        ``d * x_i`` (diffusive, laplacian), then ``node``."""
        if d is not None:
            summed = summed - d * x_self
        return self.node(summed, x_self, p)


def weighted_sum(values, a, targets=None, n_targets=None):
    """``S_i = sum_j A_ij values_ij``, over any trailing axes of ``values`` (the engine's
    block steps and batch: (..., U, B)). Dense or padded lists: ``values`` (N, N or K, ...)
    summed over axis 1. Edge list (``targets`` given): ``values`` (E, ...) against edge
    weights ``a`` (E,) or (E, 1), added per target into ``n_targets`` rows."""
    weighted = _trailing(a, values) * values
    if targets is None:
        return jnp.sum(weighted, axis=1)
    return jax.ops.segment_sum(weighted, targets, num_segments=n_targets, indices_are_sorted=True)


def _trailing(a, like):
    """``a`` with unit axes appended to match ``like``'s trailing axes (the engine runs a
    batch innermost: reads (N, N, B), (E, B), or (E, U, B) over a block of U steps; the
    public kernels have none; edge weights come as (E, 1) and broadcast the same way)."""
    return a.reshape(a.shape + (1,) * (like.ndim - a.ndim))


def _linear_prepare(weights, p):
    return weights, jnp.sum(weights, axis=1)


def _laplacian_prepare(weights, p):
    lap = p.get("laplacian")
    if lap is None:
        lap = laplacian_formula(weights, p["normalize"], jnp)
    lap = jnp.asarray(lap)
    diag = jnp.diagonal(lap)
    return jnp.diag(diag) - lap, diag


def _sigmoid_jr(v, p):
    return p["cmin"] + (p["cmax"] - p["cmin"]) / (1.0 + jnp.exp(p["r"] * (p["midpoint"] - v)))


COUPLINGS: dict[str, Coupling] = {
    c.name: c
    for c in [
        Coupling(
            "diffusive",
            "k * sum_j W_ij (x_j(t - tau_ij) - x_i(t))",
            "synchronisation through differences; the default",
            {"k": K_PARAM},
            node=lambda s, x, p: p["k"] * s,
            prepare=_linear_prepare,
        ),
        Coupling(
            "additive",
            "k * sum_j W_ij x_j(t - tau_ij) + b",
            "the connectome as a genuine input; the cheapest",
            {"k": K_PARAM, "b": Param(0.0, "constant offset added to every region")},
            node=lambda s, x, p: p["k"] * s + p["b"],
        ),
        Coupling(
            "laplacian",
            "-k * (L x)_i, off-diagonal terms delayed, the diagonal reads x_i(t)",
            "diffusive through a (possibly normalised) Laplacian; reusable L",
            {
                "k": K_PARAM,
                "normalize": Param(
                    None,
                    "Laplacian variant: None (D - W), 'sym' or 'rw'",
                    choices=LAPLACIAN_NORMALIZATIONS,
                ),
                "laplacian": Param(None, "a precomputed (N, N) Laplacian; overrides normalize"),
            },
            node=lambda s, x, p: p["k"] * s,
            prepare=_laplacian_prepare,
            static=("normalize",),
        ),
        Coupling(
            "tanh",
            "k * tanh(scale * sum_j W_ij x_j(t - tau_ij))",
            "symmetric saturation when strong coupling destabilises",
            {"k": K_PARAM, "scale": Param(2.0, "gain inside the tanh", low=0.0)},
            node=lambda s, x, p: p["k"] * jnp.tanh(p["scale"] * s),
        ),
        Coupling(
            "sigmoidal",
            "k * sigmoid(slope * (a * S_i + b - midpoint)), S_i = sum_j W_ij x_j(t - tau_ij)",
            "one-sided, thresholded, firing-rate-like input",
            {
                "k": K_PARAM,
                "a": Param(1.0, "gain on the weighted sum"),
                "b": Param(0.0, "offset added to the weighted sum"),
                "slope": Param(1.0, "steepness of the logistic", low=0.0),
                "midpoint": Param(0.0, "input at half activation"),
            },
            node=lambda s, x, p: p["k"]
            * jax.nn.sigmoid(p["slope"] * (p["a"] * s + p["b"] - p["midpoint"])),
        ),
        Coupling(
            "sigmoidal_jansen_rit",
            "k * sum_j W_ij sJR(x_j(t - tau_ij)), "
            "sJR(v) = cmin + (cmax - cmin) / (1 + exp(r * (midpoint - v)))",
            "the Jansen–Rit presynaptic transfer of the pyramidal potential y1 - y2",
            {
                "k": K_PARAM,
                "cmin": Param(0.0, "lowest firing rate", "1/ms"),
                "cmax": Param(0.005, "highest firing rate (2 e0)", "1/ms"),
                "midpoint": Param(6.0, "potential at half the maximal rate (v0)", "mV"),
                "r": Param(0.56, "steepness of the sigmoid", "1/mV", low=0.0),
            },
            node=lambda s, x, p: p["k"] * s,
            source=_sigmoid_jr,
        ),
        Coupling(
            "kuramoto",
            "k * sum_j W_ij sin(theta_j(t - tau_ij) - theta_i(t))",
            "phase oscillators: pulls each phase toward its inputs'",
            {"k": K_PARAM},
            node=lambda s, x, p: p["k"] * s,
            edge=lambda v, x_target, p: jnp.sin(v - x_target),
        ),
    ]
}


def get_coupling(name: str) -> Coupling:
    """The registered coupling ``name``; an unknown name lists the valid ones."""
    try:
        return COUPLINGS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown coupling {name!r}; valid couplings: {', '.join(COUPLINGS)}."
            + closest(str(name), COUPLINGS)
        ) from None


def check_reads(xd, x_self, weights):
    """Raise ``ValueError`` unless ``xd`` is (N, N), ``x_self`` (N,), ``weights`` (N, N)."""
    n = jnp.shape(x_self)[0] if jnp.ndim(x_self) == 1 else None
    if n is None:
        raise ValueError(
            f"x_self must be the (N,) present values of the targets, got shape {jnp.shape(x_self)}."
        )
    if jnp.shape(xd) != (n, n):
        raise ValueError(
            f"the delayed source read xd must have shape (N, N) = ({n}, {n}) (target i reads "
            f"every source j), got {jnp.shape(xd)}."
        )
    if jnp.shape(weights) != (n, n):
        raise ValueError(f"weights must have shape ({n}, {n}), got {jnp.shape(weights)}.")


def apply_coupling(name: str, xd, x_self, weights, **params):
    """The (N,) coupling current of coupling ``name`` for a delayed read ``xd`` (N, N)."""
    coupling = get_coupling(name)
    p = coupling.resolve(params)
    check_reads(xd, x_self, weights)
    xd, x_self, weights = jnp.asarray(xd), jnp.asarray(x_self), jnp.asarray(weights)
    reads = coupling.source(xd, p) if coupling.has_source else xd
    return coupling.current(reads, x_self, coupling.prepare(weights, p), p)


def _public_kernel(coupling: Coupling):
    def kernel(xd, x_self, weights, **params):
        return apply_coupling(coupling.name, xd, x_self, weights, **params)

    positional = [
        inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        for n in ("xd", "x_self", "weights")
    ]
    keywords = [
        inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=spec.default)
        for n, spec in coupling.params.items()
    ]
    kernel.__signature__ = inspect.Signature(positional + keywords)
    kernel.__name__ = kernel.__qualname__ = coupling.name
    lines = [f"    {n}: {s.doc} (default {s.default!r})" for n, s in coupling.params.items()]
    kernel.__doc__ = (
        f"``{coupling.name}`` coupling current: {coupling.formula}.\n\n"
        f"When to use: {coupling.when}.\n\n"
        "xd (N, N): delayed source read, xd[i, j] = x_j(t - tau_ij); x_self (N,): x_i(t);\n"
        "weights (N, N), row = target. Returns the (N,) current. Parameters:\n"
        + "\n".join(lines)
    )
    return kernel


diffusive = _public_kernel(COUPLINGS["diffusive"])
additive = _public_kernel(COUPLINGS["additive"])
laplacian = _public_kernel(COUPLINGS["laplacian"])
tanh = _public_kernel(COUPLINGS["tanh"])
sigmoidal = _public_kernel(COUPLINGS["sigmoidal"])
sigmoidal_jansen_rit = _public_kernel(COUPLINGS["sigmoidal_jansen_rit"])
kuramoto = _public_kernel(COUPLINGS["kuramoto"])
