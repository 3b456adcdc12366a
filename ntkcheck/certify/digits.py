"""Real data for the certificates: a subset of scikit-learn's ``load_digits`` (1797 8×8 grey-level images,
shipped inside scikit-learn, so nothing is downloaded), made into a certifiable instance.

The subset: the first ⌈n/k⌉ images of each of the k chosen classes in the data set's order, interleaved class
by class (image j of class c_1, image j of c_2, …) and cut to n.  Each image is a row of 64 pixel values
0..16; the subset's mean image is subtracted (without it every pair of images has a large positive inner
product and λ_min(K) is 4–10× smaller), then each row is put on the sphere and multiplied by 1 − 2⁻⁴⁰ so
that (A1) holds exactly (:mod:`ntkcheck.certify.inputs`).  Labels: ``pm1`` (two classes, d' = 1): +1 for
the first class, −1 for the second; ``onehot``: row i is 2e_{class(i)} − 1 (±1 entries, d' = k).

scikit-learn is an optional dependency (the ``certify`` and ``test`` extras).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ntkcheck.certify import inputs as I

LABELS = ("pm1", "onehot")


def _load():
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ValueError("the digits example needs scikit-learn: pip install scikit-learn "
                         "(or pip install -e '.[certify]')") from None
    d = load_digits()
    return np.asarray(d.data, dtype=np.float64), np.asarray(d.target)


def subset(classes=(0, 1), n: int = 300, labels: str = "pm1") -> tuple[np.ndarray, np.ndarray, dict]:
    """The digits instance.

    Parameters: ``classes`` distinct digits 0–9 (at least 2); ``n`` the number of images (2 ≤ n ≤ what the
    classes hold); ``labels`` "pm1" (exactly two classes, d' = 1) or "onehot" (±1 one-hot, d' = len(classes)).
    Returns (X, Y, info): X (n, 64) float64 rows on the sphere times 1 − 2⁻⁴⁰ ((A1) holds exactly), Y (n, d'),
    info a dict with the indices into ``load_digits()``, the classes and the statement of the construction."""
    classes = [int(c) for c in classes]
    if len(classes) < 2 or len(set(classes)) != len(classes) or not all(0 <= c <= 9 for c in classes):
        raise ValueError(f"--classes must be at least two distinct digits 0-9, got {classes}")
    if labels not in LABELS:
        raise ValueError(f"--labels must be one of {LABELS}, got {labels!r}")
    if labels == "pm1" and len(classes) != 2:
        raise ValueError(f"--labels pm1 needs exactly two classes, got {len(classes)} (use --labels onehot)")
    data, target = _load()
    per = [np.flatnonzero(target == c) for c in classes]
    cap = len(classes) * min(len(p) for p in per)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 2 <= n <= cap:
        raise ValueError(f"--n must be an integer in [2, {cap}] for classes {classes}, got {n!r}")
    k = -(-n // len(classes))
    idx = np.stack([p[:k] for p in per], axis=1).ravel()[:n]      # interleaved class by class
    cls = target[idx]
    Z = data[idx] - data[idx].mean(axis=0)
    X, _ = I.transform(Z, "normalize", "digits")
    if I.first_outside_unit_ball(X) is not None:      # pragma: no cover - the shrink leaves ~2^-40 of room
        raise RuntimeError("a normalised digit row is outside the unit ball")
    if labels == "pm1":
        Y = np.where(cls == classes[0], 1.0, -1.0)[:, None]
    else:
        Y = np.where(cls[:, None] == np.array(classes)[None, :], 1.0, -1.0)
    info = {"source": "sklearn.datasets.load_digits", "classes": classes, "n": int(n), "labels": labels,
            "indices": [int(i) for i in idx],
            "statement": (f"digits {classes}: n = {n} images (the first of each class, interleaved), mean image "
                          f"subtracted, each row onto the sphere times 1 − 2⁻⁴⁰; labels {labels} "
                          + ("(+1 for the first class, −1 for the second)" if labels == "pm1" else
                             "(2e_class − 1)"))}
    return X, Y, info


def write_subset(folder, classes=(0, 1), n: int = 300, labels: str = "pm1", prefix: str = "digits"):
    """:func:`subset` written as ``<prefix>_X.npy`` and ``<prefix>_Y.npy`` in ``folder`` (created).
    Returns ([X path, Y path], info)."""
    X, Y, info = subset(classes, n, labels)
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--out {folder}: not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{prefix}_X.npy", folder / f"{prefix}_Y.npy"]
    for p, a in zip(paths, (X, Y)):
        tmp = p.with_suffix(".npy.tmp")
        with open(tmp, "wb") as fh:
            np.save(fh, a, allow_pickle=False)
        tmp.replace(p)
    return paths, info
