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

from ._blocks import (
    BlockRunner,
    CSRBlock,
    InMemoryRows,
    add_rmatmul,
    block_targets,
    chunk_ranges,
    plan_blocks,
    row_block,
)
from ._penalty import ElasticNet
from .normalizers._base import optional


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
    elif isinstance(X, np.ndarray):
        Z = (Wt.T @ X.T).T
    else:
        # Array-API input (softreg._xp): row-major scores, which PyTorch's
        # row-wise reductions and X^T R prefer (a pass 25% faster on CPU).
        Z = X @ Wt
    if b is not None:
        Z += b
    if inv_temperature != 1.0:
        Z *= inv_temperature
    # Every branch gives an array of X's library (ndarray for NumPy and
    # scipy input; a tensor for array-API input, see softreg._xp).
    return Z


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


class NumpyOps:
    """The reductions of :class:`ChunkKernel` for NumPy blocks (the default).

    A chunk may name other ones in its ``ops`` attribute
    (:class:`softreg._xp.ArrayAPIOps` for array-API data), so that the
    kernel's math is written once whatever library holds the rows.
    """

    #: The dtype sums over rows are accumulated in.
    acc = np.float64

    @staticmethod
    def zeros(shape):
        """A float64 accumulator."""
        return np.zeros(shape)

    @staticmethod
    def targets(y, n_classes, dtype):
        return block_targets(y, n_classes, dtype)

    @staticmethod
    def row_scale(s, scale, dtype):
        """``s * scale`` as a column, in ``dtype``."""
        return np.asarray(s * scale, dtype=dtype)[:, None]

    @staticmethod
    def weighted_total(s, values):
        """``sum_i s_i values_i`` in float64."""
        return float(
            np.dot(
                s.astype(np.float64, copy=False),
                values.astype(np.float64, copy=False),
            )
        )

    @staticmethod
    def total(values):
        return float(values.sum(dtype=np.float64))

    @staticmethod
    def column_sums(R):
        return R.sum(axis=0, dtype=np.float64)

    @staticmethod
    def weighted_column_sums(s, Xb):
        """``(s @ Xb, s @ Xb**2)`` in float64 (dense or CSR blocks)."""
        if isinstance(Xb, CSRBlock):
            return _sparse_tdot(Xb, s), Xb.squared().T @ s
        return s @ Xb, s @ np.square(Xb)

    @staticmethod
    def pair(a, factors):
        """``a`` (last axis of length 1) times the two ``factors`` along that axis.

        Column-major, as the normalizers prefer their scores.
        """
        out = np.empty((*a.shape[:-1], 2), dtype=a.dtype, order="F")
        return np.multiply(a, factors, out=out)


# Two classes (ChunkKernel.pair): the scores (-d / 2, d / 2) of a difference
# d, and the gradients (-g, g) of w_0 and w_1 from the gradient g of d.
_HALVES = np.array([-0.5, 0.5])
_SIGNS = np.array([-1.0, 1.0])


