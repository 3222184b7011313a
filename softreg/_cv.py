"""SoftmaxRegressionCV: ``C`` (and ``l1_ratio``) chosen on warm-started paths."""

import inspect
from numbers import Integral

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import _fit_context
from sklearn.metrics import get_scorer, get_scorer_names, make_scorer
from sklearn.model_selection import check_cv
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metadata_routing import (
    MetadataRouter,
    MethodMapping,
    _raise_for_params,
    _routing_enabled,
    process_routing,
)
from sklearn.utils.validation import (
    _check_method_params,
    _check_sample_weight,
    check_consistent_length,
    validate_data,
)

from ._blocks import _blas_limit, resolve_n_threads
from ._calibration import fit_calibration
from ._estimator import SoftmaxRegression
from ._objective import linear_scores
from ._path import c_grid, fit_path
from ._shared import shared_with_workers, task_array
from ._solvers import deferred_convergence_warnings, reissue_convergence_warnings
from ._temperature import fit_temperature
from .normalizers._base import one_hot
from .normalizers._registry import resolve_normalizer

# SoftmaxRegression's parameters that SoftmaxRegressionCV passes on to every
# fit unchanged (C and l1_ratio come from the grid).
_SHARED = (
    "bounds",
    "fit_intercept",
    "class_weight",
    "tol",
    "max_iter",
    "verbose",
    "normalizer",
    "temperature",
    "random_state",
    "solver",
    "n_jobs",
)


