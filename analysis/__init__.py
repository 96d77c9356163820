"""tmet's analysis code: plain functions and classes with no law in them, in four floors.

Each floor imports only the floors below it (tests/test_layout.py checks it), and every
floor may use the modules at the top: ``errors`` (TmetError), ``revision`` (which tmet
this is) and ``top_tagger`` (the analysis group's Keras top tagger: ``load_model``, its
``predict`` and feature check; it uses the engine only):

- ``engine``: a compiler and its runtime: RDataFrame graphs recorded in Python and compiled
  to C++ libraries, correctionlib corrections written as C++, ROOT's set-up, input files,
  and running a loop here or on Dask workers;
- ``runtime``: the processes tmet starts: the Dask cluster, its workers' preload, a quick exit;
- ``physics``: the analysis on NanoAOD: the generator, skim, selection, weights, b-tag
  efficiencies, histograms and snapshots;
- ``stats``: from histograms to results: templates, datacards, yields, limits and figures.

The C++ of the kernels and of the engine's runtime is in ``cpp/``.
"""

__version__ = "0.1.0"
