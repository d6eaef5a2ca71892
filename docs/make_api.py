"""Generate docs/api.md from the docstrings:  python docs/make_api.py
(tests/test_docs.py checks that api.md is what this script writes now)."""

from __future__ import annotations

import inspect
from pathlib import Path

import massengine as me
from massengine import (
    batching,
    campaign,
    chunks,
    config,
    fit,
    grid,
    hemodynamics,
    io,
    memory,
    metrics,
    refine,
    report,
    viz,
)

SECTIONS = [
    ("Networks and runs", [me.Network, me.CouplingTerm, me.simulate, me.sweep, me.integrate, me.Trajectory]),
    ("Parameter grids and refinement", [grid.valid_axes, grid.check_grid, grid.RunGrid, refine.crossings,
                                        refine.steepest, refine.next_points, refine.plan_round]),
    ("BOLD", [me.bold, hemodynamics.parameters, hemodynamics.balloon_step, hemodynamics.observe]),
    ("Connectivity", [me.Connectome, me.laplacian_connectivity, me.normalize_weights, me.delays_from_distances,
                      me.delay_steps, me.synthetic_connectome]),
    ("Data sets", [me.datasets.load, me.datasets.load_files, me.datasets.load_tvb_zip]),
    ("Node models", [me.nodes.Hopf, me.nodes.JansenRit, me.nodes.WilsonCowan, me.nodes.FitzHughNagumo,
                     me.nodes.Kuramoto, me.nodes.ReducedWongWang, me.nodes.MontbrioPazoRoxin, me.nodes.NodeModel]),
    ("Coupling kernels", [getattr(me.couplings, name) for name in me.COUPLINGS] + [me.apply_coupling]),
    ("Metrics", [metrics.functional_connectivity, metrics.mean_fc, metrics.matrix_correlation, metrics.fcd,
                 metrics.fcd_variance, metrics.order_parameter, metrics.synchrony, metrics.metastability,
                 metrics.welch_psd, metrics.peak_frequency, metrics.mean_amplitude, metrics.compute,
                 me.sweep_metrics]),
    ("Fitting to data", [fit.empirical, fit.Empirical, fit.goodness_of_fit, fit.fc_correlation, fit.fc_rmse,
                         fit.fcd_ks, fit.ks_distance, fit.score_sweep, fit.best_k, fit.fit_parameters, fit.fit_k,
                         fit.fc_loss, fit.FitResult, fit.jax_fc, fit.jax_fc_loss]),
    ("Figures", [viz.plot_timeseries, viz.plot_matrix, viz.plot_metric_vs_k, viz.plot_heatmap, viz.plot_plane,
                 viz.svg_plane, report.metric_plane, report.classify_cells, report.coinciding_couplings,
                 report.model_mismatch_warnings]),
    ("Stores", [io.as_store, io.write_store, io.open_store, io.verify_store, io.check_store, io.find_stores,
                me.open_campaign, io.combine_chunks, io.describe, io.label_coords, io.provenance_text]),
    ("Memory", [memory.estimate_bytes, memory.network_host_bytes, memory.available_bytes, memory.require,
                batching.plan, batching.footprint, batching.free_bytes]),
    ("Campaigns", [config.check, config.check_file, config.schema_path, config.check_keys, config.network,
                   config.sweep_kwargs, config.k_per_job, config.axis_values, config.grid_axes,
                   config.refine_settings, chunks.plan, chunks.chunk_id, chunks.finished, campaign.run_logged,
                   campaign.simulate_chunk, campaign.metrics_chunk, campaign.refine_round, campaign.aggregate,
                   campaign.refinement_rounds, campaign.make_report]),
]


def entry(obj) -> str:
    name = f"{obj.__module__}.{obj.__qualname__}"
    try:
        signature = str(inspect.signature(obj))
    except (TypeError, ValueError):
        signature = "(...)"
    doc = inspect.cleandoc(obj.__doc__ or "(undocumented)")
    return f"### `{name}{signature}`\n\n```\n{doc}\n```\n"


def render() -> str:
    parts = ["# API reference\n", "Generated from the docstrings by `docs/make_api.py`; shapes are given as "
             "`(time, region)`, `(N, N)` etc.\n"]
    for title, objects in SECTIONS:
        parts.append(f"## {title}\n")
        parts += [entry(obj) for obj in objects]
    return "\n".join(parts)


if __name__ == "__main__":
    path = Path(__file__).resolve().parent / "api.md"
    path.write_text(render())
    print(f"wrote {path}")
