"""Running the model many times: replications, backends (serial, processes, Dask), the
checkpoint store behind ``--resume``, statistics (CIs, paired differences), warm-up analysis and the
capacity sizing search."""
