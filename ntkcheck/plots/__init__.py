"""The figures, one module per experiment: ``plot(result, folder) -> list[pathlib.Path]`` writes the figures of
one experiment's result, each panel a ``draw_<name>(result, ax)``.  matplotlib is imported inside the
functions (the core install has none) and only through its object-oriented API: no backend is chosen and no
global state (pyplot, rcParams) is changed."""
