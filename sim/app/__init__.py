"""The user-facing shell: the ``nenpath`` command line and the workflows that run an experiment
and then write its report (e.g. :func:`sim.app.workflows.run_comparison`)."""
