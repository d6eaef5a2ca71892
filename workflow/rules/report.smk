localrules:
    report_html,


rule report_html:
    """The self-contained HTML comparison report."""
    input:
        summary=f"{OUT}/summary.zarr",
        examples=list(example_stores().values()),
    output:
        report(f"{OUT}/report.html", caption="../report/comparison.rst", category="Report"),
    params:
        config=RESOLVED,
        examples=example_stores(),
    log:
        f"{OUT}/logs/report.log",
    conda:
        "../envs/massengine.yaml"
    script:
        "../scripts/report.py"
