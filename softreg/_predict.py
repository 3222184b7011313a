"""What a fitted SoftmaxRegression does with new data: scores and predictions.

A mixin so that the estimator module keeps to validating and fitting. Every
method maps score blocks through one function, ``_map_scores``, which sends
Dask collections to :mod:`softreg._dask`, array-API arrays to
:mod:`softreg._xp` and everything else to the threaded blocks of
:mod:`softreg._objective`.
"""

import functools

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model._base import SparseCoefMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from ._objective import map_score_blocks
from ._robust import is_dask, native_input
from ._targets import check_soft_targets, is_soft
from ._xp import array_api_input, check_namespace, labels_of
from ._xp import map_scores as device_scores
from .normalizers._base import optional


def _scores(Z):
    return Z


def _offers_decision(estimator):
    """Whether the normalizer offers decision scores consistent with its proba.

    Every built-in does; a user normalizer opts out with ``decision = None``.
    """
    normalizer = getattr(estimator, "normalizer_", estimator.normalizer)
    return isinstance(normalizer, str) or optional(normalizer, "decision") is not None


class PredictMixin(SparseCoefMixin):
    """Predict methods and ``coef_`` storage of a fitted linear model.

    Needs the host estimator's ``normalizer_``, ``coef_``, ``intercept_``,
    ``classes_`` and ``_runner`` (its thread policy). ``coef_`` and
    ``intercept_`` are the scores' coefficients: every method maps
    ``X @ coef_.T + intercept_`` (a temperature or calibration map is folded
    into them by ``fit``; ``temperature_`` is a record, never applied here).
    """

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

    def _map_scores(self, X, method):
        """Apply the normalizer's ``method`` to the score blocks of ``X``.

        Rows stay in order. ``method`` is ``"__call__"`` (probabilities),
        ``"log_proba"``, ``"decision"``, or None for the scores
        ``X @ coef_.T + intercept_`` themselves (``coef_`` and
        ``intercept_`` already hold any temperature or calibration map).

        A Dask collection gives a lazy Dask array with the row chunks of
        ``X``, evaluated chunk by chunk by the same block code.
        """
        check_is_fitted(self)
        func = _scores if method is None else optional(self.normalizer_, method)
        device_input = None if is_dask(X) else array_api_input(X)
        if device_input is not None:
            return device_scores(self, X, func, device_input[0])
        if is_dask(X):
            from ._dask import map_scores, validation_view

            validate_data(self, validation_view(X), reset=False, skip_check_array=True)
            return map_scores(
                X,
                self._dense_coef().T,
                self.intercept_,
                func,
                1.0,
                self.classes_.size,
            )
        # The NaN/inf test is fused into the threaded blocks (check_finite
        # below) instead of a separate single-threaded pass over X.
        X = validate_data(
            self,
            native_input(X),
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
            return map_score_blocks(X, Wt, b, func, runner, 1.0, check_finite=True)

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
            The normalizer's decision scores of ``Z = X @ coef_.T +
            intercept_``: ``Z`` itself for normalizers whose ``decision`` is
            the scores (softmax, sparsemax, entmax15), whatever the
            temperature or calibration, as for scikit-learn's linear
            classifiers; the log-probabilities otherwise, so that their order
            is always that of :meth:`predict_proba`. For two classes, the
            score of ``classes_[1]`` minus that of ``classes_[0]``, i.e.
            ``X @ (coef_[1] - coef_[0]) + (intercept_[1] - intercept_[0])``.
        """
        check_is_fitted(self)
        check_namespace(self, X, "decision_function")
        D = self._map_scores(X, "decision")
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
        check_is_fitted(self)
        check_namespace(self, X, "predict_proba")
        return self._map_scores(X, "__call__")

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
        check_is_fitted(self)
        check_namespace(self, X, "predict_log_proba")
        return self._map_scores(X, "log_proba")

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
        check_is_fitted(self)
        check_namespace(self, X, "predict")
        device_input = None if is_dask(X) else array_api_input(X)
        if device_input is not None:
            xp, device = device_input
            indices = xp.argmax(self.predict_proba(X), axis=1)
            return labels_of(self, indices, xp, device)
        indices = self.predict_proba(X).argmax(axis=1)
        if is_dask(indices):
            return indices.map_blocks(
                functools.partial(np.take, self.classes_), dtype=self.classes_.dtype
            )
        return self.classes_[indices]

    def score(self, X, y, sample_weight=None):
        """Mean accuracy; with soft targets, the expected accuracy.

        For labels this is :meth:`sklearn.base.ClassifierMixin.score`. For
        soft targets ``Y`` it is ``sum_i s_i Y[i, predict(X)_i] / sum_i s_i``,
        the accuracy against labels drawn from the rows of ``Y`` (exactly the
        accuracy on the replicated data set of :meth:`fit`; plain accuracy
        for one-hot rows). For a probabilistic score of soft targets use
        :func:`softreg.soft_log_loss` or ``scoring=neg_soft_log_loss_scorer``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Test samples; a Dask collection is scored chunk by chunk on the
            workers, without gathering the predictions.
        y : array-like of shape (n_samples,) or (n_samples, n_classes)
            True labels, or soft targets over ``classes_``.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
        """
        if is_dask(X):
            from ._dask import score, validation_view

            check_is_fitted(self)
            validate_data(self, validation_view(X), reset=False, skip_check_array=True)
            return score(self, X, y, sample_weight)
        if not is_soft(y):
            return super().score(X, y, sample_weight=sample_weight)
        check_is_fitted(self)
        Y = check_soft_targets(y, np.float64)
        if Y.shape[1] != self.classes_.size:
            raise ValueError(
                f"The soft targets have {Y.shape[1]} columns but the model has "
                f"{self.classes_.size} classes."
            )
        hit = Y[np.arange(Y.shape[0]), self.predict_proba(X).argmax(axis=1)]
        if sample_weight is None:
            return float(hit.mean())
        sample_weight = _check_sample_weight(sample_weight, hit)
        return float(np.dot(sample_weight, hit) / sample_weight.sum())
