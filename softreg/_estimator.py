"""SoftmaxRegression: validation, classes, and the wiring of the layers."""

import inspect
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    validate_data,
)

from ._blocks import BlockRunner
from ._calibration_methods import CalibrationMixin
from ._data import InMemoryFitData
from ._inference_methods import InferenceMixin
from ._objective import LinearObjective
from ._penalty import ElasticNet, check_bounds
from ._predict import PredictMixin
from ._robust import (
    check_fit_memory,
    guarded_fit,
    is_dask,
    native_input,
    native_labels,
)
from ._solvers import SOLVERS
from ._targets import (
    apply_class_weight,
    class_totals,
    smooth,
    validate_training_data,
)
from ._temperature import minimize_temperature
from ._xp import (
    ArrayAPIFitData,
    array_api_input,
    numpy_dtype,
    to_numpy,
)
from .normalizers._base import REQUIRED_METHODS, optional
from .normalizers._registry import NORMALIZERS, resolve_normalizer

_CALIBRATION_ATTRIBUTES = (
    "calibration_scale_",
    "calibration_bias_",
    "calibration_pull_",
)

# An attribute that fit sets since coef_ became the scores' coefficients: a
# fitted state without it (pickled by 0.1.0.dev0) is converted by
# __setstate__. A fitted attribute rather than a pickle-only key, so that
# every serializer that keeps __dict__ (pickle, joblib, cloudpickle, skops,
# copy.deepcopy) keeps it.
_SCORES_MARK = "_coef_holds_temperature"


def _fold_pickled_temperature(state):
    """Convert a model pickled by softreg 0.1.0.dev0 to the current meaning.

    Those models kept the trained ``W`` in ``coef_`` and divided the scores
    by ``temperature_`` in every predict method; now ``coef_`` and
    ``intercept_`` are the scores' coefficients. Dividing them by
    ``temperature_`` once gives the same predictions (to rounding).
    """
    T = state.get("temperature_", 1.0)
    if "coef_" not in state or T == 1.0:
        return
    coef = state["coef_"]
    state["coef_"] = (coef * (1.0 / T)).astype(coef.dtype)
    state["intercept_"] = (state["intercept_"] / T).astype(state["intercept_"].dtype)
    # SoftmaxRegressionCV's paths were trained, and kept, at a fixed T.
    train_t = state.get("temperature", 1.0)
    paths = state.get("coefs_paths_")
    if paths is not None and train_t != "auto" and state.get("calibration") is None:
        state["coefs_paths_"] = (paths / float(train_t)).astype(paths.dtype)


