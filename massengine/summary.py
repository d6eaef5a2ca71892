"""Queries over a campaign's summary (``summary.zarr``) that the report and its figures
share: one definition each, so that ``report`` and ``viz`` only render."""

from __future__ import annotations

import xarray as xr


def simulated_runs(summary: xr.Dataset) -> xr.DataArray:
    """True for each run (the dims of ``diverged``) that was simulated: where ``round`` is
    recorded (broadcast over the dims it lacks), else where ``diverged`` is not missing
    (an outer join of couplings refined at different k leaves the others' cells empty)."""
    div = summary["diverged"]
    known = summary["round"].notnull() if "round" in summary else div.notnull()
    return xr.broadcast(known, div)[0].transpose(*div.dims)
