"""Plotting only: one module per experiment, each with ``plot(result, folder) -> list[pathlib.Path]`` writing
the figures of that experiment's typed result, and ``draw_<name>(result, ax)`` panels.  matplotlib is
imported inside the functions (object-oriented API, no global state), so the core install imports
everything else without it."""
