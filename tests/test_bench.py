"""``python -m softreg bench`` runs end to end at a tiny scale (no timing checks)."""

import json

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from softreg import SoftmaxRegression, _bench
from softreg.__main__ import main


def test_bench_quick_run_writes_a_markdown_report(tmp_path, capsys):
    out = tmp_path / "table.md"
    peers = "softreg lbfgs,softreg trust-ncg,sklearn lbfgs,sklearn newton-cholesky"
    code = main(
        [
            "bench",
            "--quick",
            "--scale",
            "0.002",
            "--memory",
            "tracemalloc",
            "--peers",
            peers,
            "--enet",
            "no",  # tested on its own below
            "--markdown",
            str(out),
        ]
    )
    assert code == 0
    text = out.read_text()
    for heading in ("## Machine", "## Targets", "## Fits", "## One evaluation"):
        assert heading in text
    for dataset in _bench.DATASETS:
        assert f"| {dataset} | softreg lbfgs |" in text
    # The 100-class and the sparse problems' Hessians are skipped, with a note,
    # only when they would not fit; at this scale every fit runs.
    assert "error" not in text
    assert "load average" in capsys.readouterr().out


def test_newton_cholesky_is_skipped_when_its_hessian_does_not_fit(monkeypatch):
    monkeypatch.setattr(_bench._estimators, "available_memory", lambda: 1 << 30)
    X = sp.csr_matrix((10, 20_000))
    reason = _bench.skip_reason("sklearn newton-cholesky", X, 20)
    assert reason.startswith("skipped: dense Hessian")
    assert "400020^2" in reason
    assert _bench.skip_reason("sklearn lbfgs", X, 20) is None


