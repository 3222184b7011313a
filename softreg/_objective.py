"""The penalised linear objective over one flat parameter vector.

With scores ``z_i = (W x_i + b) / T``, weights ``s_i`` and ``S = sum_i s_i``::

    f(W, b) = (1/S) sum_i s_i loss(y_i, z_i) + ||W||_F^2 / (2 C S)

which is scikit-learn's multinomial objective (``LinearModelLoss`` with
``l2_reg_strength = 1 / (C S)``). The normalizer supplies ``loss`` and its
gradient with respect to ``z`` (and, for Newton solvers, Hessian-vector
products); this module only does the linear algebra. The penalty is an
object (:class:`softreg._penalty.ElasticNet`): with ``l1_ratio = r`` the
objective evaluated here is the smooth part, data plus
``(1 - r) ||W||_F^2 / (2 C S)``; the L1 part and bounds are left to the
bounded solver view (:mod:`softreg._split`).

The flat vector holds ``W^T`` (shape ``(n_features, n_classes)``) row by row,
followed by ``b`` when there is an intercept, so ``X @ W^T`` and ``X^T @ R``
need no transposed copies.

Every pass over the data is fused and blocked: for each row block ``X_b`` the
scores, the normalizer's work and the product ``X_b^T R_b`` are done while
``X_b`` is still in cache, so ``X`` is read from memory once per pass instead
of twice, and no array of ``n_samples`` rows is ever allocated.
"""

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.utils import assert_all_finite

from . import _blocks
from ._blocks import (
    BlockRunner,
    CSRBlock,
    add_rmatmul,
    chunk_ranges,
    plan_blocks,
    row_block,
)
from ._penalty import ElasticNet


def one_hot_columns(y, n_classes, dtype):
    """One-hot targets of integer labels, column-major like the scores."""
    n = y.shape[0]
    Y = np.zeros((n_classes, n), dtype=dtype)
    # Flat indices into the C-ordered (classes, rows) array: about 2x faster
    # than a two-array fancy assignment for a handful of classes.
    Y.ravel()[y * n + np.arange(n)] = 1
    return Y.T


def unpack(w, n_features, n_classes):
    """Views ``(W^T, b)`` of a flat parameter vector; ``b`` is None if absent."""
    Wt = w[: n_features * n_classes].reshape(n_features, n_classes)
    b = w[n_features * n_classes :] if w.size > n_features * n_classes else None
    return Wt, b


def linear_scores(X, Wt, b, inv_temperature):
    """``(X @ W^T + b) / T`` for one block, in ``X``'s dtype, column-major.

    Column-major (Fortran) order puts each class's scores side by side, so
    the normalizer's row-wise reductions over a handful of classes (max,
    sum, log-sum-exp) become elementwise operations between whole columns,
    which numpy vectorises; over a C-ordered block they are short strided
    reductions, several times slower.
    """
    if isinstance(X, CSRBlock):
        Z = np.asfortranarray(X.matmul(Wt))
    elif sp.issparse(X):
        Z = np.asfortranarray(X @ Wt)
    else:
        Z = (Wt.T @ X.T).T
    if b is not None:
        Z += b
    if inv_temperature != 1.0:
        Z *= inv_temperature
    return np.asarray(Z)


