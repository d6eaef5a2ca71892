"""Each workflow job receives only the slice of the config it reads: after a finished
campaign, editing a setting reruns only what depends on it (through the real snakemake)."""

import yaml
from test_workflow import job_counts

from conftest import TINY, snakemake


def _dry_run(campaign, **edits):
    work, out = campaign
    config = yaml.safe_load(TINY.read_text())
    for section, values in edits.items():
        config.setdefault(section, {}).update(values)
    path = work / f"edited-{'-'.join(edits)}.yaml"
    path.write_text(yaml.safe_dump(config))
    run = snakemake("-n", "--configfile", str(path), "--config", f"output_dir={out}", workdir=work)
    assert run.returncode == 0, run.stderr[-3000:]
    return job_counts(run.stdout + run.stderr)


def test_an_unchanged_campaign_has_nothing_to_do(campaign):
    work, out = campaign
    run = snakemake("-n", "--configfile", str(TINY), "--config", f"output_dir={out}", workdir=work)
    assert run.returncode == 0 and job_counts(run.stdout + run.stderr) == {}, run.stdout[-2000:]


def test_a_new_report_title_reruns_only_the_report(campaign):
    assert _dry_run(campaign, report={"title": "another title"}) == {"report_html": 1, "default_target": 1}


def test_a_new_fcd_window_reruns_metrics_but_no_simulation(campaign):
    counts = _dry_run(campaign, metrics={"fcd_window": 40.0})
    assert "simulate" not in counts
    assert counts["metrics"] == 4 and counts["aggregate"] == 1 and counts["report_html"] == 1


def test_a_new_simulation_setting_reruns_the_simulations(campaign):
    """The check is not blind: what a simulation reads does rerun it."""
    counts = _dry_run(campaign, simulation={"integrator": "heun"})
    assert counts["simulate"] == 4 and counts["metrics"] == 4