class SoftmaxRegressionCV(SoftmaxRegression):
    r"""Softmax regression with ``C`` chosen by cross-validated paths.

    The cross-validation counterpart of :class:`SoftmaxRegression`, as
    :class:`~sklearn.linear_model.LogisticRegressionCV` is of
    :class:`~sklearn.linear_model.LogisticRegression` (with scikit-learn
    1.9's ``use_legacy_attributes=False`` layout of the fitted attributes).
    For every fold of ``cv`` and every ``l1_ratio`` it fits the whole grid
    ``Cs`` as one *regularisation path*: from the smallest ``C`` (strongest
    penalty) to the largest, each fit warm-started from the previous
    solution and all sharing the feature statistics of the solvers'
    standardisation, so a path costs a small multiple of one fit. It scores
    every ``(fold, l1_ratio, C)`` on the held-out fold, picks the pair with
    the best mean score, and refits on all the data.

    Parameters
    ----------
    Cs : int or array-like of float, default=10
        The grid of ``C`` (inverse penalty strength, as in
        :class:`SoftmaxRegression`). An int ``n`` gives ``n`` values
        log-spaced in ``[1e-4, 1e4]``; values may be ``np.inf`` (no
        penalty).
    l1_ratios : array-like of float, default=None
        The grid of elastic-net mixing parameters in ``[0, 1]``, passed to
        :class:`SoftmaxRegression`'s ``l1_ratio`` (1 is the lasso); values
        above 0 need ``solver="lbfgs"``. ``None`` means ``(0.0,)``: an L2
        penalty only (LogisticRegressionCV's ``l1_ratios=None`` too).
    bounds : tuple (lower, upper), default=None
        Box constraints on ``coef_`` in every fit, as in
        :class:`SoftmaxRegression` (e.g. ``(0, np.inf)``); need
        ``solver="lbfgs"``.
    fit_intercept : bool, default=True
        Whether to fit per-class intercepts (never penalised).
    cv : int, cross-validation generator or iterable, default=None
        The folds. ``None`` is 5-fold and an int ``k`` is ``k``-fold
        :class:`~sklearn.model_selection.StratifiedKFold`, not shuffled, as in
        LogisticRegressionCV; an iterable of ``(train, test)`` index pairs
        is used as given (a single pair gives one path with a held-out
        score per ``C``).
    scoring : str, callable or None, default=None
        Score of a fitted model on a held-out fold (higher is better). ``None``
        is the negative weighted mean of the normalizer's own loss, the
        negative log-loss for softmax, computed from the scores without
        building a model per ``C``; it equals ``"neg_log_loss"`` except that
        probabilities are not clipped at machine epsilon (a confidently wrong
        prediction costs its full log-loss). Otherwise a scorer name or
        callable, as in :func:`~sklearn.metrics.get_scorer`, weighted by
        ``sample_weight`` when given (as in LogisticRegressionCV).
        ``"neg_log_loss"`` with softmax is computed the same way, with
        scikit-learn's clipping, instead of through the scorer (equal to it
        to rounding, without its per-call validation).
    solver : {"lbfgs", "newton-cg", "trust-ncg"}, default="lbfgs"
        As in :class:`SoftmaxRegression`.
    tol : float, default=1e-4
        Stopping tolerance of every fit (largest gradient entry, as in
        :class:`SoftmaxRegression`). Fits that stop above it warn once per
        distinct message, at the line that called ``fit``.
    max_iter : int, default=100
        Iteration limit of every fit.
    class_weight : dict or "balanced", default=None
        As in :class:`SoftmaxRegression`; ``"balanced"`` weights are computed
        once on the whole training data and used in every fold, as in
        LogisticRegressionCV.
    n_jobs : int, default=None
        CPU cores for the whole fit, shared between folds and threads: with
        ``N`` cores and ``m`` paths (folds times ``l1_ratios``),
        ``min(N, m)`` paths run at once and each fit within them uses
        ``N // min(N, m)`` threads, and BLAS is kept to one thread
        throughout, so the total never exceeds ``N``.
        ``None`` means one core per physical core (within the OpenMP
        thread budget: ``OMP_NUM_THREADS``, threadpoolctl limits), as in
        :class:`SoftmaxRegression`, with the paths in threads of this
        process; an explicit value (``-1``: all logical CPUs) runs them as
        joblib jobs, in worker processes unless a
        :func:`joblib.parallel_config` backend says otherwise, as
        LogisticRegressionCV does: faster on large data (the paths do not
        contend for the interpreter), at the cost of starting the workers
        once per session. Independent paths come first because they need
        no synchronisation; the final refit uses all ``N`` threads.
    verbose : int, default=0
        joblib's progress report of the paths when positive; from 2 on,
        also every solver iteration.
    refit : bool, default=True
        Refit on the whole data at the best ``(C, l1_ratio)`` (mean score
        over folds), starting from the folds' mean solution. If False, the
        model is the mean of every fold's own best solution, and ``C_`` and
        ``l1_ratio_`` the means of those folds' best values.
    random_state : int, RandomState instance or None, default=None
        Seeds the random start of non-convex normalizers (taylor,
        spherical); the folds of an int ``cv`` are not shuffled.
    normalizer : str or Normalizer, default="softmax"
        As in :class:`SoftmaxRegression`.
    temperature : float or "auto", default=1.0
        A fixed temperature used in every fit and every score, or ``"auto"``:
        the folds are fitted and scored at ``T = 1`` and, once ``C`` and
        ``l1_ratio`` are chosen, ``T`` is fitted to the held-out scores of the
        chosen models, which the paths have already computed: no extra fits.
    calibration : {"temperature", "vector", "ensemble"}, default=None
        As in :class:`SoftmaxRegression`, fitted to the held-out scores of
        the chosen fold models (no extra fits). ``"temperature"`` is
        ``temperature="auto"``; ``"vector"`` maps the refitted model;
        ``"ensemble"`` takes the mean of the chosen fold models instead of
        refitting (as ``refit=False`` does).

    Attributes
    ----------
    C_ : float
        The chosen ``C``.
    l1_ratio_ : float
        The chosen ``l1_ratio``.
    Cs_ : ndarray of shape (n_cs,)
        The grid of ``C``, in the order of ``Cs``.
    l1_ratios_ : ndarray of shape (n_l1_ratios,)
        The grid of ``l1_ratio`` (``[0.0]`` when ``l1_ratios=None``).
    scores_ : ndarray of shape (n_folds, n_l1_ratios, n_cs)
        Held-out score of every fold's model at every grid point.
    coefs_paths_ : ndarray of shape (n_folds, n_l1_ratios, n_cs, n_classes, n_dof)
        Every fold's coefficients at every grid point, the intercepts in the
        last column when ``fit_intercept`` (``n_dof = n_features + 1``);
        the scores' coefficients, as ``coef_`` (a fixed temperature is
        folded in).
        Unlike LogisticRegressionCV, two classes keep two rows, as in
        ``coef_``.
    n_iter_ : ndarray of shape (n_folds, n_l1_ratios, n_cs)
        Solver iterations of every fit of the paths.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coef_ : ndarray of shape (n_classes, n_features)
        The chosen model's scores' coefficients, as in
        :class:`SoftmaxRegression`: ``decision_function(X) == X @ coef_.T +
        intercept_`` for softmax, sparsemax and entmax15.
    intercept_ : ndarray of shape (n_classes,)
        The chosen model's intercepts.
    normalizer_ : Normalizer
        The fitted, resolved normalizer object.
    temperature_ : float
        The temperature folded into ``coef_`` and ``intercept_``, as in
        :class:`SoftmaxRegression` (a record: not applied again).
    calibration_scale_, calibration_bias_, calibration_pull_
        The map of ``calibration="vector"`` or ``"ensemble"``, as in
        :class:`SoftmaxRegression`.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names, when ``X`` has string column names (pandas).

    See Also
    --------
    SoftmaxRegression : The estimator fitted at each grid point.
    sklearn.linear_model.LogisticRegressionCV : The reference.

    Notes
    -----
    **Two classes.** ``Cs`` and ``l1_ratios`` are :class:`SoftmaxRegression`'s
    ``C`` and ``l1_ratio``: ``SoftmaxRegression(C=c, l1_ratio=r)`` is
    ``LogisticRegression(C=2 * c / (1 + r), l1_ratio=2 * r / (1 + r))``. So
    with an L2 penalty this estimator with ``Cs=grid`` matches
    LogisticRegressionCV with ``Cs=2 * grid`` (same ``scores_``, ``C_``
    halved); with the lasso (``l1_ratios=[1]``) the grids are the same; a
    grid of several ``l1_ratios`` maps to a grid that is not a product.

    **Cost.** Every path is warm-started from its strongest penalty, where
    the solution is near zero (exactly zero for the lasso below the
    smallest ``C`` that selects a feature), so the fits of the weaker
    penalties start close to their optima; the first fit of a path is the
    only cold one.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from softreg import SoftmaxRegressionCV
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = SoftmaxRegressionCV(Cs=5, cv=3).fit(X, y)
    >>> float(clf.C_)
    100.0
    >>> clf.scores_.shape
    (3, 1, 5)
    >>> clf.predict(X[:2])
    array([0, 0])
    """

    _parameter_constraints: dict = {
        **{k: SoftmaxRegression._parameter_constraints[k] for k in _SHARED},
        "Cs": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "l1_ratios": ["array-like", None],
        "cv": ["cv_object"],
        "scoring": [StrOptions(set(get_scorer_names())), callable, None],
        "refit": ["boolean"],
        "calibration": SoftmaxRegression._parameter_constraints["calibration"],
    }

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Its folds and paths are NumPy-only; SoftmaxRegression alone fits
        # array-API input on its device.
        tags.array_api_support = False
        return tags

    def __init__(
        self,
        *,
        Cs=10,
        l1_ratios=None,
        bounds=None,
        fit_intercept=True,
        cv=None,
        scoring=None,
        solver="lbfgs",
        tol=1e-4,
        max_iter=100,
        class_weight=None,
        n_jobs=None,
        verbose=0,
        refit=True,
        random_state=None,
        normalizer="softmax",
        temperature=1.0,
        calibration=None,
    ):
        self.Cs = Cs
        self.l1_ratios = l1_ratios
        self.bounds = bounds
        self.fit_intercept = fit_intercept
        self.cv = cv
        self.scoring = scoring
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.class_weight = class_weight
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.refit = refit
        self.random_state = random_state
        self.normalizer = normalizer
        self.temperature = temperature
        self.calibration = calibration

    def _estimator(self, l1_ratio, n_jobs, temperature, random_state):
        """A SoftmaxRegression with this estimator's settings (C set later)."""
        params = {k: getattr(self, k) for k in _SHARED}
        params.update(n_jobs=n_jobs, temperature=temperature)
        params["verbose"] = max(0, self.verbose - 1)
        params.update(random_state=random_state, l1_ratio=float(l1_ratio))
        return SoftmaxRegression(**params)

    def _l1_ratio_grid(self):
        if self.l1_ratios is None:
            return np.zeros(1)
        try:
            grid = np.asarray(self.l1_ratios, dtype=np.float64).ravel()
        except (TypeError, ValueError) as exc:
            raise ValueError(f"l1_ratios must be numbers in [0, 1]; {exc}") from exc
        if grid.size == 0 or not np.all((grid >= 0) & (grid <= 1)):
            raise ValueError(
                "l1_ratios must be None or a non-empty array-like of numbers in "
                f"[0, 1]; got {self.l1_ratios!r}"
            )
        return grid

    def _scorer(self, classes):
        """The scorer of a fold's model, or None for the normalizer's loss."""
        if self.scoring is None:
            return None
        scorer = get_scorer(self.scoring)
        # As LogisticRegressionCV: a held-out fold may lack a class, so
        # metrics that take the labels (log_loss, brier score) get them all.
        func = getattr(scorer, "_score_func", None)
        if func is not None and "labels" in inspect.signature(func).parameters:
            extra = {}
            if classes.size == 2 and "pos_label" in inspect.signature(func).parameters:
                extra["pos_label"] = classes[-1]
            scorer = make_scorer(
                func,
                greater_is_better=scorer._sign == 1,
                response_method=scorer._response_method,
                labels=classes,
                **extra,
                **getattr(scorer, "_kwargs", {}),
            )
        return scorer

    def _fold_path(
        self, X, y, y_enc, weights, score_weight, train, test, Cs, l1_ratio, ctx
    ):
        """Fit one path on ``train`` and score every step on ``test``.

        Returns the path's coefficients, intercepts, iterations, scores and
        the convergence warnings of its fits, for the caller to re-issue.
        """
        X = task_array(X)
        with deferred_convergence_warnings() as messages:
            return (
                *self._fold_path_fits(
                    X, y, y_enc, weights, score_weight, train, test, Cs, l1_ratio, ctx
                ),
                messages,
            )

    def _fold_path_fits(
        self, X, y, y_enc, weights, score_weight, train, test, Cs, l1_ratio, ctx
    ):
        n_classes = ctx["classes"].size
        est = self._estimator(
            l1_ratio, ctx["n_threads"], ctx["train_T"], ctx["random_state"]
        )
        est.normalizer_ = resolve_normalizer(self.normalizer)
        coefs, intercepts, n_iter = fit_path(
            est,
            X[train],
            y_enc[train],
            n_classes,
            weights[train],
            Cs,
            ctx["train_T"],
        )
        X_test = X[test]
        y_test = y_enc[test]
        weight = None if score_weight is None else score_weight[test]
        scorer = ctx["scorer"]
        clip = None  # the log-loss's probability clipping, see below
        if scorer is not None:
            # The path's estimator, fitted in turn at each step, is the model
            # that the scorer predicts with.
            est.classes_ = ctx["classes"]
            est.temperature_ = ctx["train_T"]
            est.n_features_in_ = X.shape[1]
            kwargs = _check_method_params(X, ctx["score_params"], indices=test)
            if ctx["own_log_loss"] and set(kwargs) <= {"sample_weight"}:
                # "neg_log_loss" of a normalizer whose loss is the negative
                # log-likelihood: that loss, clipped as scikit-learn's
                # log_loss clips the probabilities (to [eps, 1 - eps] in
                # predict_proba's dtype). The scorer's validation of labels
                # and probabilities was 15% of a path's time, the same work
                # at every C.
                scorer, clip = None, np.finfo(X.dtype).eps
                weight = kwargs.get("sample_weight")
        scores = np.empty(len(Cs))
        for i in range(len(Cs)):
            if scorer is None:
                scores[i] = _negative_loss(
                    est.normalizer_,
                    X_test,
                    y_test,
                    weight,
                    coefs[i],
                    intercepts[i],
                    clip,
                )
            else:
                est.coef_ = coefs[i].astype(X.dtype)
                est.intercept_ = intercepts[i].astype(X.dtype)
                scores[i] = scorer(est, X_test, y[test], **kwargs)
        return coefs, intercepts, n_iter, scores

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, **params):
        """Fit the paths on every fold, choose ``C`` and ``l1_ratio``, refit.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; float32 is kept as float32.
        y : array-like of shape (n_samples,)
            Class labels (at least two distinct classes).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights, used in the fits and in the held-out
            scores.
        **params : dict
            Metadata for the splitter of ``cv`` (e.g. ``groups`` for
            :class:`~sklearn.model_selection.GroupKFold`) and for the scorer,
            routed as in LogisticRegressionCV: only with
            ``sklearn.set_config(enable_metadata_routing=True)``; see
            :ref:`cv_estimator`.

        Returns
        -------
        self : SoftmaxRegressionCV
            The fitted estimator.
        """
        _raise_for_params(params, self, "fit")
        X, y = validate_data(
            self, X, y, accept_sparse="csr", dtype=[np.float64, np.float32]
        )
        if _routing_enabled():
            routed = process_routing(self, "fit", sample_weight=sample_weight, **params)
            split_params = routed.splitter.split
            # The default criterion is the estimator's own weighted loss, not
            # a routed scorer (get_metadata_routing adds none for it).
            score_params = routed.scorer.score if "scorer" in routed else {}
        else:
            # Without routing, as LogisticRegressionCV: the sample weights go
            # to the scorer, nothing to the splitter.
            split_params = {}
            score_params = (
                {} if sample_weight is None else {"sample_weight": sample_weight}
            )
        # softreg's threads own the parallelism (see softreg._blocks): BLAS
        # keeps one thread throughout, n_jobs=1 included, where a BLAS pool
        # would only spin between the small products of the paths.
        with _blas_limit():
            return self._fit_grid(X, y, sample_weight, split_params, score_params)

    def _fit_grid(self, X, y, sample_weight, split_params, score_params):
        """The paths on every fold, the choice, the refit; ``X`` validated.

        ``split_params`` go to the splitter's ``split``; ``score_params`` to
        a ``scoring`` scorer, sliced to each held-out fold.
        """
        Cs = c_grid(self.Cs)
        l1_ratios = self._l1_ratio_grid()
        score_weight = None
        if sample_weight is not None:
            score_weight = _check_sample_weight(
                sample_weight, X, dtype=X.dtype, ensure_non_negative=True
            )
        # Weights of the fits: sample weights times class weights, the
        # "balanced" ones computed on all of y (as LogisticRegressionCV does).
        y_enc, classes, weights = self._encode_and_weigh(X, y, sample_weight)
        cv = check_cv(self.cv, y, classifier=True)
        folds = list(cv.split(X, y, **split_params))
        self.classes_ = classes
        self.normalizer_ = resolve_normalizer(self.normalizer)
        calibration = self._calibration_method()
        train_T = 1.0 if calibration else float(self.temperature)
        random_state = self.random_state
        if random_state is not None and not isinstance(random_state, Integral):
            # A RandomState shared by threads would make fits order-dependent.
            random_state = check_random_state(random_state).randint(2**31 - 1)

        # Bounds, and the solver's support for l1_ratio and bounds, are
        # checked here, before any fit.
        penalty = self._estimator(l1_ratios.max(), 1, train_T, random_state)._penalty(
            classes.size, X.shape[1]
        )

        tasks = [(f, j) for f in range(len(folds)) for j in range(l1_ratios.size)]
        n_cores = resolve_n_threads(self.n_jobs)
        n_parallel = min(n_cores, len(tasks))
        ctx = {
            "classes": classes,
            "n_threads": max(1, n_cores // n_parallel),
            "train_T": train_T,
            "random_state": random_state,
            "scorer": self._scorer(classes),
            "own_log_loss": self.scoring == "neg_log_loss"
            and getattr(self.normalizer_, "likelihood", False),
            "score_params": score_params,
        }
        # Paths in threads of one process contend for the interpreter (each
        # pass has some Python: L-BFGS-B's step, the normalizer's numpy
        # calls, the scorer): two 16000 x 100 paths took 0.65-0.72 s each
        # side by side in threads, 0.45-0.56 s in two processes. So, as
        # LogisticRegressionCV, an explicit n_jobs runs the paths as joblib's
        # worker processes, which map one file of X (softreg._shared); the
        # default stays in this process, where no worker has to start
        # (1.5-2 s, once per session).
        processes = self.n_jobs is not None
        with shared_with_workers(X) as X_tasks:
            results = Parallel(
                n_jobs=n_parallel,
                prefer="processes" if processes else "threads",
                verbose=self.verbose,
            )(
                delayed(self._fold_path)(
                    X_tasks,
                    y,
                    y_enc,
                    weights,
                    score_weight,
                    *folds[f],
                    Cs,
                    l1_ratios[j],
                    ctx,
                )
                for f, j in tasks
            )

        reissue_convergence_warnings(m for r in results for m in r[4])
        n_folds, n_l1, n_cs = len(folds), l1_ratios.size, Cs.size
        n_classes, n_features = classes.size, X.shape[1]
        coefs = np.array([r[0] for r in results]).reshape(
            n_folds, n_l1, n_cs, n_classes, n_features
        )
        intercepts = np.array([r[1] for r in results]).reshape(
            n_folds, n_l1, n_cs, n_classes
        )
        self.n_iter_ = np.array([r[2] for r in results]).reshape(n_folds, n_l1, n_cs)
        self.scores_ = np.array([r[3] for r in results]).reshape(n_folds, n_l1, n_cs)
        paths = coefs
        if self.fit_intercept:
            paths = np.concatenate([coefs, intercepts[..., None]], axis=-1)
        self.coefs_paths_ = paths.astype(X.dtype)
        self.Cs_ = Cs
        self.l1_ratios_ = l1_ratios

        # LogisticRegressionCV's choice and tie-breaking: the first maximum in
        # C-major order of the (C, l1_ratio) table.
        if self.refit:
            total = self.scores_.sum(axis=0).T  # (n_cs, n_l1)
            i_c, i_l1 = np.unravel_index(np.argmax(total), total.shape)
            best = [(i_l1, i_c)] * n_folds
        else:
            best = []
            for f in range(n_folds):
                i_c, i_l1 = np.unravel_index(np.argmax(self.scores_[f].T), (n_cs, n_l1))
                best.append((i_l1, i_c))
        coef = np.mean([coefs[f, j, i] for f, (j, i) in enumerate(best)], axis=0)
        intercept = np.mean(
            [intercepts[f, j, i] for f, (j, i) in enumerate(best)], axis=0
        )
        if self.refit:
            self.C_, self.l1_ratio_ = float(Cs[i_c]), float(l1_ratios[i_l1])
        else:
            self.C_ = float(np.mean([Cs[i] for _, i in best]))
            self.l1_ratio_ = float(np.mean([l1_ratios[j] for j, _ in best]))

        if self.refit and calibration != "ensemble":
            final = self._estimator(self.l1_ratio_, n_cores, train_T, random_state)
            final.set_params(C=self.C_, warm_start=True)
            final.coef_, final.intercept_ = coef, intercept
            final.fit(X, y, sample_weight)
            coef, intercept = final.coef_, final.intercept_
        # An average of solutions within the bounds is within them too; the
        # cast to float32 keeps it so.
        self.coef_ = np.ascontiguousarray(penalty.cast(coef, X.dtype))
        self.intercept_ = np.asarray(intercept, dtype=X.dtype)
        self.temperature_ = train_T
        self._coef_holds_temperature = True  # see SoftmaxRegression.__setstate__
        if calibration:
            scores, rows, fold_of = self._held_out_scores(
                X, folds, coefs, intercepts, best
            )
            if calibration == "temperature":
                self.temperature_ = fit_temperature(
                    self.normalizer_, scores, y_enc[rows], weights[rows]
                )
                # Folded into coef_ and intercept_, as in SoftmaxRegression.
                post_hoc = 1.0 / self.temperature_
                box = self._estimator(self.l1_ratio_, 1, train_T, random_state)
                box = box._penalty(n_classes, n_features, scale=post_hoc)
                self.coef_ = np.ascontiguousarray(
                    box.cast(self.coef_.astype(np.float64) * post_hoc, X.dtype)
                )
                self.intercept_ = (self.intercept_ * post_hoc).astype(X.dtype)
            else:
                self._calibrate(
                    scores, y_enc[rows], weights[rows], fold_of, penalty, X.dtype
                )
        return self

    def _calibrate(self, scores, y_enc, weights, fold_of, penalty, dtype):
        """Fit ``calibration="vector"``/``"ensemble"``'s map, fold it into coef_.

        For "ensemble" ``coef_`` is already the mean of the chosen fold
        models (no refit), as with ``refit=False``.
        """
        Y = one_hot(y_enc, self.classes_.size, np.float64)
        mapping = fit_calibration(self.normalizer_, scores, Y, weights, fold_of)
        self._apply_calibration(mapping, self.coef_, self.intercept_, penalty, dtype)

    def score(self, X, y, sample_weight=None, **score_params):
        """Score on ``X`` and ``y`` with the ``scoring`` option.

        As ``LogisticRegressionCV.score``: the criterion that chose ``C``,
        here the negative weighted mean loss of the normalizer (the negative
        log-loss for softmax) by default.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Test samples.
        y : array-like of shape (n_samples,)
            True labels, among ``classes_``.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.
        **score_params : dict
            Metadata of a ``scoring`` scorer, routed only with
            ``sklearn.set_config(enable_metadata_routing=True)``.

        Returns
        -------
        score : float
        """
        _raise_for_params(score_params, self, "score")
        scorer = self._scorer(self.classes_)
        if scorer is not None:
            if _routing_enabled():
                kwargs = process_routing(
                    self, "score", sample_weight=sample_weight, **score_params
                ).scorer.score
            else:
                kwargs = (
                    {} if sample_weight is None else {"sample_weight": sample_weight}
                )
            return scorer(self, X, y, **kwargs)
        check_consistent_length(X, y, sample_weight)
        y = np.asarray(y)
        y_enc = np.searchsorted(self.classes_, y)
        known = (y_enc < self.classes_.size) & (
            self.classes_[np.minimum(y_enc, self.classes_.size - 1)] == y
        )
        if not np.all(known):
            raise ValueError(
                f"y has labels not seen in fit: {np.unique(y[~known]).tolist()}"
            )
        Z = self._map_scores(X, None)
        loss, _ = self.normalizer_.loss_gradient(
            one_hot(y_enc, self.classes_.size, Z.dtype), Z
        )
        return -float(np.average(loss.astype(np.float64), weights=sample_weight))

    def get_metadata_routing(self):
        """Get the metadata routing of this object.

        As LogisticRegressionCV's: ``fit`` routes metadata to the splitter's
        ``split`` (``groups``) and, with a ``scoring``, ``fit`` and ``score``
        route to the scorer; ``sample_weight`` is this estimator's own. The
        default criterion (``scoring=None``) is not a routed scorer: it
        always uses ``sample_weight``. See scikit-learn's user guide on
        metadata routing.

        Returns
        -------
        routing : MetadataRouter
        """
        router = (
            MetadataRouter(owner=self.__class__.__name__)
            .add_self_request(self)
            .add(
                splitter=self.cv,
                method_mapping=MethodMapping().add(caller="fit", callee="split"),
            )
        )
        if self.scoring is not None:
            router.add(
                scorer=get_scorer(self.scoring),
                method_mapping=MethodMapping()
                .add(caller="score", callee="score")
                .add(caller="fit", callee="score"),
            )
        return router

    def _held_out_scores(self, X, folds, coefs, intercepts, best):
        """Held-out scores of each fold's chosen model, their rows and folds."""
        scores, rows = [], []
        for (_, test), (j, i), W, b in zip(
            folds, best, coefs[:, :, :], intercepts, strict=True
        ):
            Wt = W[j, i].T.astype(X.dtype)
            scores.append(linear_scores(X[test], Wt, b[j, i].astype(X.dtype), 1.0))
            rows.append(test)
        fold_of = np.repeat(np.arange(len(rows)), [len(r) for r in rows])
        return np.vstack(scores), np.concatenate(rows), fold_of


def _negative_loss(normalizer, X, y_enc, sample_weight, coef, intercept, clip=None):
    """Minus the (weighted) mean loss of the normalizer on ``X``'s scores.

    ``coef`` and ``intercept`` are the scores' coefficients (those of a
    path, which hold its training temperature). With ``clip`` (a likelihood
    normalizer's loss, ``-log p_y``), each row's probability is clipped to
    ``[clip, 1 - clip]`` first, as scikit-learn's ``log_loss`` does.
    """
    Z = linear_scores(
        X,
        np.ascontiguousarray(coef.T, dtype=X.dtype),
        intercept.astype(X.dtype),
        1.0,
    )
    loss, _ = normalizer.loss_gradient(one_hot(y_enc, coef.shape[0], Z.dtype), Z)
    loss = loss.astype(np.float64)
    if clip is not None:
        np.clip(loss, -np.log1p(-clip), -np.log(clip), out=loss)
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
    return -float(np.average(loss, weights=sample_weight))
