localrules:
    fit,


rule fit:
    """Rank the couplings by their fit to the empirical data; refine k of the best ones by
    gradient descent (only with fit.empirical_fc or fit.empirical_bold)."""
    input:
        summary=f"{OUT}/summary.zarr",
    output:
        f"{OUT}/fit.json",
    params:
        config=FIT_CONFIG,
    log:
        f"{OUT}/logs/fit.log",
    conda:
        "../envs/massengine.yaml"
    script:
        "../scripts/fit.py"
