"""Plotting only: one module per experiment, each with ``plot(result, folder) -> list[pathlib.Path]`` writing
the figures of the experiment's typed result, and panels ``draw_<name>(result, ax)``.

Figures are built with ``matplotlib.figure.Figure`` (no pyplot global state, no backend switch, no rcParams
change), and matplotlib is imported inside the functions, so the core install imports without it.
"""
