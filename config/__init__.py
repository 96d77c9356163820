"""order objects of the tmet analysis: processes, configs, datasets, shifts, categories, variables.

Import ``config.analysis.get_config`` to use them; nothing in this package runs physics.
"""
