"""The seed policy: every random draw derives from the user's seed through ``numpy.random.SeedSequence``,
spawned by *purpose* (what the draw is for) and by integer keys (which cell, which draw).

Two experiments that draw for different purposes never share draws by accident, and a draw's stream
does not depend on how many other draws were made before it, nor on the order, the chunking or the
number of workers.  A purpose is a name from :data:`PURPOSES`; its key in the spawn tree is the CRC-32
of the name (stable across Python versions and machines, unlike ``hash``).

>>> import numpy as np
>>> a = rng(0, "width.init", 3).standard_normal(2)
>>> b = rng(0, "width.init", 3).standard_normal(2)
>>> bool(np.array_equal(a, b))
True
>>> derived_seed(0, "width.init", 3) != derived_seed(0, "width.data", 3)
True
"""
from __future__ import annotations

import zlib

import numpy as np

#: The purposes a draw can serve.  Add a name here before using it; :func:`purpose_key` refuses others,
#: so that a typo cannot silently create a new stream.
PURPOSES = (
    "data", "labels", "init",
    "width.data", "width.labels", "width.init", "width.certified",
    "compare.data", "compare.labels", "compare.init", "compare.directions",
    "diffusion.data", "diffusion.init", "diffusion.noise", "diffusion.times", "diffusion.samples",
    "check.stream", "check.data", "check.init", "check.labels", "check.directions", "check.noise",
    "check.eval",
    "certify.init", "sweep.cell", "stream.block",
)

_KEYS = {name: zlib.crc32(name.encode()) for name in PURPOSES}
if len(set(_KEYS.values())) != len(_KEYS):                   # pragma: no cover - a new name collided
    raise RuntimeError("two seed purposes have the same CRC-32; rename one")


def purpose_key(purpose: str) -> int:
    """The spawn key of a purpose (its CRC-32).  ``ValueError`` for a name not in :data:`PURPOSES`."""
    try:
        return _KEYS[purpose]
    except KeyError:
        raise ValueError(f"unknown seed purpose {purpose!r}; known: {', '.join(PURPOSES)}") from None


def sequence(seed: int, purpose: str, *keys: int) -> np.random.SeedSequence:
    """The ``SeedSequence`` of the draw for ``purpose`` with integer ``keys`` under the user's ``seed``.

    Parameters: ``seed`` a non-negative int (the user's seed); ``purpose`` a name in :data:`PURPOSES`;
    ``keys`` non-negative ints (e.g. the width index and the draw index).  Returns the sequence whose
    spawn key is ``(purpose_key(purpose), *keys)``.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    for k in keys:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
            raise ValueError(f"seed keys must be non-negative integers, got {k!r}")
    return np.random.SeedSequence(int(seed), spawn_key=(purpose_key(purpose), *(int(k) for k in keys)))


def rng(seed: int, purpose: str, *keys: int) -> np.random.Generator:
    """A ``numpy.random.Generator`` on :func:`sequence` ``(seed, purpose, *keys)``."""
    return np.random.default_rng(sequence(seed, purpose, *keys))


def derived_seed(seed: int, purpose: str, *keys: int) -> int:
    """A 63-bit integer seed drawn from :func:`sequence`, for functions whose argument is an int seed
    (``init_params(..., seed=derived_seed(seed, "width.init", i, j))``)."""
    return int(sequence(seed, purpose, *keys).generate_state(1, np.uint64)[0] >> np.uint64(1))
