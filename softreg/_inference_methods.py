"""The statistical inference methods of SoftmaxRegression.

A mixin so that the estimator module keeps to fitting and predicting; the
computations live in :mod:`softreg._inference`.
"""

from sklearn.utils.validation import check_is_fitted

from ._inference import coef_table, infer, summary_text
from ._targets import validate_training_data
from ._xp import is_host_model


class InferenceMixin:
    """``inference``, ``coef_table`` and ``summary`` of a fitted model.

    Needs the host estimator's ``_targets_and_weights`` (class weights and
    label smoothing applied as in ``fit``) and ``_runner`` (its thread
    policy).
    """

    def inference(
        self,
        X,
        y,
        sample_weight=None,
        *,
        reference_class=None,
        cov_type="nonrobust",
        alpha=0.05,
    ):
        r"""Standard errors, Wald tests and fit statistics of the coefficients.

        Computed from the exact Hessian of the objective at the fitted
        parameters on the training data, in the reference-class
        parametrisation :math:`\beta_k = \theta_k - \theta_{ref}` (``coef_``
        and ``intercept_`` themselves stay centred). Needs a normalizer whose
        loss is a log-likelihood (softmax); see :ref:`inference`.

        The estimates are on the scale of ``coef_``, the scores'
        coefficients. With a temperature the objective that was minimised is
        in the trained coefficients ``temperature_ * coef_`` (trained at a
        fixed ``T``, or at ``T = 1`` for ``temperature="auto"``, whose ``T``
        is then fitted and treated as known): the Hessian is taken there, and
        ``params``, ``bse``, the intervals and ``cov`` are divided by
        ``temperature_`` (``cov`` by its square); ``zvalues``, ``pvalues``
        and the fit statistics are those of the minimised objective, which a
        fixed positive factor leaves unchanged. A fixed ``T`` with ``C`` is
        ``T = 1`` with ``C / T**2``, and both report the same table.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The training data the model was fitted on.
        y : array-like of shape (n_samples,) or (n_samples, n_classes)
            Its labels or soft targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Its sample weights, read as frequency weights (an integer weight
            is a repeated row); the class weights and label smoothing of the
            fit are applied as in :meth:`fit`.
        reference_class : label, default=None
            The class whose coefficients are set to zero; default
            ``classes_[0]``, as statsmodels' ``MNLogit``.
        cov_type : {"nonrobust", "HC0"}, default="nonrobust"
            ``"nonrobust"``: the inverse observed information :math:`H^{-1}`.
            ``"HC0"``: the robust sandwich :math:`H^{-1} B H^{-1}` with
            :math:`B = \sum_i s_i g_i g_i^\top` over per-sample scores.
            With ``C < inf``, :math:`H` is the penalised Hessian.
        alpha : float, default=0.05
            Confidence intervals have level ``1 - alpha``.

        Returns
        -------
        result : :class:`~sklearn.utils.Bunch`
            ``params``, ``bse``, ``zvalues``, ``pvalues``, ``ci_low``,
            ``ci_high``: arrays of shape ``(n_classes - 1, n_params)``, one
            row per non-reference class (``classes``), one column per
            ``feature_names`` (``"intercept"`` first, then
            ``feature_names_in_`` or ``x0, x1, ...``); ``cov``, the
            covariance of ``params.ravel()``; ``reference_class``; ``llf``
            (log-likelihood), ``llnull`` (intercept-only model), ``prsquared``
            (McFadden), ``aic``, ``bic``, ``nobs`` (sum of the weights),
            ``n_params`` (number of free parameters), ``llr_pvalue`` (the
            likelihood-ratio test against the intercept-only model),
            ``cov_type``, ``alpha``, ``C`` and ``max_gradient`` (largest
            gradient entry at the fit).

        Warns
        -----
        UserWarning
            When the fit is not at the optimum on this data, when the
            classes are perfectly separated at ``C=inf`` (all standard errors
            NaN) or when the information matrix is singular (NaN for the
            parameters that are not identified).

        See Also
        --------
        coef_table : The same as a tidy table.
        summary : The same as text.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.datasets import load_iris
        >>> from softreg import SoftmaxRegression
        >>> X, y = load_iris(return_X_y=True)
        >>> X = X[:, [0]]  # sepal length alone: the classes overlap
        >>> clf = SoftmaxRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(X, y)
        >>> res = clf.inference(X, y)
        >>> res.feature_names.tolist(), res.classes.tolist()
        (['intercept', 'x0'], [1, 2])
        >>> res.params.round(2)
        array([[-26.08,   4.82],
               [-38.76,   6.85]])
        >>> res.bse.round(2)
        array([[4.89, 0.91],
               [5.69, 1.02]])
        """
        check_is_fitted(self)
        if not is_host_model(self):
            raise ValueError(
                "inference works on NumPy models; this one was fitted on device "
                "arrays. Convert it first with "
                "sklearn.utils._array_api.move_estimator_to(model, numpy, 'cpu') "
                "and pass NumPy X and y."
            )
        X, targets, _ = validate_training_data(self, X, y, reset=False)
        targets, sample_weight = self._targets_and_weights(
            X, targets, self.classes_, sample_weight
        )
        # The estimator's thread policy (BLAS limited to one thread when
        # softreg runs its own) also for the dense linear algebra here.
        with self._runner().running():
            return infer(
                self,
                X,
                targets,
                sample_weight,
                reference_class=reference_class,
                cov_type=cov_type,
                alpha=alpha,
            )

    def coef_table(self, X, y, sample_weight=None, **kwargs):
        """Tidy table of the coefficients with their standard errors and tests.

        Parameters
        ----------
        X, y, sample_weight
            The training data, as for :meth:`inference`.
        **kwargs
            ``reference_class``, ``cov_type`` and ``alpha`` of
            :meth:`inference`.

        Returns
        -------
        table : pandas.DataFrame or numpy structured array
            One row per non-reference class and parameter, columns
            ``class``, ``feature``, ``coef``, ``std_err``, ``z``,
            ``p_value``, ``ci_low``, ``ci_high``. A DataFrame when pandas
            is installed, else a structured array with the same fields.
        """
        return coef_table(self.inference(X, y, sample_weight, **kwargs))

    def summary(self, X, y, sample_weight=None, **kwargs):
        """Text summary of :meth:`inference`, laid out like statsmodels'.

        Parameters
        ----------
        X, y, sample_weight
            The training data, as for :meth:`inference`.
        **kwargs
            ``reference_class``, ``cov_type`` and ``alpha`` of
            :meth:`inference`.

        Returns
        -------
        text : str
            Fit statistics, then one block per non-reference class with the
            coefficients, standard errors, z, two-sided p-values and
            confidence intervals. Print it.
        """
        return summary_text(self.inference(X, y, sample_weight, **kwargs))