def map_score_blocks(
    X,
    Wt,
    b,
    func,
    runner=None,
    inv_temperature=1.0,
    block_rows=None,
    check_finite=False,
):
    """``func`` applied to the scores ``(X W^T + b) / T``, block by block.

    The blocks are evaluated on ``runner``'s threads and written into one
    preallocated output, so neither ``X`` nor the full score matrix is ever
    copied and the normalizer's work happens while a block is in cache.

    Parameters
    ----------
    X : {ndarray, csr_matrix} of shape (n_samples, n_features)
    Wt : ndarray of shape (n_features, n_classes)
    b : ndarray of shape (n_classes,) or None
    func : callable
        Maps a score block ``(n_rows, n_classes)`` to an array of ``n_rows``
        rows (probabilities, log-probabilities, decision scores).
    runner : BlockRunner, default=None
        Serial when None.
    inv_temperature : float, default=1.0
    block_rows : int, default=None
        Rows per block; by default as for the objective.
    check_finite : bool, default=False
        Raise scikit-learn's ValueError if ``X`` holds NaN or infinity. The
        test is fused into the blocks: a non-finite entry of a row makes
        every score of that row non-finite (``inf * 0`` is NaN), so only
        the small score blocks are scanned, on the worker threads, and
        ``X`` itself is scanned (by :func:`sklearn.utils.assert_all_finite`,
        for its exact message) only when a score is not finite.

    Returns
    -------
    out : ndarray of shape (n_samples, ...)

    Examples
    --------
    >>> import numpy as np
    >>> from softreg._objective import map_score_blocks
    >>> X = np.arange(6.0).reshape(3, 2)
    >>> map_score_blocks(X, np.eye(2), None, lambda Z: Z.sum(axis=1))
    array([1., 5., 9.])
    """
    runner = runner if runner is not None else BlockRunner(1)
    slices = plan_blocks(X, Wt.shape[1], block_rows)

    finite = []

    def block(sl):
        if not check_finite:
            return func(linear_scores(row_block(X, sl), Wt, b, inv_temperature))
        # inf * 0 in the product is reported as the ValueError below.
        with np.errstate(invalid="ignore"):
            Z = linear_scores(row_block(X, sl), Wt, b, inv_temperature)
        if np.isfinite(Z).all():
            return func(Z)
        finite.append(False)
        # NaN in X: the ValueError below is the report, not the normalizer's
        # RuntimeWarnings about the NaN scores it was handed.
        with np.errstate(all="ignore"):
            return func(Z)

    if len(slices) <= 1:
        out = block(slice(0, X.shape[0]))
    else:
        first = block(slices[0])
        out = np.empty((X.shape[0], *first.shape[1:]), dtype=first.dtype)
        out[slices[0]] = first
        rest = slices[1:]

        def chunk(bounds):
            for sl in rest[bounds[0] : bounds[1]]:
                out[sl] = block(sl)

        runner.map(chunk, chunk_ranges(len(rest), runner.n_threads))
    if finite:
        # Raises for NaN or infinity in X; finite X whose scores overflow
        # gets its scores, as from LogisticRegression, with a warning.
        assert_all_finite(X, input_name="X")
        warnings.warn(
            "Some scores X @ coef_.T + intercept_ overflow to infinity; the "
            "outputs of those rows may be NaN.",
            RuntimeWarning,
            stacklevel=3,
        )
    return out


