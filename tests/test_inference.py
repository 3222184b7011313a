"""Inference against statsmodels' MNLogit, replicated data and finite differences."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_iris, make_blobs, make_classification

from softreg import SoftmaxRegression, _inference, _solvers
from softreg._objective import LinearObjective

sm = pytest.importorskip("statsmodels.api")

# Tight Newton fits: 1e-6 relative parity needs the optimum to ~1e-10.
TIGHT = {"C": np.inf, "tol": 1e-10, "max_iter": 1000, "solver": "trust-ncg"}
RTOL = 1e-6


def _synthetic():
    return make_classification(
        n_samples=400,
        n_features=4,
        n_informative=3,
        n_redundant=0,
        n_classes=4,
        n_clusters_per_class=1,
        class_sep=0.7,
        random_state=0,
    )


def _iris(column):
    # Every pair of iris features separates setosa (the MLE does not exist);
    # sepal length alone and sepal width alone do not.
    X, y = load_iris(return_X_y=True)
    return X[:, [column]], y


PROBLEMS = {
    "synthetic-4-class": _synthetic,
    "iris-sepal-length": lambda: _iris(0),
    "iris-sepal-width": lambda: _iris(1),
}


def _mnlogit(X, y, **kwargs):
    return sm.MNLogit(y, sm.add_constant(X)).fit(
        disp=0, method="newton", maxiter=100, **kwargs
    )


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_matches_statsmodels_mnlogit(name):
    X, y = PROBLEMS[name]()
    clf = SoftmaxRegression(**TIGHT).fit(X, y)
    res = clf.inference(X, y)
    ref = _mnlogit(X, y)
    # statsmodels: params of shape (1 + n_features, n_classes - 1), const first.
    assert_allclose(res.params, ref.params.T, rtol=RTOL)
    assert_allclose(res.bse, ref.bse.T, rtol=RTOL)
    assert_allclose(res.zvalues, ref.tvalues.T, rtol=RTOL)
    assert_allclose(res.pvalues, ref.pvalues.T, rtol=RTOL)
    lo, hi = np.moveaxis(
        np.asarray(ref.conf_int()).reshape(-1, X.shape[1] + 1, 2), 2, 0
    )
    assert_allclose(res.ci_low, lo, rtol=RTOL)
    assert_allclose(res.ci_high, hi, rtol=RTOL)
    assert_allclose(res.cov, ref.cov_params(), rtol=RTOL, atol=1e-12)
    assert_allclose(res.llf, ref.llf, rtol=RTOL)
    # statsmodels fits the null model iteratively; ours is closed-form.
    assert_allclose(res.llnull, ref.llnull, rtol=1e-8)
    assert_allclose(res.prsquared, ref.prsquared, rtol=1e-8)
    assert_allclose(res.aic, ref.aic, rtol=RTOL)
    assert_allclose(res.bic, ref.bic, rtol=RTOL)
    assert res.n_params == ref.params.size
    assert_allclose(res.llr_pvalue, ref.llr_pvalue, rtol=1e-6, atol=1e-300)


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_robust_covariance_matches_statsmodels_hc0(name):
    X, y = PROBLEMS[name]()
    clf = SoftmaxRegression(**TIGHT).fit(X, y)
    res = clf.inference(X, y, cov_type="HC0")
    ref = _mnlogit(X, y, cov_type="HC0")
    assert_allclose(res.cov, ref.cov_params(), rtol=RTOL, atol=1e-12)
    assert_allclose(res.bse, ref.bse.T, rtol=RTOL)


@pytest.mark.parametrize("reference", [1, 3])
def test_reference_class_matches_statsmodels_on_relabelled_classes(reference):
    X, y = _synthetic()
    clf = SoftmaxRegression(**TIGHT).fit(X, y)
    res = clf.inference(X, y, reference_class=reference)
    assert res.reference_class == reference
    assert_array_equal(res.classes, np.delete(np.arange(4), reference))
    # statsmodels takes the lowest label as reference: relabel so it is ours.
    order = np.r_[reference, res.classes]
    ref = _mnlogit(X, np.argsort(order)[y])
    assert_allclose(res.params, ref.params.T, rtol=RTOL)
    assert_allclose(res.cov, ref.cov_params(), rtol=RTOL, atol=1e-12)


@pytest.mark.parametrize("cov_type", ["nonrobust", "HC0"])
@pytest.mark.parametrize("C", [np.inf, 0.5])
def test_integer_weights_give_the_covariance_of_replicated_data(cov_type, C):
    X, y = _synthetic()
    sw = np.random.RandomState(0).randint(0, 4, size=y.size)
    kw = {**TIGHT, "C": C}
    weighted = SoftmaxRegression(**kw).fit(X, y, sample_weight=sw)
    Xr, yr = np.repeat(X, sw, axis=0), np.repeat(y, sw)
    repeated = SoftmaxRegression(**kw).fit(Xr, yr)
    a = weighted.inference(X, y, sw, cov_type=cov_type)
    b = repeated.inference(Xr, yr, cov_type=cov_type)
    assert_allclose(a.params, b.params, rtol=1e-7, atol=1e-8)
    assert_allclose(a.cov, b.cov, rtol=1e-7, atol=1e-14)
    for key in ["llf", "llnull", "aic", "bic", "nobs"]:
        assert_allclose(a[key], b[key], rtol=1e-9)


@pytest.mark.parametrize("C", [np.inf, 0.3])
@pytest.mark.parametrize("sparse", [False, True])
def test_information_matrix_is_the_objective_hessian(C, sparse):
    X, y = _synthetic()
    X = X[:120]
    y = y[:120]
    sw = np.random.RandomState(1).uniform(0.5, 2, size=y.size)
    X = sp.csr_matrix(X) if sparse else X
    clf = SoftmaxRegression(C=C, temperature=1.7, max_iter=500).fit(
        X, y, sample_weight=sw
    )
    obj = LinearObjective(
        X, y, 4, clf.normalizer_, sw, C=C, fit_intercept=True, temperature=1.7
    )
    theta = np.vstack([clf.coef_.T, clf.intercept_])
    w = theta.ravel()
    H = np.column_stack([obj.hessp(w, e) for e in np.eye(w.size)]) * sw.sum()
    acc = _inference.accumulate(X, y, sw, theta, clf.normalizer_, 1 / 1.7, True)
    info = acc.info
    if not np.isinf(C):
        info = info + np.diag(np.r_[np.full(4 * 4, 1 / C), np.zeros(4)])
    assert_allclose(info, H, rtol=1e-9, atol=1e-10 * np.abs(H).max())
    # And the reference-class information is the Hessian of the objective
    # as a function of beta, by finite differences of its gradient.
    M = _inference.reference_map(5, 4, 0)
    beta = np.linalg.lstsq(M, w, rcond=None)[0]
    h = 1e-6
    fd = (
        np.column_stack(
            [
                M.T
                @ (
                    obj.loss_gradient(M @ (beta + h * e))[1]
                    - obj.loss_gradient(M @ (beta - h * e))[1]
                )
                / (2 * h)
                for e in np.eye(beta.size)
            ]
        )
        * sw.sum()
    )
    assert_allclose(M.T @ info @ M, fd, rtol=1e-5, atol=1e-6 * np.abs(fd).max())
    fast = _inference.to_reference(info, 5, _inference.class_map(4, 0))
    assert_allclose(fast, M.T @ info @ M, rtol=1e-12, atol=1e-12 * np.abs(fd).max())


def test_penalised_covariance_is_the_inverse_penalised_hessian():
    X, y = _synthetic()
    clf = SoftmaxRegression(C=0.05, tol=1e-10, solver="trust-ncg").fit(X, y)
    res = clf.inference(X, y)
    unpenalised = SoftmaxRegression(**TIGHT).fit(X, y).inference(X, y)
    # The penalty adds curvature: every variance shrinks.
    assert np.all(res.bse < unpenalised.bse)
    assert "Penalised fit" in clf.summary(X, y)


def test_soft_targets_log_likelihood_is_minus_the_cross_entropy():
    X, y = _synthetic()
    rng = np.random.RandomState(0)
    Y = 0.7 * np.eye(4)[y] + 0.3 * rng.dirichlet(np.ones(4), size=y.size)
    clf = SoftmaxRegression(**TIGHT).fit(X, Y)
    res = clf.inference(X, Y)
    P = clf.predict_proba(X)
    assert_allclose(res.llf, np.sum(Y * np.log(P)), rtol=1e-10)
    assert np.isfinite(res.bse).all()


def test_complete_separation_warns_and_gives_nan():
    X, y = make_blobs(n_samples=60, centers=[[-5, 0], [5, 0], [0, 8]], random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fit itself does not converge
        clf = SoftmaxRegression(C=np.inf, max_iter=200).fit(X, y)
    with pytest.warns(UserWarning, match="separated"):
        res = clf.inference(X, y)
    assert np.isnan(res.bse).all()
    assert np.isfinite(res.params).all()
    # A penalty makes the estimate exist: no warning, finite errors.
    penalised = SoftmaxRegression(C=1.0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(penalised.inference(X, y).bse).all()


@pytest.mark.parametrize("fit", [{}, {"tol": 1e-10, "solver": "trust-ncg"}])
def test_quasi_separation_gives_nan_for_the_separated_class_only(fit):
    X, y = load_iris(return_X_y=True)
    X = X[:, :2]  # setosa is linearly separable from the other two
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = SoftmaxRegression(C=np.inf, max_iter=3000, **fit).fit(X, y)
    # Even a default fit, which stops with finite but huge coefficients and
    # no ConvergenceWarning, is recognised.
    with pytest.warns(UserWarning, match="separated"):
        res = clf.inference(X, y, reference_class=1)
    assert np.isnan(res.bse[0]).all()  # setosa against versicolor: infinite
    assert np.isfinite(res.bse[1]).all()
    if fit:
        # Virginica against versicolor is the logit of the non-setosa samples,
        # which the setosa samples no longer inform in the limit.
        mask = y > 0
        ref = sm.Logit((y[mask] == 2).astype(float), sm.add_constant(X[mask]))
        ref = ref.fit(disp=0)
        assert_allclose(res.params[1], ref.params, rtol=RTOL)
        assert_allclose(res.bse[1], ref.bse, rtol=RTOL)


def test_label_smoothing_removes_separation():
    X, y = load_iris(return_X_y=True)
    X = X[:, :2]
    clf = SoftmaxRegression(C=np.inf, label_smoothing=0.1, tol=1e-10).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(clf.inference(X, y).bse).all()


def test_collinear_column_gives_nan_for_it_only():
    X, y = _synthetic()
    Xd = np.column_stack([X, X[:, 0]])
    clf = SoftmaxRegression(**TIGHT).fit(Xd, y)
    with pytest.warns(UserWarning, match="singular"):
        res = clf.inference(Xd, y)
    nan = np.isnan(res.bse)
    assert_array_equal(nan.any(axis=0), [False, True, False, False, False, True])
    # The identified parameters have the standard errors of the model
    # without the duplicate column.
    ref = _mnlogit(X, y)
    assert_allclose(res.bse[:, 2:5], ref.bse.T[:, 2:5], rtol=1e-5)
    assert_allclose(res.bse[:, 0], ref.bse.T[:, 0], rtol=1e-5)


@pytest.mark.parametrize("normalizer", ["sparsemax", "taylor", "standard"])
def test_non_likelihood_normalizers_are_refused(normalizer):
    X, y = _synthetic()
    clf = SoftmaxRegression(normalizer=normalizer, random_state=0, C=0.1).fit(X, y)
    with pytest.raises(TypeError, match="likelihood"):
        clf.inference(X, y)


def test_data_other_than_the_training_data_warns():
    X, y = _synthetic()
    clf = SoftmaxRegression(**TIGHT).fit(X[:200], y[:200])
    with pytest.warns(UserWarning, match="not at the optimum"):
        clf.inference(X[200:], y[200:])


def test_bad_arguments():
    X, y = _synthetic()
    clf = SoftmaxRegression(**TIGHT).fit(X, y)
    with pytest.raises(ValueError, match="reference_class"):
        clf.inference(X, y, reference_class=7)
    with pytest.raises(ValueError, match="cov_type"):
        clf.inference(X, y, cov_type="HC3")
    with pytest.raises(ValueError, match="alpha"):
        clf.inference(X, y, alpha=1.5)
    with pytest.raises(ValueError, match="not in classes_"):
        clf.inference(X, y + 1)
    with pytest.raises(ValueError, match="features"):
        clf.inference(X[:, :2], y)


def test_refuses_when_the_hessian_does_not_fit_in_memory(monkeypatch):
    X, y = _synthetic()
    clf = SoftmaxRegression(**TIGHT).fit(X, y)
    monkeypatch.setattr(_solvers, "available_memory", lambda: 1000)
    with pytest.raises(MemoryError, match=r"GiB"):
        clf.inference(X, y)


def test_table_and_summary_with_feature_names():
    pd = pytest.importorskip("pandas")
    X, y = _synthetic()
    Xf = pd.DataFrame(X, columns=["age", "income", "height", "weight"])
    labels = np.array(["a", "b", "c", "d"])[y]
    clf = SoftmaxRegression(**TIGHT).fit(Xf, labels)
    res = clf.inference(Xf, labels, alpha=0.1)
    table = clf.coef_table(Xf, labels, alpha=0.1)
    assert list(table.columns) == [
        "class",
        "feature",
        "coef",
        "std_err",
        "z",
        "p_value",
        "ci_low",
        "ci_high",
    ]
    assert table["feature"].tolist()[:5] == [
        "intercept",
        "age",
        "income",
        "height",
        "weight",
    ]
    assert table["class"].tolist() == ["b"] * 5 + ["c"] * 5 + ["d"] * 5
    assert_allclose(table["std_err"], res.bse.ravel())
    assert_allclose(table["ci_high"], res.ci_high.ravel())
    text = clf.summary(Xf, labels, alpha=0.1)
    for word in [
        "income",
        "class=d",
        "Reference class",
        f"{res.llf:.4f}",
        "[0.05",
        "0.95]",
    ]:
        assert word in text


def test_structured_array_without_pandas(monkeypatch):
    X, y = _synthetic()
    clf = SoftmaxRegression(**TIGHT).fit(X, y)
    monkeypatch.setattr(_inference, "_pandas", lambda: None)
    table = clf.coef_table(X, y)
    assert isinstance(table, np.ndarray)
    assert table.dtype.names == (
        "class",
        "feature",
        "coef",
        "std_err",
        "z",
        "p_value",
        "ci_low",
        "ci_high",
    )
    assert_allclose(table["p_value"], clf.inference(X, y).pvalues.ravel())
    assert table["feature"][0] == "intercept"


def test_no_intercept():
    X, y = _synthetic()
    clf = SoftmaxRegression(**{**TIGHT, "fit_intercept": False}).fit(X, y)
    res = clf.inference(X, y)
    ref = sm.MNLogit(y, X).fit(disp=0, method="newton", maxiter=100)
    assert_allclose(res.params, ref.params.T, rtol=RTOL)
    assert_allclose(res.bse, ref.bse.T, rtol=RTOL)


def test_import_softreg_does_not_import_statsmodels():
    # (scikit-learn itself imports pandas when it is installed.)
    code = "import sys, softreg; print('statsmodels' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_binary_matches_statsmodels_logit():
    X, y = load_iris(return_X_y=True)
    X, y = X[y > 0][:, :2], y[y > 0]
    clf = SoftmaxRegression(**TIGHT).fit(X, y)
    res = clf.inference(X, y)
    ref = sm.Logit((y == 2).astype(float), sm.add_constant(X)).fit(disp=0)
    assert_allclose(res.params[0], ref.params, rtol=RTOL)
    assert_allclose(res.bse[0], ref.bse, rtol=RTOL)
    assert_allclose(res.pvalues[0], ref.pvalues, rtol=RTOL)
    assert_allclose(res.llf, ref.llf, rtol=RTOL)


def test_class_weights_are_frequency_weights():
    X, y = _synthetic()
    cw = {0: 2.0, 1: 1.0, 2: 3.0, 3: 1.0}
    by_class = SoftmaxRegression(**TIGHT, class_weight=cw).fit(X, y)
    sw = np.array([cw[k] for k in y])
    by_sample = SoftmaxRegression(**TIGHT).fit(X, y, sample_weight=sw)
    a = by_class.inference(X, y, cov_type="HC0")
    b = by_sample.inference(X, y, sw, cov_type="HC0")
    assert_allclose(a.cov, b.cov, rtol=1e-7, atol=1e-14)
    assert_allclose(a.nobs, sw.sum())


def test_without_the_linear_program_quasi_separation_still_warns(monkeypatch):
    from softreg import _separation

    monkeypatch.setattr(_separation, "MAX_ENTRIES", 0)  # as for a large problem
    X, y = load_iris(return_X_y=True)
    X = X[:, :2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = SoftmaxRegression(C=np.inf, tol=1e-10, solver="trust-ncg").fit(X, y)
    with pytest.warns(UserWarning, match="singular"):
        res = clf.inference(X, y)
    assert np.isnan(res.bse).any()


def test_sparse_and_float32_input_give_the_dense_result():
    X, y = _synthetic()
    dense = SoftmaxRegression(**TIGHT).fit(X, y)
    res = dense.inference(X, y, cov_type="HC0")
    sparse = dense.inference(sp.csr_matrix(X), y, cov_type="HC0")
    assert_allclose(sparse.cov, res.cov, rtol=1e-10)
    # float32 data: the statistics are still computed in float64.
    X32 = X.astype(np.float32)
    clf32 = SoftmaxRegression(**{**TIGHT, "tol": 1e-4}).fit(X32, y)
    res32 = clf32.inference(X32, y)
    assert res32.cov.dtype == np.float64
    assert_allclose(res32.bse, dense.inference(X, y).bse, rtol=1e-3)
