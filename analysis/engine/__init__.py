"""The engine: RDataFrame graphs recorded from Python and compiled into C++ libraries
(``compiled``, ``build``), correctionlib corrections bound and written as C++
(``corrections``, ``correction_code``), Keras models written as C++ (``model_code``), ROOT
set up once per process (``root_setup``), input files opened and checked (``inputs``), a
loop run here or on Dask workers (``dispatch``) and what those workers get (``worker_setup``).

It imports no other floor of ``analysis``: only ``analysis.errors`` and ``analysis.revision``.
"""
