"""Presenting stored results: comparison tables, plain-English headlines, plots and the HTML
report. Reads finished runs from disk; runs no simulation."""
