"""The processes a run starts: the Dask LocalCluster or the connection to a running
scheduler (``cluster``), the preload of the workers it starts (``preload``) and an exit
without Python's final collections (``fast_exit``).

It may import ``analysis.engine`` (ROOT's XRootD client settings), nothing above.
"""
