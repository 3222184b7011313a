"""SoftmaxRegression: validation, classes, and the wiring of the layers."""

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.linear_model._base import SparseCoefMixin
from sklearn.model_selection import StratifiedKFold, check_cv
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from ._blocks import BlockRunner
from ._objective import LinearObjective, linear_scores, map_score_blocks
from ._penalty import ElasticNet, check_bounds
from ._solvers import SOLVERS
from ._temperature import fit_temperature
from .normalizers._base import REQUIRED_METHODS, optional
from .normalizers._registry import NORMALIZERS, resolve_normalizer


def _offers_decision(estimator):
    """Whether the normalizer offers decision scores consistent with its proba.

    Every built-in does; a user normalizer opts out with ``decision = None``.
    """
    normalizer = getattr(estimator, "normalizer_", estimator.normalizer)
    return isinstance(normalizer, str) or optional(normalizer, "decision") is not None


class SoftmaxRegression(SparseCoefMixin, ClassifierMixin, BaseEstimator):
    r"""Multinomial logistic (softmax) regression with pluggable normalizers.

    Fits class scores :math:`z = W x + b` by minimising the weighted average
    per-sample loss of the normalized scores plus an elastic-net penalty on
    ``W`` (L2 by default), optionally within box bounds :math:`l \le W \le u`,

    .. math::

        \frac{1}{S} \sum_i s_i\, \ell\big(y_i, (W x_i + b) / T\big)
        + \frac{(1 - r)\, \lVert W\rVert_F^2 / 2 + r \lVert W\rVert_1}{C S},

    with :math:`s_i` the sample weight times the class weight,
    :math:`S = \sum_i s_i` and :math:`r` the ``l1_ratio``. With the default
    softmax normalizer and ``T=1`` this is exactly the objective of
    :class:`~sklearn.linear_model.LogisticRegression` (``solver="lbfgs"``
    for ``r = 0``, ``solver="saga"`` with the same ``l1_ratio`` otherwise)
    on three or more classes, and the fit is done with
    :func:`scipy.optimize.minimize` (``method="L-BFGS-B"``) and an analytic
    gradient; the L1 part and the bounds by splitting ``W`` into positive
    and negative parts under bound constraints (see the user guide).

    Parameters
    ----------
    C : float, default=1.0
        Inverse of the regularisation strength, as in
        :class:`~sklearn.linear_model.LogisticRegression`; ``np.inf`` means
        no penalty. Must be positive.
    l1_ratio : float, default=0.0
        Elastic-net mixing ``r`` in ``[0, 1]``, with scikit-learn's meaning
        and scaling: 0 is the L2 penalty, 1 the lasso (L1). With ``r > 0``
        many coefficients are exact zeros (see :meth:`sparsify`); only
        ``solver="lbfgs"`` supports it.
    bounds : tuple (lower, upper), default=None
        Box constraints ``lower <= coef_ <= upper``; each a scalar or an
        array broadcastable to ``coef_``'s shape ``(n_classes, n_features)``
        (``-np.inf``/``np.inf`` leave an entry free), e.g. ``(0, np.inf)``
        for non-negative effects. Intercepts are not bounded. The fitted
        ``coef_`` satisfies them exactly; only ``solver="lbfgs"`` supports
        them.
    fit_intercept : bool, default=True
        Whether to fit a per-class intercept ``b`` (never penalised).
    class_weight : dict or "balanced", default=None
        Weights ``{class_label: weight}`` multiplied into the sample weights;
        ``"balanced"`` uses ``n_samples / (n_classes * np.bincount(y))``
        (weighted counts when ``sample_weight`` is given).
    tol : float, default=1e-4
        Stop when the largest absolute gradient entry falls below ``tol``
        (L-BFGS-B's ``gtol``); with ``l1_ratio > 0`` or ``bounds``, the
        largest violation of the optimality conditions (the projected
        gradient, in the original coefficients).
    max_iter : int, default=100
        Maximum number of solver iterations. 0 runs none: the starting
        coefficients (zeros, or the previous fit's with ``warm_start``) are
        kept, with a ConvergenceWarning unless they already meet ``tol``.
    warm_start : bool, default=False
        Start from the previous fit's ``coef_`` and ``intercept_`` when the
        shapes match.
    verbose : int, default=0
        Print the objective and gradient norm at each iteration if positive.
    normalizer : str or Normalizer, default="softmax"
        The map from scores to probabilities and its loss; see
        :mod:`softreg.normalizers`. A name or an instance (which is cloned).
    temperature : float or "auto", default=1.0
        Scores are divided by ``T`` before the normalizer, in ``fit`` and in
        every predict method. During training a fixed ``T`` only
        re-parametrises ``C``: under the L2 penalty, ``(T, C)`` gives the
        predictions of ``(1, C / T**2)`` with ``coef_`` multiplied by ``T``.
        ``"auto"`` trains at ``T = 1`` and then picks the ``T`` that
        minimises the normalizer's loss of out-of-fold scores (internal
        cross-validation over ``cv``), a post-hoc calibration that never
        changes ``predict`` for monotone normalizers.
    cv : int, cross-validation generator or iterable, default=5
        Folds for ``temperature="auto"`` (ignored otherwise). An int gives a
        shuffled :class:`~sklearn.model_selection.StratifiedKFold` seeded by
        ``random_state``.
    random_state : int, RandomState instance or None, default=None
        Seeds the folds of ``temperature="auto"`` and the random start of
        non-convex normalizers (taylor, spherical). Pass an int for
        reproducible fits.
    solver : {"lbfgs", "newton-cg", "trust-ncg"}, default="lbfgs"
        The optimiser, driven through :func:`scipy.optimize.minimize`; all
        stop when the largest gradient entry is at most ``tol`` and reach the
        same optimum. ``"lbfgs"`` needs only the normalizer's loss and
        gradient. ``"newton-cg"`` (line search) and ``"trust-ncg"`` (trust
        region) are Newton methods with exact Hessian-vector products; they
        need the normalizer's ``hessp`` and take far fewer passes over the
        data at tight ``tol`` or on badly scaled data. Every solver works in
        internally standardised variables (an exact change of parameters
        that leaves the optimum unchanged), so raw, unscaled features do not
        cost extra iterations.
    n_jobs : int, default=None
        Threads evaluating row blocks of the objective and of predictions,
        with BLAS kept to one thread per worker. ``None`` means one thread
        per physical core (capped by ``OMP_NUM_THREADS`` when set, as
        joblib's worker processes set it), like the OpenMP code of
        :class:`~sklearn.linear_model.LogisticRegression`; ``1`` runs in
        the calling thread and lets numpy's BLAS use its own threads; ``-1``
        uses all logical CPUs.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coef_ : ndarray of shape (n_classes, n_features)
        Weights ``W``, in ``X``'s dtype (a scipy.sparse matrix after
        :meth:`sparsify`). For shift-invariant normalizers (softmax) under
        the L2 penalty it is centred: each column sums to zero over classes.
        With ``l1_ratio > 0`` or ``bounds`` it is not centred: it is the
        minimiser found, which among the equivalent ``W + 1 a^T`` has the
        smallest penalty (for the lasso, 0 is a median of every column).
    intercept_ : ndarray of shape (n_classes,)
        Intercepts ``b`` (zeros if ``fit_intercept=False``), centred for
        shift-invariant normalizers.
    normalizer_ : Normalizer
        The fitted, resolved normalizer object.
    temperature_ : float
        The temperature used by the predict methods: ``temperature`` itself,
        or the cross-validated value when ``temperature="auto"``.
    n_iter_ : int
        Number of solver iterations of the final fit.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names, when ``X`` has string column names (pandas).

    See Also
    --------
    sklearn.linear_model.LogisticRegression : The reference implementation.
    softreg.normalizers.Softmax : The default normalizer.

    Notes
    -----
    **Two classes.** SoftmaxRegression keeps one score per class even for
    two classes, so ``coef_`` has shape ``(2, n_features)`` with
    ``coef_[1] = -coef_[0]``. The symmetric penalty makes
    ``SoftmaxRegression(C=c)`` give exactly the probabilities of
    ``LogisticRegression(C=2 * c)``, whose ``coef_`` equals
    ``coef_[1] - coef_[0]`` here. ``decision_function`` returns that
    difference of scores, shape ``(n_samples,)``. With ``l1_ratio = r``
    (since ``||W||_1 = ||w||_1`` at the antisymmetric optimum) the match is
    ``LogisticRegression(C=2 * c / (1 + r), l1_ratio=2 * r / (1 + r),
    solver="saga")``; for ``r = 1`` the probabilities match but ``coef_``
    need not be antisymmetric (every split of ``w`` between the two rows
    with opposite signs has the same penalty).

    **Stability.** Scores are shifted by their row maximum before
    exponentiation and log-probabilities are computed by log-sum-exp.

    **Dtypes and layout.** float32 input stays float32: the scores,
    ``coef_``, ``intercept_`` and ``predict_proba`` are float32. CSC input
    is converted to CSR once, since the objective works on row blocks.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from softreg import SoftmaxRegression
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = SoftmaxRegression(C=1.0).fit(X, y)
    >>> clf.predict(X[:2])
    array([0, 0])
    >>> clf.predict_proba(X[:1]).round(3)
    array([[0.982, 0.018, 0.   ]])
    >>> round(clf.score(X, y), 3)
    0.973

    The lasso zeroes coefficients exactly; here only petal length is kept:

    >>> lasso = SoftmaxRegression(C=0.1, l1_ratio=1.0).fit(X, y)
    >>> (lasso.coef_ != 0).any(axis=0)
    array([False, False,  True, False])
    """

    _parameter_constraints: dict = {
        "C": [Interval(Real, 0, None, closed="right")],
        "l1_ratio": [Interval(Real, 0, 1, closed="both")],
        "bounds": [tuple, list, None],
        "fit_intercept": ["boolean"],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "normalizer": [
            StrOptions(set(NORMALIZERS)),
            HasMethods(list(REQUIRED_METHODS)),
        ],
        "temperature": [
            Interval(Real, 0, np.inf, closed="neither"),
            StrOptions({"auto"}),
        ],
        "cv": ["cv_object"],
        "random_state": ["random_state"],
        "solver": [StrOptions(set(SOLVERS))],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self,
        C=1.0,
        l1_ratio=0.0,
        bounds=None,
        fit_intercept=True,
        class_weight=None,
        tol=1e-4,
        max_iter=100,
        warm_start=False,
        verbose=0,
        normalizer="softmax",
        temperature=1.0,
        cv=5,
        random_state=None,
        solver="lbfgs",
        n_jobs=None,
    ):
        self.C = C
        self.l1_ratio = l1_ratio
        self.bounds = bounds
        self.fit_intercept = fit_intercept
        self.class_weight = class_weight
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start
        self.verbose = verbose
        self.normalizer = normalizer
        self.temperature = temperature
        self.cv = cv
        self.random_state = random_state
        self.solver = solver
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _runner(self):
        return BlockRunner.from_n_jobs(self.n_jobs)

    def _encode_and_weigh(self, X, y, sample_weight):
        """Encoded labels, classes, and sample weights times the class weights."""
        check_classification_targets(y)
        encoder = LabelEncoder()
        y_enc = encoder.fit_transform(y)
        classes = encoder.classes_
        if classes.size < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in the "
                f"data, but the data contains only one class: {classes[0]!r}"
            )
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=X.dtype, ensure_non_negative=True
        )
        if self.class_weight == "balanced":
            per_class = np.bincount(
                y_enc, weights=sample_weight, minlength=classes.size
            )
            if not np.all(per_class > 0):
                raise ValueError(
                    "class_weight='balanced' needs a positive total sample weight "
                    f"in every class; classes {classes[per_class <= 0].tolist()} "
                    "have none."
                )
        if self.class_weight is not None:
            class_weight = compute_class_weight(
                self.class_weight, classes=classes, y=y, sample_weight=sample_weight
            )
            sample_weight = sample_weight * class_weight[y_enc].astype(X.dtype)
        if not np.sum(sample_weight, dtype=np.float64) > 0:
            raise ValueError(
                "The sample weights (times the class weights) sum to zero: "
                "there is nothing to fit."
            )

        return y_enc, classes, sample_weight

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model by maximising the (penalised) likelihood.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; float32 is kept as float32.
        y : array-like of shape (n_samples,)
            Class labels (at least two distinct classes).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; integer weights are equivalent to
            repeating rows.

        Returns
        -------
        self : SoftmaxRegression
            The fitted estimator.
        """
        X, y = validate_data(
            self, X, y, accept_sparse="csr", dtype=[np.float64, np.float32]
        )
        y_enc, classes, sample_weight = self._encode_and_weigh(X, y, sample_weight)
        # Bounds and the solver's support for them are checked before any work.
        penalty = self._penalty(classes.size, X.shape[1])
        self.classes_ = classes
        self.normalizer_ = resolve_normalizer(self.normalizer)
        if self.temperature == "auto":
            # Temperature is post-hoc (Guo et al. 2017): the model is trained at
            # T=1 and T is then fitted to out-of-fold scores.
            self.temperature_ = self._cross_validated_temperature(
                X, y_enc, sample_weight
            )
            train_temperature = 1.0
        else:
            self.temperature_ = train_temperature = float(self.temperature)
        coef, intercept, self.n_iter_ = self._solve(
            X, y_enc, classes.size, sample_weight, train_temperature, self.warm_start
        )
        self.coef_ = penalty.cast(coef, X.dtype)
        self.intercept_ = intercept.astype(X.dtype)
        return self

    def _penalty(self, n_classes, n_features):
        """The penalty of ``l1_ratio`` and ``bounds``, checked for the solver.

        Raises ValueError for bad bounds or a solver that cannot handle them.
        """
        penalty = ElasticNet(
            self.l1_ratio, *check_bounds(self.bounds, n_classes, n_features)
        )
        SOLVERS[self.solver].check_penalty(penalty)
        return penalty

    def _solve(
        self, X, y_enc, n_classes, sample_weight, temperature, warm_start, moments=None
    ):
        """Minimise the objective; return centred ``coef``, ``intercept``, n_iter.

        ``moments``: the feature moments of ``X`` under ``sample_weight``, when
        a caller fitting the same data many times (a path) already has them.
        """
        normalizer = self.normalizer_
        n_features = X.shape[1]
        runner = self._runner()
        objective = LinearObjective(
            X,
            y_enc,
            n_classes,
            normalizer,
            sample_weight,
            C=self.C,
            fit_intercept=self.fit_intercept,
            temperature=temperature,
            runner=runner,
            penalty=self._penalty(n_classes, n_features),
            moments=moments,
        )
        w0 = self._initial_params(normalizer, n_classes, n_features, warm_start)
        with runner.running():
            w, n_iter = SOLVERS[self.solver](
                objective,
                w0,
                tol=self.tol,
                max_iter=self.max_iter,
                verbose=self.verbose,
            )
        params = w.reshape(-1, n_classes)
        coef = params[:n_features].T
        intercept = params[n_features] if self.fit_intercept else np.zeros(n_classes)
        if optional(normalizer, "shift_invariant"):
            # Adding a constant to every class's score changes nothing, so the
            # intercept is only defined up to a constant: report the centred
            # representative, as LogisticRegression does. The optimal W is
            # the shift with the smallest penalty: the centred one under the
            # L2 penalty alone, not under L1 or bounds, where it is kept.
            intercept = intercept - intercept.mean()
            if objective.penalty.centred:
                coef = coef - coef.mean(axis=0)
        return np.ascontiguousarray(coef), intercept, n_iter

    def _cross_validated_temperature(self, X, y_enc, sample_weight):
        """T minimising the weighted loss of out-of-fold scores divided by T."""
        if isinstance(self.cv, Integral):
            cv = StratifiedKFold(
                self.cv,
                shuffle=True,
                random_state=check_random_state(self.random_state).randint(
                    np.iinfo(np.int32).max
                ),
            )
        else:
            cv = check_cv(self.cv, y_enc, classifier=True)
        n_classes = self.classes_.size
        scores = np.zeros((X.shape[0], n_classes), dtype=X.dtype)
        for train, test in cv.split(X, y_enc):
            # Every fold model keeps all classes: a class absent from a training
            # fold simply gets no samples, which the objective handles.
            coef, intercept, _ = self._solve(
                X[train], y_enc[train], n_classes, sample_weight[train], 1.0, False
            )
            scores[test] = linear_scores(
                X[test], coef.T.astype(X.dtype), intercept.astype(X.dtype), 1.0
            )
        return fit_temperature(self.normalizer_, scores, y_enc, sample_weight)

    def _initial_params(self, normalizer, n_classes, n_features, warm_start):
        n_rows = n_features + int(self.fit_intercept)
        if (
            warm_start
            and hasattr(self, "coef_")
            and self.coef_.shape == (n_classes, n_features)
        ):
            start = np.vstack([self._dense_coef().T, self.intercept_[None, :]])
            start = start[:n_rows]
            return np.ascontiguousarray(start, dtype=np.float64).ravel()
        scale = optional(normalizer, "init_scale")()
        if scale:
            rng = check_random_state(self.random_state)
            return rng.normal(scale=scale, size=n_rows * n_classes)
        return np.zeros(n_rows * n_classes)

    def sparsify(self):
        """Store ``coef_`` as a ``scipy.sparse`` CSR matrix.

        As :meth:`sklearn.linear_model.LogisticRegression.sparsify`: worth
        it when most coefficients are zero (``l1_ratio > 0``); predictions
        are unchanged, for dense and sparse input. ``intercept_`` stays
        dense; a warm start from a sparsified model works.

        Returns
        -------
        self : SoftmaxRegression
            The estimator, with a sparse ``coef_``.
        """
        return super().sparsify()

    def densify(self):
        """Store ``coef_`` as an ndarray again (undoes :meth:`sparsify`).

        Returns
        -------
        self : SoftmaxRegression
            The estimator, with a dense ``coef_``.
        """
        return super().densify()

    def _dense_coef(self):
        """``coef_`` as an ndarray, also after :meth:`sparsify`."""
        return self.coef_.toarray() if sp.issparse(self.coef_) else self.coef_

    def _map_scores(self, X, func):
        """Apply ``func`` to the score blocks of ``X``; rows stay in order."""
        check_is_fitted(self)
        # The NaN/inf test is fused into the threaded blocks (check_finite
        # below) instead of a separate single-threaded pass over X.
        X = validate_data(
            self,
            X,
            accept_sparse="csr",
            dtype=[np.float64, np.float32],
            reset=False,
            ensure_all_finite=False,
        )
        dtype = np.result_type(X.dtype, self.coef_.dtype)
        # A sparsified coef_ (a few classes by n_features) is densified per
        # call: the blocked products want a dense W^T, and this is cheap.
        Wt = self._dense_coef().T.astype(dtype, copy=False)
        b = self.intercept_.astype(dtype, copy=False)
        runner = self._runner()
        with runner.running():
            return map_score_blocks(
                X, Wt, b, func, runner, 1.0 / self.temperature_, check_finite=True
            )

    @available_if(_offers_decision)
    def decision_function(self, X):
        """Class scores, consistent with :meth:`predict_proba`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        scores : ndarray of shape (n_samples, n_classes) or (n_samples,)
            The normalizer's decision scores of ``(X W^T + b) / T``: the
            scores themselves for normalizers monotone in each score
            (softmax, sparsemax, entmax15), the log-probabilities otherwise,
            so that their order is always that of :meth:`predict_proba`. For
            two classes, the score of ``classes_[1]`` minus that of
            ``classes_[0]``.
        """
        D = self._map_scores(X, lambda Z: optional(self.normalizer_, "decision")(Z))
        return D[:, 1] - D[:, 0] if D.shape[1] == 2 else D

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Rows on the simplex, columns in the order of ``classes_``.
        """
        return self._map_scores(X, lambda Z: self.normalizer_(Z))

    def predict_log_proba(self, X):
        """Logarithm of the class probabilities, computed stably.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            ``-inf`` only where a normalizer gives an exact zero.
        """
        return self._map_scores(X, lambda Z: optional(self.normalizer_, "log_proba")(Z))

    def predict(self, X):
        """Class labels: the argmax of :meth:`predict_proba`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Predicted class labels.
        """
        indices = self.predict_proba(X).argmax(axis=1)
        return self.classes_[indices]
