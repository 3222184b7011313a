"""The post-hoc calibration step of SoftmaxRegression's fit.

A mixin so that the estimator module keeps to validating and fitting; the
maps themselves live in :mod:`softreg._calibration`.
"""

import numpy as np

from ._calibration import fit_calibration
from .normalizers._base import one_hot, optional


class CalibrationMixin:
    """``calibration="vector"``/``"ensemble"``: fit the map, fold it into coef_.

    Needs the host estimator's ``calibration``, ``temperature``, ``bounds``,
    ``normalizer_``, ``warm_start``, ``_folds`` and ``_solve``.
    """

    def _calibration_method(self, data=None):
        """The post-hoc calibration of this fit: None, or a ``calibration`` name.

        ``data`` is the fit's data object; "vector" and "ensemble" need one
        that gives the fold models (``out_of_fold``; Dask's does not). Raises
        ValueError for a combination that has no meaning.
        """
        if self.calibration is None:
            return "temperature" if self.temperature == "auto" else None
        if self.temperature not in (1.0, "auto"):
            raise ValueError(
                f"calibration={self.calibration!r} fits its own post-hoc map and "
                "needs temperature=1.0 or 'auto'; got "
                f"temperature={self.temperature!r}."
            )
        if self.calibration == "temperature":
            return "temperature"
        if data is not None and not hasattr(data, "out_of_fold"):
            raise ValueError(
                f"calibration={self.calibration!r} is not supported on Dask input; "
                "use calibration='temperature' (or temperature='auto')."
            )
        if self.bounds is not None:
            raise ValueError(
                f"calibration={self.calibration!r} rescales coef_ class by class, "
                "which can leave the box of bounds; use calibration='temperature' "
                "(one positive factor for every class, which keeps sign constraints)."
            )
        if self.calibration == "ensemble" and not optional(self.normalizer_, "convex"):
            raise ValueError(
                "calibration='ensemble' averages the coefficients of the fold "
                "models, which is meaningful only when each is the unique optimum "
                f"of a convex loss; the normalizer {self.normalizer_!r} is not "
                "convex. Use calibration='temperature' or 'vector'."
            )
        return self.calibration

    def _fit_calibrated(self, data, class_weight, penalty, calibration):
        """Fit ``calibration="vector"`` or ``"ensemble"`` (in memory).

        The fold models give the out-of-fold scores the map is fitted to;
        "ensemble" keeps their mean coefficients as the model, "vector" fits
        the model on all the data. The map folds into ``coef_`` and
        ``intercept_``.
        """
        folds = data.out_of_fold(self, class_weight, self._folds())
        n_classes = self.classes_.size
        targets = folds.targets
        if targets.ndim == 1:
            targets = one_hot(targets, n_classes, np.float64)
        mapping = fit_calibration(
            self.normalizer_, folds.scores, targets, folds.weights, folds.folds
        )
        if calibration == "ensemble":
            # The mean of the fold models: one linear model that carries the
            # shrinkage of CalibratedClassifierCV's ensemble, at no extra fit.
            coef = folds.coefs.mean(axis=0)
            intercept = folds.intercepts.mean(axis=0)
            self.n_iter_ = int(folds.n_iter.max())
            n_passes = 0
        else:
            rows = data.rows(class_weight)
            coef, intercept, self.n_iter_ = self._solve(
                rows, n_classes, 1.0, self.warm_start
            )
            n_passes = rows.n_passes
        self._apply_calibration(mapping, coef, intercept, penalty, data.dtype)
        self.temperature_ = 1.0
        self.n_passes_ = data.n_passes + n_passes
        return self

    def _apply_calibration(self, mapping, coef, intercept, penalty, dtype):
        """Fold ``mapping`` into ``coef`` and ``intercept``; set the attributes."""
        coef, intercept = mapping.fold_into(
            np.asarray(coef, dtype=np.float64), np.asarray(intercept, dtype=np.float64)
        )
        if optional(self.normalizer_, "shift_invariant"):
            # The map's biases and class-wise scales undo the centring; put
            # back the centred representative (same predictions).
            intercept = intercept - intercept.mean()
            if penalty.centred:
                coef = coef - coef.mean(axis=0)
        self.coef_ = np.ascontiguousarray(penalty.cast(coef, dtype))
        self.intercept_ = intercept.astype(dtype)
        self.calibration_scale_ = mapping.scale
        self.calibration_bias_ = mapping.bias
        self.calibration_pull_ = mapping.pull
