localrules:
    report_html,


rule report_html:
    """The self-contained HTML comparison report."""
    input:
        summary=f"{OUT}/summary.zarr",
        fit=FIT_OUTPUTS,
        trajectories=all_sim_stores,
    output:
        report(f"{OUT}/report.html", caption="../report/comparison.rst", category="Report"),
    params:
        config=REPORT_CONFIG,
        fit=FIT_OUTPUTS[0] if FITTING else None,
    log:
        f"{OUT}/logs/report.log",
    conda:
        "../envs/massengine.yaml"
    script:
        "../scripts/report.py"