class ChunkKernel:
    """The per-chunk work of one pass: the math, without the data.

    Each method takes a :class:`softreg._blocks.Chunk` (an iterable of row
    blocks ``(X_b, y_b, s_b)``) and returns a tuple of sums that
    :func:`softreg._blocks.add_parts` adds over chunks. The kernel holds only
    small things (the normalizer, the class count, the temperature and the
    weight scaling), so that it can be shipped to other processes (Dask
    workers) with the parameters at every pass, while the data stay where
    they are.

    Parameters
    ----------
    normalizer : object
        Has ``loss_gradient(Y, Z)``; :meth:`hessp` also needs
        ``hessp(Z, V, Y=None)``.
    n_classes : int
    inv_temperature : float
    sw_sum : float
        ``S``, the sum of the sample weights over the whole data set.
    uniform_weight : float or None
        The common sample weight when all are equal, else None.

    Notes
    -----
    **Two classes** with a shift-invariant normalizer: the loss depends on
    the scores only through their difference ``d = x (w_1 - w_0) + b_1 -
    b_0``, at any parameters. The passes then compute ``d`` (one product
    with a column, as fast as a matrix-vector product, where two columns
    cost 2.5 times as much on breast_cancer), hand the normalizer the
    scores ``(-d / 2, d / 2)`` (equal to the model's up to a shift) and
    take its residual's component along them, ``r = (R_1 - R_0) / 2``; the
    gradient is ``X^T r`` for ``w_1`` and its negative for ``w_0``, as the
    chain rule through ``d`` gives. Hessian products likewise.
    """

    def __init__(self, normalizer, n_classes, inv_temperature, sw_sum, uniform_weight):
        self.normalizer = normalizer
        self.n_classes = n_classes
        self.inv_temperature = inv_temperature
        # s_i / S times the chain-rule factor 1/T of z = (W x + b) / T.
        self.scale = inv_temperature / sw_sum
        self.uniform_weight = uniform_weight
        self.pair = n_classes == 2 and bool(optional(normalizer, "shift_invariant"))

    def pass_key(self):
        """Everything but the data and the parameters that a pass depends on.

        Kernels with equal keys give equal results over the same rows at the
        same parameters (see :meth:`softreg._blocks.InMemoryRows.map_reduce`).
        """
        return (
            self.normalizer,
            self.n_classes,
            self.inv_temperature,
            self.scale,
            self.uniform_weight,
        )

    def _finish(self, ops, G, gb):
        # With equal weights the scaling is one number, applied to the sums.
        factor = 1.0
        if self.uniform_weight is not None:
            factor = self.uniform_weight * self.scale
        if self.pair:  # d's gradient is w_1's, and minus w_0's
            signs = _SIGNS * factor
            return ops.pair(G, signs), ops.pair(gb, signs)
        if factor != 1.0:
            G *= factor
            gb *= factor
        return G, gb

    def _score_columns(self, Wt, b):
        """The columns the products take: ``w_1 - w_0`` alone for a pair."""
        if not self.pair:
            return Wt, b
        # Columns (w_0, w_1) or, for Hessian products, (w_0, w_1, v_0, v_1).
        D = Wt[:, 1::2] - Wt[:, 0::2]
        return D, None if b is None else b[1::2] - b[0::2]

    def _pair_scores(self, ops, D):
        return ops.pair(D, _HALVES) if self.pair else D

    def _pair_residual(self, R):
        return (R[:, 1:] - R[:, :1]) * 0.5 if self.pair else R

    def loss_gradient(self, chunk, Wt, b):
        """``(sum_i s_i loss_i, X^T R, column sums of R)`` over the chunk."""
        ops = getattr(chunk, "ops", NumpyOps)
        Wt, b = self._score_columns(Wt, b)
        # Each block's products are in X's dtype; their sum over blocks is in
        # float64 (as scikit-learn's loss module sums), so that float32 data
        # do not add the rounding of every block's partial sum to the gradient.
        G = chunk.zeros(Wt.shape, ops.acc)
        gb = ops.zeros(Wt.shape[1])
        loss = 0.0
        for Xb, yb, sb in chunk:
            Z = self._pair_scores(ops, linear_scores(Xb, Wt, b, self.inv_temperature))
            Y = ops.targets(yb, self.n_classes, Z.dtype)
            block_loss, R = self.normalizer.loss_gradient(Y, Z)
            R = self._pair_residual(R)
            if self.uniform_weight is None:
                loss += ops.weighted_total(sb, block_loss)
                R *= ops.row_scale(sb, self.scale, R.dtype)
            else:
                loss += ops.total(block_loss)
            add_rmatmul(Xb, R, G)
            gb += ops.column_sums(R)
        if self.uniform_weight is not None:
            loss *= self.uniform_weight
        return loss, *self._finish(ops, G, gb)

    def hessp(self, chunk, WVt, bv):
        """``(0, X^T H V, column sums of H V)``: the data part of a Hessian product.

        ``WVt`` holds the parameters and the direction side by side, so one
        product gives both score matrices.
        """
        ops = getattr(chunk, "ops", NumpyOps)
        WVt, bv = self._score_columns(WVt, bv)
        m = WVt.shape[1] // 2  # score columns per point
        G = chunk.zeros((WVt.shape[0], m), ops.acc)
        gb = ops.zeros(m)
        for Xb, yb, sb in chunk:
            ZV = linear_scores(Xb, WVt, bv, self.inv_temperature)
            Z, V = self._pair_scores(ops, ZV[:, :m]), self._pair_scores(ops, ZV[:, m:])
            # The protocol passes the targets: a log-loss's Hessian generally
            # depends on them (softmax's does not).
            Y = ops.targets(yb, self.n_classes, ZV.dtype)
            HV = self._pair_residual(self.normalizer.hessp(Z, V, Y=Y))
            # V already carries one 1/T; the chain rule back to W adds the other.
            if self.uniform_weight is None:
                HV *= ops.row_scale(sb, self.scale, HV.dtype)
            add_rmatmul(Xb, HV, G)
            gb += ops.column_sums(HV)
        return 0.0, *self._finish(ops, G, gb)

    def moments(self, chunk):
        """Weighted column sums ``sum_i s_i x_i`` and ``sum_i s_i x_i^2``."""
        ops = getattr(chunk, "ops", NumpyOps)
        n_features = chunk.X.shape[1]
        m = ops.zeros(n_features)
        q = ops.zeros(n_features)
        for Xb, _, s in chunk:
            dm, dq = ops.weighted_column_sums(s, Xb)
            m += dm
            q += dq
        return m, q


