"""Fitting and probing the model: calibration targets and inputs, the search, the overlay and
its report, and probabilistic sensitivity analysis (PSA)."""