def test_a_failing_fit_is_reported_not_raised(monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(_bench._cli, "sklearn_objective", broken)
    code = _bench.main(
        [
            "--quick",
            "--datasets",
            "tall",
            "--peers",
            "softreg lbfgs",
            "--memory",
            "none",
        ]
    )
    assert code == 0
    assert "error: RuntimeError: boom" in capsys.readouterr().out


def test_memory_subprocess_measures_a_fit(tmp_path):
    # A dense dataset saved before a sparse one must not be picked up.
    _bench._save_dataset(str(tmp_path), *_bench.make_dataset("dense64", 0.001))
    X, y = _bench.make_dataset("sparse", scale=0.002)
    _bench._save_dataset(str(tmp_path), X, y)
    peak, note = _bench._peak_memory_subprocess(
        "softreg lbfgs", str(tmp_path), 1.0, 1e-4, 100, timeout=300
    )
    assert note is None
    assert peak >= 0


def test_objective_formula_is_logistic_regressions():
    X, y = _bench.make_dataset("classes", scale=0.02)
    lr = LogisticRegression(C=0.5, tol=1e-8, max_iter=1000).fit(X, y)
    ours = SoftmaxRegression(C=0.5, tol=1e-8, max_iter=1000, solver="trust-ncg")
    ours.fit(X, y)
    f_lr = _bench.sklearn_objective(lr, X, y, 0.5)
    f_ours = _bench.sklearn_objective(ours, X, y, 0.5)
    assert f_ours == pytest.approx(f_lr, rel=1e-8)
    # Moving away from the optimum increases it.
    lr.coef_ = lr.coef_ * 1.01
    assert _bench.sklearn_objective(lr, X, y, 0.5) > f_lr


@pytest.mark.parametrize("name", list(_bench.DATASETS))
def test_datasets_have_the_documented_shape(name):
    X, y = _bench.make_dataset(name, scale=0.002)
    n_classes = {"dense64": 10, "dense32": 10, "tall": 5, "sparse": 20, "classes": 100}
    # Labels are sampled: at this tiny scale a rare class may be missing.
    assert 0.9 * n_classes[name] <= np.unique(y).size <= n_classes[name]
    assert X.dtype == (np.float32 if name == "dense32" else np.float64)
    assert sp.issparse(X) == (name == "sparse")
    assert json.dumps(_bench.machine_info())  # serialisable, no crash


def test_bench_dask_runs_on_a_local_cluster(tmp_path):
    pytest.importorskip("distributed")
    out = tmp_path / "dask.md"
    code = main(
        [
            "bench",
            "--dask",
            "--scale",
            "0.001",
            "--chunk-rows",
            "500",
            "--solvers",
            "lbfgs",
            "--out-of-core",
            str(tmp_path),
            "--ooc-gb",
            "0.001",
            "--markdown",
            str(out),
        ]
    )
    assert code == 0
    text = out.read_text()
    for heading in ("## 10 classes", "## 2 classes", "## Out of core"):
        assert heading in text
    assert "| softreg lbfgs (dask) |" in text
    assert "| softreg lbfgs (in memory) |" in text


def test_bench_elastic_net_section(tmp_path):
    out = tmp_path / "enet.md"
    args = ["bench", "--enet", "only", "--scale", "0.01", "--enet-C", "1.0"]
    code = main([*args, "--markdown", str(out)])
    assert code == 0
    text = out.read_text()
    assert "## Elastic net: one C against scikit-learn's saga" in text
    for dataset in _bench._elastic.ENET_DATASETS:
        assert f"| {dataset} | softreg lbfgs |" in text
        assert f"| {dataset} | sklearn saga |" in text


def test_enet_objective_is_sklearn_objective_plus_l1():
    X, y = _bench._elastic.ENET_DATASETS["enet-dense"][1](
        0.02, np.random.default_rng(0)
    )
    model = SoftmaxRegression(C=0.5, l1_ratio=0.5).fit(X, y)
    l2_only = _bench.sklearn_objective(model, X, y, 0.5 / 0.5)
    l1 = 0.5 * np.abs(model.coef_).sum() / (0.5 * X.shape[0])
    assert np.isclose(
        _bench._elastic.enet_objective(model.coef_, model.intercept_, X, y, 0.5, 0.5),
        l2_only + l1,
        rtol=1e-12,
    )


@pytest.mark.parametrize("glmnet", ["installed", "missing"])
def test_cv_path_section_runs(tmp_path, monkeypatch, glmnet):
    # An easy lasso problem: the section's own (300 x 200 at this scale) is
    # nearly separable, which takes glmnet half a minute.
    def easy(scale, rng):
        return _bench.make_dataset("tall", 0.001)

    monkeypatch.setattr(_bench._cvpath, "_make_enet_dense", easy)
    if glmnet == "missing":
        monkeypatch.setattr(_bench._cvpath, "_glmnet", lambda: None)
    elif _bench._cvpath._glmnet() is None:
        pytest.skip("python-glmnet is not installed")
    out = tmp_path / "cv.md"
    argv = ["--cv", "only", "--scale", "0.01", "--cv-cs", "2", "--cv-folds", "2"]
    code = _bench.main([*argv, "--n-lambda", "4", "--markdown", str(out)])
    assert code == 0
    text = out.read_text()
    assert "### Choosing C by cross-validation" in text
    for name in (
        "softreg SoftmaxRegressionCV",
        "sklearn LogisticRegressionCV",
        "softreg SoftmaxRegressionCV n_jobs=-1, workers running",
        "GridSearchCV(SoftmaxRegression)",
    ):
        assert f"| {name} |" in text
    assert "### Multinomial lasso path" in text
    assert ("design.md's anchor" in text) == (glmnet == "missing")


def test_calibration_benchmark_quick(capsys):
    from softreg._bench._calibration import main as calibration_main

    methods = "T=1,softreg ensemble,CC temperature"
    assert calibration_main(["--quick", "--methods", methods, "--splits", "2"]) == 0
    out = capsys.readouterr().out
    assert "| iris | 1 | softreg ensemble |" in out
    assert "Log loss goal met on" in out
    with pytest.raises(SystemExit):
        calibration_main(["--methods", "CC bogus"])


def test_bench_array_api_section(capsys):
    """Both estimators fit the same tensors and reach the same objective."""
    pytest.importorskip("array_api_strict")
    argv = ["--array-api", "array_api_strict", "--rows", "400", "--features", "6"]
    main(["bench", *argv, "--classes", "3", "--tol", "1e-8", "--max-iter", "300"])
    lines = capsys.readouterr().out.splitlines()
    fits = [line.split() for line in lines if line.startswith(("softreg ", "sklearn "))]
    assert [f[2] for f in fits] == ["array_api_strict", "array_api_strict", "numpy"]
    objectives = [float(f[5]) for f in fits]
    assert max(objectives) - min(objectives) < 1e-7
    assert "per pass: 84 bytes to the device" in "\n".join(lines)