class LinearObjective:
    """Loss, gradient and Hessian products of the penalised objective.

    Parameters
    ----------
    X : {ndarray, csr_matrix} of shape (n_samples, n_features)
        Training data, float32 or float64; only read through row blocks.
        Each block's scores, the normalizer's work and the gradient rows are
        in the dtype of the rows the passes run over (``X``'s, or float32 on
        the copy of :meth:`coarsen_precision`); sums over blocks are float64.
    y : ndarray of shape (n_samples,) or (n_samples, n_classes)
        Encoded labels in ``range(n_classes)``, or soft targets: a matrix
        whose rows are probability vectors (see :func:`block_targets`).
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
    Every pass is ``rows.map_reduce(kernel_method, params)``: the
    :class:`ChunkKernel` does the per-chunk math and the rows object decides
    where it runs, on this process's threads (:class:`InMemoryRows`, built
    from ``X, y, sample_weight`` by this constructor) or as Dask tasks
    (:class:`softreg._dask.DaskRows`, see :meth:`over`). Chunk results are
    added in a fixed order, so for given data and ``n_jobs`` the result is
    the same bit for bit on every run.

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
    ):
        rows = InMemoryRows(X, y, sample_weight, n_classes, runner, block_rows)
        self._setup(rows, n_classes, normalizer, C, fit_intercept, temperature, penalty)
        self.X = X

    @classmethod
    def over(
        cls,
        rows,
        n_classes,
        normalizer,
        C,
        fit_intercept,
        temperature=1.0,
        penalty=None,
    ):
        """The objective over any rows object (in memory or Dask).

        ``rows`` provides ``n_samples``, ``n_features``, ``dtype``,
        ``sw_sum``, ``uniform_weight``, ``map_reduce(func, *args)``,
        ``feature_moments(kernel)`` and ``memory_estimate(n_params,
        n_score_columns)``.
        """
        self = cls.__new__(cls)
        self._setup(rows, n_classes, normalizer, C, fit_intercept, temperature, penalty)
        return self

    def _setup(
        self, rows, n_classes, normalizer, C, fit_intercept, temperature, penalty
    ):
        self.rows = rows
        self.n_classes = n_classes
        self.normalizer = normalizer
        self.fit_intercept = fit_intercept
        self.inv_temperature = 1.0 / temperature
        self.n_samples = rows.n_samples
        self.n_features = rows.n_features
        self.dtype = rows.dtype
        # The dtype of the parameters, hence of the scores, in the passes:
        # X's, until refine_precision() asks for float64.
        self.score_dtype = np.dtype(rows.dtype)
        # The rows the passes run over while on a float32 copy of float64
        # data (coarsen_precision), else None.
        self._full_rows = None
        self.sw_sum = rows.sw_sum
        self.penalty = (penalty if penalty is not None else ElasticNet()).bind(
            C, self.sw_sum
        )
        # The quadratic strength, which the standardisation's scales use.
        self.l2 = self.penalty.l2
        self.kernel = ChunkKernel(
            normalizer,
            n_classes,
            self.inv_temperature,
            self.sw_sum,
            rows.uniform_weight,
        )

    @property
    def n_params(self):
        return (self.n_features + int(self.fit_intercept)) * self.n_classes

    def running(self):
        """Context manager inside which passes may run in parallel."""
        return self.rows.running()

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
        # The data's buffers, then the float64 reduction and the parameter
        # copies in X's dtype.
        k = self.n_classes + extra_classes
        return self.rows.memory_estimate(self.n_params, k) + 4 * self.n_params * 8

    def coarsen_precision(self, max_bytes=None):
        """Run the passes over a float32 copy of float64 ``X`` until refined.

        The copy (:meth:`InMemoryRows.coarse`) changes each gradient entry by
        about :meth:`gradient_rounding`, far below the gradient of the early
        iterations, at about half the cost of a pass; :meth:`refine_precision`
        returns to ``X`` itself. The solvers finish every fit on ``X``, so the
        result meets ``tol`` on the data as given.

        Parameters
        ----------
        max_bytes : int, default=None
            Largest copy allowed.

        Returns
        -------
        coarsened : bool
            False if the rows offer no copy (float32, small, Dask or array-API
            data, or a copy larger than ``max_bytes``).
        """
        coarse = getattr(self.rows, "coarse", None)
        if self._full_rows is not None or coarse is None:
            return False
        rows = coarse(max_bytes)
        if rows is None:
            return False
        self._full_rows, self.rows = self.rows, rows
        self.score_dtype = np.dtype(np.float32)
        return True

    @property
    def coarse(self):
        """True while the passes run over a float32 copy of float64 data."""
        return self._full_rows is not None

    def gradient_rounding(self, w):
        """About the largest gradient-entry change that float32 rounding makes at ``w``.

        Rounding ``X`` and the scores to float32 moves row ``i``'s score for
        class ``k`` by about ``eps32 (1 + ||x_i * W_k||_2 + |b_k|)`` (a sum of
        ``n_features`` roundings) and its residual by as much; a gradient
        entry is a mean of ``x_ij`` times those residuals over the rows,
        whose roundings mostly cancel: about ``1 / sqrt(n)`` of one. With
        ``|x_j|`` the root mean square of column ``j``, measured near the
        optimum on 20000 x 100 (rows in random and in class order), digits
        (raw, and standardised in class order) and 50000 x 20 (standardised,
        and offset by 33 standard deviations) at C from 1e-3 to 1e3, the
        actual change was 0.02 to 10 times this estimate; at the zero start,
        where all rows' probabilities round alike, up to 200 times (there the
        gradient is large).
        """
        _, mean_sq = self.feature_moments()
        rms = np.sqrt(mean_sq)
        Wt, b = unpack(np.asarray(w, dtype=np.float64), self.n_features, self.n_classes)
        scores = np.sqrt(mean_sq @ np.square(Wt))
        if b is not None:
            scores = scores + np.abs(b)
        z = float(scores.max()) * self.inv_temperature if scores.size else 0.0
        top = float(rms.max()) if rms.size else 0.0
        eps = float(np.finfo(np.float32).eps)
        n = max(self.n_samples, 1)
        return eps * top * self.inv_temperature * (1.0 + z) / np.sqrt(n)

    def refine_precision(self):
        """Evaluate float32 data with float64 parameters and scores from now on.

        Float32 scores round every row's loss and residual to about 6e-8
        relative, which puts a floor under the gradient the solvers can
        reach (about ``eps32 |x| / sqrt(n)`` per entry). With float64
        parameters the products upcast each block of ``X`` (in cache, never
        the whole ``X``): each pass costs about as much as on float64 data.
        The solvers call this only when the float32 passes cannot meet
        ``tol``.

        Returns
        -------
        refined : bool
            False if the scores are already float64, or if the rows cannot
            mix precisions (array-API data).
        """
        if self._full_rows is not None:
            # Back from the float32 copy to the float64 data themselves.
            self.rows, self._full_rows = self._full_rows, None
            self.score_dtype = np.dtype(np.float64)
            return True
        if self.score_dtype == np.float64 or not self.rows.mixed_precision:
            return False
        self.score_dtype = np.dtype(np.float64)
        return True

    def _params(self, w):
        """``(W^T, b)`` in the score dtype, contiguous, for the block products."""
        Wt, b = unpack(
            np.asarray(w, dtype=self.score_dtype), self.n_features, self.n_classes
        )
        return np.ascontiguousarray(Wt), b

    def _gradient(self, G, gb, w64):
        """The flat float64 gradient from the summed data part, plus the
        penalty's smooth gradient (or Hessian product, for a direction ``w64``)."""
        grad = np.zeros((self.n_params // self.n_classes, self.n_classes))
        grad[: self.n_features] = G
        if self.fit_intercept:
            grad[self.n_features] = gb
        Wt64, _ = unpack(w64, self.n_features, self.n_classes)
        self.penalty.add_gradient(Wt64, grad[: self.n_features])
        return grad.ravel()

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
        loss, G, gb = self.rows.map_reduce(self.kernel.loss_gradient, Wt, b)
        grad = self._gradient(G, gb, w)
        loss = float(loss) / self.sw_sum
        Wt64, _ = unpack(w, self.n_features, self.n_classes)
        loss += self.penalty.smooth_value(Wt64)
        return loss, grad

    def hessp(self, w, v):
        """Product of the objective's Hessian at ``w`` with the vector ``v``.

        One fused pass over the data, like :meth:`loss_gradient`; needs the
        normalizer's ``hessp(Z, V, Y=None)`` (row-wise Hessian of the loss
        times V), to which it passes the block's targets.

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
        _, G, gb = self.rows.map_reduce(self.kernel.hessp, WVt, bv)
        return self._gradient(G, gb, v)

    def feature_moments(self):
        """Weighted mean and second moment of every column of ``X``.

        Returns
        -------
        mean : ndarray of shape (n_features,)
            ``sum_i s_i x_ij / S``.
        mean_sq : ndarray of shape (n_features,)
            ``sum_i s_i x_ij^2 / S``.
        """
        rows = self._full_rows if self._full_rows is not None else self.rows
        return rows.feature_moments(self.kernel)


def _sparse_tdot(Xb, s):
    out = np.zeros((Xb.shape[1], 1), dtype=Xb.dtype)
    add_rmatmul(Xb, np.asarray(s, dtype=Xb.dtype)[:, None], out)
    return out[:, 0]
