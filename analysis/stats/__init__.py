"""From histograms to results: the templates Combine sees (``templates``), datacards,
yield tables, asymptotic limits and figures.

It may import ``analysis.physics`` (the sum-of-weights key, the normalisation),
``analysis.engine`` (ROOT) and ``config``.
"""