class SoftmaxRegression(
    InferenceMixin, CalibrationMixin, PredictMixin, ClassifierMixin, BaseEstimator
):
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
        ``coef_`` satisfies them exactly, also under a fixed temperature;
        only ``solver="lbfgs"`` supports them. A post-hoc temperature
        (``temperature="auto"``, ``calibration="temperature"``) divides the
        bounded model's coefficients by ``temperature_``: ``coef_ *
        temperature_`` satisfies the bounds, and so does ``coef_`` for sign
        constraints (bounds of 0 and infinity), which a positive factor
        keeps.
    fit_intercept : bool, default=True
        Whether to fit a per-class intercept ``b`` (never penalised).
    class_weight : dict or "balanced", default=None
        Weights ``{class_label: weight}`` multiplied into the sample weights;
        ``"balanced"`` uses ``n_samples / (n_classes * np.bincount(y))``
        (weighted counts when ``sample_weight`` is given; for soft targets
        the soft class totals ``sample_weight @ Y``). With soft targets a
        class weight ``c_k`` multiplies the weight ``Y[i, k]`` of class ``k``
        in row ``i``, as in the replicated data set (see :meth:`fit`).
    tol : float, default=1e-4
        Stop when the largest absolute gradient entry (in ``coef_`` and
        ``intercept_``) is at most ``tol``; with ``l1_ratio > 0`` or
        ``bounds``, the largest violation of the optimality conditions (the
        projected gradient). Every solver meets it or raises a
        ConvergenceWarning naming the value it reached; see the user guide's
        "Numerical behaviour" page.
    max_iter : int, default=100
        Maximum number of solver iterations. 0 runs none: the starting
        coefficients (zeros, or the previous fit's with ``warm_start``) are
        kept, with a ConvergenceWarning unless they already meet ``tol``.
    warm_start : bool, default=False
        Start from the previous fit's ``coef_`` and ``intercept_`` when the
        shapes match: from the previous model's scores, whatever the
        temperature of either fit (the trained coefficients start at
        ``T * coef_`` for a training temperature ``T``).
    verbose : int, default=0
        Print the objective and gradient norm at each iteration if positive.
    normalizer : str or Normalizer, default="softmax"
        The map from scores to probabilities and its loss; see
        :mod:`softreg.normalizers`. A name or an instance (which is cloned).
    temperature : float or "auto", default=1.0
        The model is trained on the scores ``(X W^T + b) / T``; ``coef_`` and
        ``intercept_`` are the scores' coefficients ``W / T`` and ``b / T``,
        so that the predict methods, like every tool that reads ``coef_``,
        use ``X @ coef_.T + intercept_`` as is (``temperature_`` records
        ``T``). A fixed ``T`` only re-parametrises ``C``: under the L2
        penalty, ``(T, C)`` is the model of ``(1, C / T**2)``, the same
        ``coef_`` and predictions (the trained ``W`` is ``T * coef_``).
        ``"auto"`` trains at ``T = 1`` and then chooses ``T`` from the
        normalizer's loss of out-of-fold scores (internal cross-validation
        over ``cv``) under a prior on ``log T`` centred on the uncalibrated
        model, which a few out-of-fold errors cannot overrule (see
        :ref:`temperature_rule`): a post-hoc calibration that never changes
        ``predict`` for monotone normalizers; the trained coefficients
        divided by that ``T`` become ``coef_``.
    cv : int, cross-validation generator or iterable, default=5
        Folds for ``temperature="auto"`` and ``calibration`` (ignored
        otherwise). An int gives a
        shuffled :class:`~sklearn.model_selection.StratifiedKFold` seeded by
        ``random_state``.
    random_state : int, RandomState instance or None, default=None
        Seeds the folds of ``temperature="auto"`` and ``calibration`` and
        the random start of non-convex normalizers (taylor, spherical). Pass
        an int for reproducible fits.
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
        Threads evaluating row blocks of the objective and of predictions.
        ``None`` means one thread per physical core, within the thread
        budget that scikit-learn's OpenMP code respects: ``OMP_NUM_THREADS``
        (joblib's worker processes get ``cpu_count() // n_jobs`` there, so
        ``GridSearchCV(n_jobs=-1)`` does not oversubscribe) and an active
        ``threadpoolctl.threadpool_limits`` on OpenMP; ``1`` runs in
        the calling thread; ``-1`` uses all logical CPUs (``-2`` all but one,
        as in joblib; ``0`` is refused). While any softreg
        call runs, the process's BLAS is held at one thread (softreg's own
        threads use the cores) and restored when the last call returns, so
        results do not depend on what runs beside them; see
        :ref:`thread-safety`.
    label_smoothing : float in [0, 1), default=0.0
        Train on the targets ``(1 - eps) * Y + eps / n_classes`` with
        ``eps = label_smoothing`` and ``Y`` the one-hot labels (or the soft
        targets), the meaning of PyTorch's ``CrossEntropyLoss``. The fit
        equals the soft-target fit of that smoothed matrix.
    calibration : {"temperature", "vector", "ensemble"}, default=None
        Post-hoc calibration fitted to out-of-fold scores (internal
        cross-validation over ``cv``, models trained at ``T = 1``); the
        calibrated model is still one linear model, its map folded into
        ``coef_`` and ``intercept_`` (so ``decision_function(X) == X @
        coef_.T + intercept_`` still holds). None: ``temperature`` decides.
        ``"temperature"`` is ``temperature="auto"``. ``"vector"`` fits the
        model on all the data and a per-class scale and bias on the scores
        (vector scaling, Guo et al. 2017) with the mean scale of that
        temperature, pulled towards plain temperature
        by an L2 penalty whose strength (infinite: plain temperature) is
        chosen by a second cross-validation over the out-of-fold scores
        (even folds against odd ones).
        ``"ensemble"`` takes as the model the mean of the fold models'
        coefficients (one linear model carrying the shrinkage of
        :class:`~sklearn.calibration.CalibratedClassifierCV`'s ensemble, no
        refit on all the data) with the same map; for convex normalizers
        only. ``"vector"`` and ``"ensemble"`` are not available on Dask
        input and need no ``bounds`` and ``temperature=1.0`` or ``"auto"``;
        see
        :ref:`calibration`.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels: the sorted labels of ``y``, or for soft targets the
        ``classes`` fit parameter (default ``np.arange(n_classes)``).
    coef_ : ndarray of shape (n_classes, n_features)
        The scores' coefficients: every predict method, the ONNX export and
        the inference use the scores ``X @ coef_.T + intercept_``, which are
        ``decision_function(X)`` for normalizers whose decision is the scores
        (softmax, sparsemax, entmax15), whatever ``temperature`` or
        ``calibration`` (folded in), as for scikit-learn's linear
        classifiers. In ``X``'s dtype (a scipy.sparse matrix after
        :meth:`sparsify`; an array of ``X``'s library and device when fitted
        on array-API input under ``array_api_dispatch``). For
        shift-invariant normalizers (softmax) under the L2 penalty it is
        centred: each column sums to zero over classes.
        With ``l1_ratio > 0`` or ``bounds`` it is not centred: it is the
        minimiser found, which among the equivalent ``W + 1 a^T`` has the
        smallest penalty (for the lasso, 0 is a median of every column).
    intercept_ : ndarray of shape (n_classes,)
        Intercepts ``b`` (zeros if ``fit_intercept=False``), centred for
        shift-invariant normalizers.
    normalizer_ : Normalizer
        The fitted, resolved normalizer object.
    temperature_ : float
        The temperature folded into ``coef_`` and ``intercept_`` (a record:
        no predict method applies it again): ``temperature`` itself, or the
        cross-validated value when ``temperature="auto"`` (or
        ``calibration="temperature"``); 1.0 for ``calibration="vector"`` and
        ``"ensemble"``, whose map (``calibration_scale_``,
        ``calibration_bias_``) is folded in instead. The trained
        coefficients are ``temperature_ * coef_``.
    calibration_scale_ : ndarray of shape (n_classes,)
        ``calibration="vector"`` or ``"ensemble"``: the per-class scales of
        the map ``scale * z + bias`` applied to the uncalibrated scores
        (all ``1 / T`` when it chose plain temperature).
    calibration_bias_ : ndarray of shape (n_classes,)
        The per-class biases of that map.
    calibration_pull_ : float
        The strength of the map's L2 pull towards plain temperature chosen by
        the inner cross-validation; ``inf`` means plain temperature.
    n_iter_ : int
        Number of solver iterations of the final fit (with
        ``calibration="ensemble"``, which has none, the most of any fold
        model).
    n_passes_ : int
        Number of passes over the training data in ``fit``: every
        loss-and-gradient evaluation and Hessian-vector product, those of
        the fold models of ``temperature="auto"``, and on Dask input the
        first pass that collects the classes and statistics. On a cluster,
        passes are what a fit costs. Passes over the float32 copy that
        float64 data get for their early passes count alike (each costs
        about half; see the user guide's "Numerical behaviour" page).
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
    ``coef_[1] = -coef_[0]`` (under the L2 penalty). The symmetric penalty makes
    ``SoftmaxRegression(C=c)`` give exactly the probabilities of
    ``LogisticRegression(C=2 * c)``, whose ``coef_`` equals
    ``coef_[1] - coef_[0]`` here. ``decision_function`` returns that
    difference of scores, shape ``(n_samples,)``: ``X @ (coef_[1] -
    coef_[0]) + (intercept_[1] - intercept_[0])``. Tools that expect
    LogisticRegression's one-row layout (shap's plots, mlflow's SHAP
    artefacts) take that difference; see the user guide's "Using softreg
    with other tools". With ``l1_ratio = r``
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

    **Array API (GPU).** Under
    ``sklearn.set_config(array_api_dispatch=True)`` (with
    ``SCIPY_ARRAY_API=1`` in the environment), PyTorch, CuPy and other
    array-API inputs are fitted and predicted on their device; ``coef_``,
    ``intercept_`` and the predictions are then arrays of that library on
    that device. See the user guide's "GPU and other array libraries".

    **Dask.** ``fit``, the predict methods and ``score`` accept Dask arrays
    and dataframes (install ``softreg[dask]``): every pass over the data is
    one task per row chunk plus a tree reduction of small results, and
    predictions are lazy Dask arrays with the input's row chunks. The
    fitted attributes are NumPy arrays either way.

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

    As for scikit-learn's linear classifiers, the scores are ``X @ coef_.T +
    intercept_``, whatever the temperature (it is folded into ``coef_``):

    >>> import numpy as np
    >>> hot = SoftmaxRegression(temperature="auto", random_state=0).fit(X, y)
    >>> bool(np.allclose(hot.decision_function(X), X @ hot.coef_.T + hot.intercept_))
    True

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
        # As joblib: -1 is all CPUs, -2 all but one, ...; 0 has no meaning.
        "n_jobs": [
            Interval(Integral, None, -1, closed="right"),
            Interval(Integral, 1, None, closed="left"),
            None,
        ],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
        "calibration": [StrOptions({"temperature", "vector", "ensemble"}), None],
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
        label_smoothing=0.0,
        calibration=None,
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
        self.label_smoothing = label_smoothing
        self.calibration = calibration

    def __setstate__(self, state):
        # A model pickled before a parameter existed loads with its default,
        # which reproduces what that model did.
        for name, param in inspect.signature(type(self).__init__).parameters.items():
            if name != "self":
                state.setdefault(name, param.default)
        if not state.get(_SCORES_MARK, False):
            _fold_pickled_temperature(state)
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        # Under sklearn.set_config(array_api_dispatch=True), PyTorch, CuPy and
        # other array-API inputs are fitted on their device (softreg._xp).
        tags.array_api_support = True
        return tags

    def _runner(self):
        return BlockRunner.from_n_jobs(self.n_jobs)

    @guarded_fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, classes=None):
        """Fit the model by maximising the (penalised) likelihood.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; float32 is kept as float32. A Dask array or
            dataframe is fitted where it lives, one task per row chunk and
            pass (see the user guide's "Beyond one machine" page).
        y : array-like of shape (n_samples,) or (n_samples, n_classes)
            Class labels (at least two distinct classes), or soft targets:
            a float matrix whose rows are probability vectors (non-negative,
            summing to 1 within 1e-4; they are rescaled to sum to 1
            exactly), e.g. a teacher's ``predict_proba``. A soft-target fit
            minimises the cross-entropy ``-sum_k Y_ik log p_ik`` and equals
            the label fit on the data with row ``i`` repeated once per class
            ``k`` with weight ``sample_weight[i] * Y[i, k]``; one-hot rows give
            exactly the label fit. A ``(n_samples, 1)`` column is read as
            labels (with scikit-learn's ``DataConversionWarning``). With a
            Dask ``X``, labels as a Dask array or series (soft targets and
            label smoothing are in-memory only for now).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; integer weights are equivalent to
            repeating rows.
        classes : array-like of shape (n_classes,), default=None
            Soft targets only: the class label of each column of ``y``,
            which becomes ``classes_`` (``predict`` returns these labels).
            Default ``np.arange(n_classes)``. With labels ``y``, ``classes_``
            is the sorted set of labels and ``classes`` must be None.

        Returns
        -------
        self : SoftmaxRegression
            The fitted estimator.
        """
        memory_view = None  # the array whose fit is sized before allocating
        device_input = None if is_dask(X) else array_api_input(X)
        if any(map(is_dask, (X, y, sample_weight))):
            # Imported here: only users with Dask collections pay for Dask.
            from ._dask import DaskFitData, validation_view

            if classes is not None or self.label_smoothing:
                raise ValueError(
                    "Soft targets and label_smoothing are not supported on Dask "
                    "input yet; fit in memory, or use labels and "
                    "label_smoothing=0."
                )
            validate_data(self, validation_view(X), skip_check_array=True)
            data = DaskFitData(X, y, sample_weight)
            check_classification_targets(data.classes)
        elif device_input is not None:
            # X stays on its device; y and the weights (any namespace: they
            # follow X, as in scikit-learn) are encoded on the host.
            xp, device = device_input
            X, targets, classes = validate_training_data(
                self,
                X,
                native_labels(to_numpy(y)),
                classes,
                dtype=[xp.float64, xp.float32],
            )
            dtype = numpy_dtype(X.dtype)
            sample_weight = _check_sample_weight(
                to_numpy(sample_weight),
                np.empty((X.shape[0], 0), dtype=dtype),
                dtype=dtype,
                ensure_non_negative=True,
            )
            targets = smooth(targets, classes.size, self.label_smoothing, dtype)
            data = ArrayAPIFitData(X, targets, classes, sample_weight, xp, device)
        else:
            # With array_api_dispatch on, y and sample_weight follow X to
            # NumPy (a no-op for NumPy input).
            y, sample_weight = to_numpy(y), to_numpy(sample_weight)
            # targets: labels encoded in range(n_classes), or a soft-target
            # matrix; label smoothing makes a matrix of either.
            X, targets, classes = validate_training_data(
                self, native_input(X), native_labels(y), classes
            )
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=X.dtype, ensure_non_negative=True
            )
            targets = smooth(targets, classes.size, self.label_smoothing, X.dtype)
            data = InMemoryFitData(X, targets, classes, sample_weight, self._runner)
            memory_view = X
        classes = data.classes
        if classes.size < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in the "
                f"data, but the data contains only one class: {classes[0]!r}"
            )
        # Bounds and the solver's support for them are checked before any work.
        penalty = self._penalty(classes.size, self.n_features_in_)
        class_weight = self._class_weight(classes, data.class_totals)
        if not class_weight @ data.class_totals > 0:
            raise ValueError(
                "The sample weights (times the class weights) sum to zero: "
                "there is nothing to fit."
            )

        if memory_view is not None:
            # Before the starting parameters or the out-of-fold scores exist.
            check_fit_memory(
                memory_view,
                classes.size,
                fit_intercept=self.fit_intercept,
                n_threads=self._runner().n_threads,
                out_of_fold=self.temperature == "auto" or self.calibration is not None,
            )
        self.classes_ = classes
        self.normalizer_ = resolve_normalizer(self.normalizer)
        calibration = self._calibration_method(data)
        if calibration in ("vector", "ensemble"):
            self._fit_calibrated(data, class_weight, penalty, calibration)
        else:
            for name in _CALIBRATION_ATTRIBUTES:  # of an earlier calibrated fit
                self.__dict__.pop(name, None)
            if calibration == "temperature":
                # Temperature is post-hoc (Guo et al. 2017): the model is trained
                # at T=1 and T is then fitted to out-of-fold scores.
                self.temperature_ = minimize_temperature(
                    data.out_of_fold_terms(self, class_weight, self._folds())
                )
                train_temperature = 1.0
            else:
                self.temperature_ = train_temperature = float(self.temperature)
            rows = data.rows(class_weight)
            # The scores' coefficients of the model trained at
            # train_temperature (its trained W divided by it) ...
            coef, intercept, self.n_iter_ = self._solve(
                rows, classes.size, train_temperature, self.warm_start
            )
            self.n_passes_ = data.n_passes + rows.n_passes
            # ... and a post-hoc temperature folded in as well, so that
            # decision_function(X) == X @ coef_.T + intercept_ (as for every
            # scikit-learn linear classifier) and every consumer of coef_
            # sees the model's scores. The box of the bounds scales with it.
            post_hoc = train_temperature / self.temperature_
            self.coef_ = self._penalty(
                classes.size, self.n_features_in_, scale=post_hoc
            ).cast(coef * post_hoc, data.dtype)
            self.intercept_ = (intercept * post_hoc).astype(data.dtype)
        setattr(self, _SCORES_MARK, True)
        if device_input is not None:
            # As scikit-learn: fitted arrays live in X's namespace and device.
            # Every fitted array but classes_ (which may hold strings).
            xp, device = device_input
            for name in (
                "coef_",
                "intercept_",
                "calibration_scale_",
                "calibration_bias_",
            ):
                if hasattr(self, name):
                    setattr(self, name, xp.asarray(getattr(self, name), device=device))
        return self

    def _encode_and_weigh(self, X, y, sample_weight):
        """Encoded labels, classes, and sample weights times the class weights.

        For callers that validated ``X`` and ``y`` themselves
        (:class:`~softreg.SoftmaxRegressionCV`): labels only.
        """
        check_classification_targets(y)
        encoder = LabelEncoder()
        y_enc = encoder.fit_transform(y)
        classes = encoder.classes_
        if classes.size < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in the "
                f"data, but the data contains only one class: {classes[0]!r}"
            )
        y_enc, sample_weight = self._targets_and_weights(
            X, y_enc, classes, sample_weight
        )
        if not np.sum(sample_weight, dtype=np.float64) > 0:
            raise ValueError(
                "The sample weights (times the class weights) sum to zero: "
                "there is nothing to fit."
            )
        return y_enc, classes, sample_weight

    def _targets_and_weights(self, X, targets, classes, sample_weight):
        """Smoothed targets and sample weights with the class weights applied."""
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=X.dtype, ensure_non_negative=True
        )
        # SoftmaxRegressionCV has no label_smoothing.
        eps = getattr(self, "label_smoothing", 0.0)
        targets = smooth(targets, classes.size, eps, X.dtype)
        totals = class_totals(targets, sample_weight, classes.size)
        weights = self._class_weight(classes, totals)
        return apply_class_weight(targets, sample_weight, weights)

    def _class_weight(self, classes, class_totals):
        """Weight of each class from ``class_weight`` and the classes' totals."""
        if self.class_weight is None:
            return np.ones(classes.size)
        if self.class_weight == "balanced" and not np.all(class_totals > 0):
            raise ValueError(
                "class_weight='balanced' needs a positive total sample weight "
                f"in every class; classes {classes[class_totals <= 0].tolist()} "
                "have none."
            )
        # One sample per class weighted by the class's total gives the same
        # "balanced" weights as all samples, without needing them here.
        return compute_class_weight(
            self.class_weight, classes=classes, y=classes, sample_weight=class_totals
        )

    def _folds(self):
        """The splitter of ``temperature="auto"``: shuffled stratified for an int."""
        if isinstance(self.cv, Integral):
            return StratifiedKFold(
                self.cv,
                shuffle=True,
                random_state=check_random_state(self.random_state).randint(
                    np.iinfo(np.int32).max
                ),
            )
        return self.cv

    def _penalty(self, n_classes, n_features, scale=1.0):
        """The penalty of ``l1_ratio`` and ``bounds``, checked for the solver.

        ``scale`` multiplies the box of the bounds: the coefficients trained
        at temperature ``T`` are ``T`` times the scores' coefficients, so
        their box is ``T`` times that of ``coef_``.

        Raises ValueError for bad bounds or a solver that cannot handle them.
        """
        lower, upper = check_bounds(self.bounds, n_classes, n_features)
        if lower is not None and scale != 1.0:
            lower, upper = lower * scale, upper * scale
        penalty = ElasticNet(self.l1_ratio, lower, upper)
        SOLVERS[self.solver].check_penalty(penalty)
        return penalty

    def _solve(self, rows, n_classes, temperature, warm_start, start=None):
        """Minimise the objective; return centred ``coef``, ``intercept``, n_iter.

        ``rows`` is the data the objective's passes run over, in memory
        (:class:`~softreg._blocks.InMemoryRows`) or in Dask
        (:class:`~softreg._dask.DaskRows`). The objective is that of the
        training ``temperature`` ``T``, whose scores are ``(X W^T + b) / T``;
        the returned ``coef`` and ``intercept`` are the scores' coefficients
        ``W / T`` and ``b / T`` (the meaning of ``coef_``), and the bounds
        hold for them. A warm start starts from the previous ``coef_`` and
        ``intercept_`` times ``T``: from the previous model's scores.

        ``start``, a list, is for solves in sequence (a regularisation path):
        if it holds a vector, that flat vector in the objective's variables
        is the start point, overriding ``warm_start``; either way the
        solver's end point, uncentred, is left in it, which is where the
        rows' last pass ran (see :meth:`InMemoryRows.map_reduce`).
        """
        normalizer = self.normalizer_
        n_features = rows.n_features
        objective = LinearObjective.over(
            rows,
            n_classes,
            normalizer,
            C=self.C,
            fit_intercept=self.fit_intercept,
            temperature=temperature,
            penalty=self._penalty(n_classes, n_features, scale=temperature),
        )
        if start:
            w0 = start[0]
        else:
            w0 = self._initial_params(
                normalizer, n_classes, n_features, warm_start, temperature
            )
        with objective.running():
            w, n_iter = SOLVERS[self.solver](
                objective,
                w0,
                tol=self.tol,
                max_iter=self.max_iter,
                verbose=self.verbose,
            )
        if start is not None:
            start[:] = [w]
        if n_iter == 0 and w0 is not None and np.array_equal(w, w0):
            # No step was taken from a warm start (max_iter=0, or a start that
            # already meets tol): return the previous model bit for bit.
            # Centring below is not idempotent in floating point.
            previous = self._warm_start_params(n_classes, n_features, warm_start)
            if previous is not None:
                return (*previous, n_iter)
        params = w.reshape(-1, n_classes)
        if temperature != 1.0:
            params = params / temperature  # the scores' coefficients
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

    def _warm_start_params(self, n_classes, n_features, warm_start):
        """The fitted ``(coef, intercept)`` a warm start begins from, or None."""
        if (
            warm_start
            and hasattr(self, "coef_")
            and tuple(self.coef_.shape) == (n_classes, n_features)
        ):
            return to_numpy(self._dense_coef()), to_numpy(self.intercept_)
        return None

    def _initial_params(
        self, normalizer, n_classes, n_features, warm_start, temperature=1.0
    ):
        n_rows = n_features + int(self.fit_intercept)
        previous = self._warm_start_params(n_classes, n_features, warm_start)
        if previous is not None:
            # The previous model's scores X @ coef_.T + intercept_, in the
            # variables of training temperature T (T times the coefficients).
            coef, intercept = previous
            start = np.vstack([coef.T, intercept[None, :]])
            start = start[:n_rows]
            start = np.asarray(start, dtype=np.float64) * temperature
            return np.ascontiguousarray(start).ravel()
        scale = optional(normalizer, "init_scale")()
        if scale:
            rng = check_random_state(self.random_state)
            return rng.normal(scale=scale, size=n_rows * n_classes)
        return np.zeros(n_rows * n_classes)
