"""The web app (Streamlit): compare scenarios, size a service, reopen a run, watch the pathway.

Started by ``nenpath app`` (or ``make app``); the entry script is :mod:`sim.app.web.main`.
Everything that is not drawing lives in plain modules that tests call directly:

- :mod:`~sim.app.web.levers`: the scenario levers a variant can change, and the TOML overlay
  built from them (validated by the same loader as ``nenpath validate``);
- :mod:`~sim.app.web.jobs`: runs in a background process (the ``nenpath`` command itself, via
  :mod:`~sim.app.web.job`), keyed run folders under ``outputs/app/``, progress, cancel,
  run-time estimates and the list of stored runs;
- :mod:`~sim.app.web.results`: what a stored run folder says (headlines by kind of user,
  tables), read from disk only;
- :mod:`~sim.app.web.charts`: the interactive figures (plotly, colour-blind-safe palette);
- :mod:`~sim.app.web.pathway`: the animation of patients through the pathway (vidigi);
- ``page_*``: one module per page, thin.
"""
