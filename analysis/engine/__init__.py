"""The engine: RDataFrame graphs recorded from Python and compiled into C++ libraries
(``compiled``, ``build``), correctionlib corrections bound and written as C++
(``corrections``, ``correction_code``), Keras models written as C++ (``model_code``), ROOT
set up once per process (``root_setup``), input files opened and checked (``inputs``), and
a loop run here or on Dask workers (``workers``).

It imports no other floor of ``analysis``: only ``analysis.errors`` and ``analysis.revision``.
"""