class LinearObjective:
    """Loss, gradient and Hessian products of the penalised objective.

    Parameters
    ----------
    X : {ndarray, csr_matrix} of shape (n_samples, n_features)
        Training data, float32 or float64; never copied, and only read
        through row blocks. Each block's scores, the normalizer's work and
        the gradient rows are in ``X``'s dtype; sums over blocks are float64.
    y : ndarray of shape (n_samples,)
        Encoded labels in ``range(n_classes)``.
    n_classes : int
    normalizer : object
        Has ``loss_gradient(Y, Z)``; :meth:`hessp` also needs
        ``hessp(Z, V, Y=None)``.
    sample_weight : ndarray of shape (n_samples,)
        Per-sample weights ``s_i`` (class weights already folded in).
    C : float
        Inverse penalty strength; ``np.inf`` for no penalty.
    fit_intercept : bool
    temperature : float, default=1.0
    runner : BlockRunner, default=None
        The thread pool evaluating the chunks; serial when None.
    block_rows : int, default=None
        Rows per block; by default sized to the L2 cache (dense) or to a
        number of stored entries (sparse), see :mod:`softreg._blocks`.
    penalty : ElasticNet, default=None
        The penalty's form (``l1_ratio``, bounds); its strength is
        ``1 / (C S)``. None is the L2 penalty. Bound to ``C`` and ``S`` as
        the attribute ``penalty``.
    moments : tuple of two ndarrays, default=None
        The result of :meth:`feature_moments` for this ``X`` and
        ``sample_weight``, when already known (a regularisation path fits
        the same data at many ``C``); computed on first use otherwise.

    Notes
    -----
    The blocks are grouped into consecutive chunks (one thread-pool task
    each); each chunk accumulates its own gradient, and the chunk results are
    added in chunk order. The chunking depends only on the data's shape and
    the runner's thread count, so for a given ``n_jobs`` the result is the
    same bit for bit on every run.

    Examples
    --------
    >>> import numpy as np
    >>> from softreg._objective import LinearObjective
    >>> from softreg.normalizers import Softmax
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    >>> obj = LinearObjective(X, np.array([0, 1, 2]), 3, Softmax(),
    ...                       np.ones(3), C=1.0, fit_intercept=True)
    >>> loss, grad = obj.loss_gradient(np.zeros(obj.n_params))
    >>> bool(np.isclose(loss, np.log(3))), grad.shape
    (True, (9,))
    """

    def __init__(
        self,
        X,
        y,
        n_classes,
        normalizer,
        sample_weight,
        C,
        fit_intercept,
        temperature=1.0,
        runner=None,
        block_rows=None,
        penalty=None,
        moments=None,
    ):
        self.X = X
        self.y = y
        self.n_classes = n_classes
        self.normalizer = normalizer
        self.sample_weight = sample_weight
        self.fit_intercept = fit_intercept
        self.inv_temperature = 1.0 / temperature
        self.runner = runner if runner is not None else BlockRunner(1)
        self.n_features = X.shape[1]
        self.dtype = X.dtype
        self.sw_sum = float(np.sum(sample_weight, dtype=np.float64))
        self.penalty = (penalty if penalty is not None else ElasticNet()).bind(
            C, self.sw_sum
        )
        # The quadratic strength, which the standardisation's scales use.
        self.l2 = self.penalty.l2
        self.slices = plan_blocks(X, n_classes, block_rows)
        self.blocks = [row_block(X, sl) for sl in self.slices]
        buffer_bytes = self.n_features * n_classes * self.dtype.itemsize
        self.chunks = chunk_ranges(
            len(self.slices),
            self.runner.n_threads,
            max_chunks=_blocks._CHUNK_BUFFER_BYTES // max(1, buffer_bytes),
        )
        # s_i / S times the chain-rule factor 1/T of z = (W x + b) / T. With
        # equal weights (the usual case) that is one number, applied to each
        # chunk's sums instead of to every row of every block.
        scale = self.inv_temperature / self.sw_sum
        sw = np.asarray(sample_weight)
        if sw.size and np.all(sw == sw.flat[0]):
            self._row_scale = None
            self._weight = float(sw.flat[0])
        else:
            self._row_scale = np.asarray(sw * scale, dtype=self.dtype)
            self._weight = None
        self._scale = scale
        self._buffers = None
        self._moments = moments

    @property
    def n_params(self):
        return (self.n_features + int(self.fit_intercept)) * self.n_classes

    def memory_estimate(self, extra_classes=0):
        """Bytes this objective allocates per evaluation, beyond ``X`` itself.

        Parameters
        ----------
        extra_classes : int, default=0
            Extra score columns per block (``n_classes`` for :meth:`hessp`).

        Returns
        -------
        n_bytes : int
        """
        item = self.dtype.itemsize
        k = self.n_classes + extra_classes
        rows = max((sl.stop - sl.start for sl in self.slices), default=0)
        # Per chunk: its gradient accumulator; per running block: scores, the
        # one-hot targets and about six normalizer temporaries; then the
        # float64 reduction and the parameter copies in X's dtype.
        n_threads = min(self.runner.n_threads, len(self.chunks))
        per_block = rows * k * item * 8
        if sp.issparse(self.X):
            per_block += rows and (self.X.nnz // max(1, len(self.slices))) * item
        return int(
            len(self.chunks) * self.n_params * item
            + n_threads * per_block
            + 4 * self.n_params * 8
            + self.X.shape[0] * item
        )

    def _gradient_buffer(self, c):
        if self._buffers is None:
            self._buffers = [None] * len(self.chunks)
        if self._buffers[c] is None:
            self._buffers[c] = np.empty(
                (self.n_features, self.n_classes), dtype=self.dtype
            )
        G = self._buffers[c]
        G.fill(0)
        return G

    def _params(self, w):
        """``(W^T, b)`` in X's dtype, contiguous, for the block products."""
        Wt, b = unpack(np.asarray(w, dtype=self.dtype), self.n_features, self.n_classes)
        return np.ascontiguousarray(Wt), b

    def _reduce(self, parts, w64):
        """Sum the chunks' ``(loss, G, gb)`` in chunk order and add the penalty's
        smooth gradient (or Hessian product, for the direction ``w64``)."""
        loss = 0.0
        grad = np.zeros((self.n_params // self.n_classes, self.n_classes))
        for part_loss, G, gb in parts:
            loss += part_loss
            grad[: self.n_features] += G
            if self.fit_intercept:
                grad[self.n_features] += gb
        Wt64, _ = unpack(w64, self.n_features, self.n_classes)
        self.penalty.add_gradient(Wt64, grad[: self.n_features])
        return loss, grad

    def _chunk_loss_gradient(self, c, Wt, b):
        G = self._gradient_buffer(c)
        gb = np.zeros(self.n_classes)
        loss = 0.0
        for i in range(*self.chunks[c]):
            sl, Xb = self.slices[i], self.blocks[i]
            Z = linear_scores(Xb, Wt, b, self.inv_temperature)
            Y = one_hot_columns(self.y[sl], self.n_classes, Z.dtype)
            block_loss, R = self.normalizer.loss_gradient(Y, Z)
            if self._row_scale is None:
                loss += float(block_loss.sum(dtype=np.float64))
            else:
                loss += float(
                    np.dot(
                        self.sample_weight[sl].astype(np.float64, copy=False),
                        block_loss.astype(np.float64, copy=False),
                    )
                )
                R *= self._row_scale[sl, None]
            add_rmatmul(Xb, R, G)
            gb += R.sum(axis=0, dtype=np.float64)
        if self._row_scale is None:
            loss *= self._weight
            G *= self._weight * self._scale
            gb *= self._weight * self._scale
        return loss, G, gb

    def loss_gradient(self, w):
        """Objective value and gradient at the flat parameter vector ``w``.

        Parameters
        ----------
        w : ndarray of shape (n_params,)

        Returns
        -------
        loss : float
        grad : ndarray of shape (n_params,), float64
        """
        w = np.asarray(w, dtype=np.float64)
        Wt, b = self._params(w)
        parts = self.runner.map(
            lambda c: self._chunk_loss_gradient(c, Wt, b), range(len(self.chunks))
        )
        loss, grad = self._reduce(parts, w)
        loss /= self.sw_sum
        Wt64, _ = unpack(w, self.n_features, self.n_classes)
        loss += self.penalty.smooth_value(Wt64)
        return loss, grad.ravel()

    def _chunk_hessp(self, c, WVt, bv):
        K = self.n_classes
        G = self._gradient_buffer(c)
        gb = np.zeros(K)
        for i in range(*self.chunks[c]):
            sl, Xb = self.slices[i], self.blocks[i]
            # The scores and the direction's scores in one product: one read
            # of the block for both.
            ZV = linear_scores(Xb, WVt, bv, self.inv_temperature)
            # The protocol passes the targets: a log-loss's Hessian generally
            # depends on them (softmax's does not).
            Y = one_hot_columns(self.y[sl], K, ZV.dtype)
            HV = self.normalizer.hessp(ZV[:, :K], ZV[:, K:], Y=Y)
            # V already carries one 1/T; the chain rule back to W adds the other.
            if self._row_scale is not None:
                HV *= self._row_scale[sl, None]
            add_rmatmul(Xb, HV, G)
            gb += HV.sum(axis=0, dtype=np.float64)
        if self._row_scale is None:
            G *= self._weight * self._scale
            gb *= self._weight * self._scale
        return 0.0, G, gb

    def hessp(self, w, v):
        """Product of the objective's Hessian at ``w`` with the vector ``v``.

        One fused pass over the data, like :meth:`loss_gradient`; needs the
        normalizer's ``hessp(Z, V, Y=None)`` (row-wise Hessian of the loss
        times V), to which it passes the one-hot targets.

        Parameters
        ----------
        w : ndarray of shape (n_params,)
            Point at which the Hessian is taken.
        v : ndarray of shape (n_params,)
            Direction.

        Returns
        -------
        Hv : ndarray of shape (n_params,), float64
        """
        w = np.asarray(w, dtype=np.float64)
        v = np.asarray(v, dtype=np.float64)
        Wt, b = self._params(w)
        Vt, d = self._params(v)
        WVt = np.hstack([Wt, Vt])
        bv = None if b is None else np.concatenate([b, d])
        parts = self.runner.map(
            lambda c: self._chunk_hessp(c, WVt, bv), range(len(self.chunks))
        )
        _, hv = self._reduce(parts, v)
        return hv.ravel()

    def _chunk_moments(self, c):
        m = np.zeros(self.n_features)
        q = np.zeros(self.n_features)
        for i in range(*self.chunks[c]):
            sl, Xb = self.slices[i], self.blocks[i]
            s = self.sample_weight[sl]
            if sp.issparse(self.X):
                m += _sparse_tdot(Xb, s)
                q += Xb.squared().T @ s
            else:
                m += s @ Xb
                q += s @ np.square(Xb)
        return m, q

    def feature_moments(self):
        """Weighted mean and second moment of every column of ``X``.

        Returns
        -------
        mean : ndarray of shape (n_features,)
            ``sum_i s_i x_ij / S``.
        mean_sq : ndarray of shape (n_features,)
            ``sum_i s_i x_ij^2 / S``.
        """
        # One pass over X, independent of C and of the parameters: done once
        # per objective (or per path, when passed in as ``moments``).
        if self._moments is None:
            parts = self.runner.map(self._chunk_moments, range(len(self.chunks)))
            m = np.zeros(self.n_features)
            q = np.zeros(self.n_features)
            for pm, pq in parts:
                m += pm
                q += pq
            self._moments = (m / self.sw_sum, q / self.sw_sum)
        return self._moments


def _sparse_tdot(Xb, s):
    out = np.zeros((Xb.shape[1], 1), dtype=Xb.dtype)
    add_rmatmul(Xb, np.asarray(s, dtype=Xb.dtype)[:, None], out)
    return out[:, 0]
