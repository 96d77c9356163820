"""Physics code of tmet: plain functions with no law in them.

Only the modules that build RDataFrame graphs import ROOT, and they do it through
``analysis.root_setup`` so that the C++ kernels are declared once per process.
"""

__version__ = "0.1.0"
