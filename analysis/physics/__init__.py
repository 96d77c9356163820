"""The analysis on NanoAOD: synthetic samples (``generator``), the NanoAOD versions'
differences (``nanoaod``), the skim, the objects and categories (``selection``), the event
weight (``weights``), b-tag efficiencies, histograms and snapshots, each a graph of the engine.

It may import ``analysis.engine`` and ``config`` (shifts, processes), nothing above.
"""
