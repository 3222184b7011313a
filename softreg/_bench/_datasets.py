"""The benchmark's synthetic datasets."""

import numpy as np
import scipy.sparse as sp


def _labels(rng, logits):
    """Labels drawn from the softmax of ``logits`` (Gumbel-max trick)."""
    return np.argmax(logits + rng.gumbel(size=logits.shape), axis=1)


def _dense(n, p, k, rng, spread=1.5):
    X = rng.standard_normal((n, p))
    Wt = rng.standard_normal((p, k)) * (spread / np.sqrt(p))
    y = _labels(rng, X @ Wt + 0.5 * rng.standard_normal(k))
    return X, y


def _make_dense64(scale, rng):
    return _dense(max(200, int(200_000 * scale)), 100, 10, rng)


def _make_dense32(scale, rng):
    X, y = _make_dense64(scale, rng)
    return X.astype(np.float32), y


def _make_tall(scale, rng):
    X, y = _dense(max(200, int(500_000 * scale)), 20, 5, rng)
    # A few raw, badly scaled columns, as in unpreprocessed data: a large
    # unit, a tiny unit, and a large offset with a moderate spread.
    X[:, 0] *= 1e3
    X[:, 1] *= 1e-2
    X[:, 2] = 500.0 + 30.0 * X[:, 2]
    return X, y


def _make_sparse(scale, rng):
    n = max(200, int(50_000 * scale))
    p = max(500, int(20_000 * min(1.0, scale)))
    density = 0.005
    X = sp.random(
        n,
        p,
        density=density,
        format="csr",
        random_state=rng,
        data_rvs=rng.standard_normal,
    )
    Wt = rng.standard_normal((p, 20)) * (2.0 / np.sqrt(density * p))
    y = _labels(rng, np.asarray(X @ Wt))
    return X, y


def _make_classes(scale, rng):
    return _dense(max(1000, int(50_000 * scale)), 100, 100, rng)


#: name -> (description at scale 1, builder(scale, rng) -> (X, y)).
DATASETS = {
    "dense64": ("dense float64 200000x100, 10 classes", _make_dense64),
    "dense32": ("dense float32 200000x100, 10 classes", _make_dense32),
    "tall": ("tall float64 500000x20, 5 classes, 3 badly scaled columns", _make_tall),
    "sparse": ("sparse CSR 50000x20000, 0.5% density, 20 classes", _make_sparse),
    "classes": ("dense float64 50000x100, 100 classes", _make_classes),
}


def make_dataset(name, scale=1.0, seed=0):
    """The benchmark's dataset ``name`` with its row count times ``scale``.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS`.
    scale : float, default=1.0
        Multiplies the number of rows (and, below 1, the sparse dataset's
        number of columns), for quick runs.
    seed : int, default=0

    Returns
    -------
    X : ndarray or csr_matrix
    y : ndarray of int

    Examples
    --------
    >>> from softreg._bench import make_dataset
    >>> X, y = make_dataset("tall", scale=0.001)
    >>> X.shape, sorted(set(y)) == [0, 1, 2, 3, 4]
    ((500, 20), True)
    """
    return DATASETS[name][1](scale, np.random.default_rng(seed))


def _describe(X, y):
    kind = "CSR" if sp.issparse(X) else "dense"
    density = f", {100 * X.nnz / np.prod(X.shape):.2g}% nnz" if sp.issparse(X) else ""
    return (
        f"{kind} {X.dtype} {X.shape[0]}x{X.shape[1]}{density}, "
        f"{np.unique(y).size} classes"
    )
