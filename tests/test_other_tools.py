"""softreg inside the third-party tools people use around a classifier.

Each test is the snippet that docs/user_guide/other_tools.rst shows (the
page includes the code between the ``# [name]`` and ``# [/name]`` markers),
run against the real client, and checks what the page claims. The clients
are not dependencies of softreg: a test skips when its client is not
installed (CI's test environment has none of the heavy ones: mlflow, shap,
skops, fairlearn, MAPIE, optuna, imbalanced-learn, dask-ml), so these run
by hand: ``pip install shap mlflow skops fairlearn mapie optuna
imbalanced-learn dask-ml``. The references are LogisticRegression's numbers
through the same client and the model's own predictions.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.feature_selection import SelectFromModel
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from softreg import SoftmaxRegression

TIGHT = {"tol": 1e-10, "max_iter": 10_000}

# The suite turns deprecation warnings into errors for softreg's own code;
# here they come from the clients and their dependencies (sqlalchemy under
# mlflow, pandas under fairlearn, ...), whose versions this module does not
# pin.
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
]


@pytest.fixture(scope="module")
def binary():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :6]
    X[:] = StandardScaler().fit_transform(X)
    return X, y


def test_skops_round_trip_with_reviewed_trusted_types(binary, tmp_path):
    pytest.importorskip("skops")
    X, y = binary
    clf = SoftmaxRegression(temperature=2.0).fit(X, y)
    path = tmp_path / "model.skops"
    # [skops]
    import skops.io as sio

    sio.dump(clf, path)
    untrusted = sio.get_untrusted_types(file=path)
    # ['softreg._estimator.SoftmaxRegression',
    #  'softreg.normalizers._softmax.Softmax']: softreg's own classes
    loaded = sio.load(path, trusted=untrusted)
    # [/skops]
    assert untrusted == [
        "softreg._estimator.SoftmaxRegression",
        "softreg.normalizers._softmax.Softmax",
    ]
    assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert_array_equal(loaded.coef_, clf.coef_)
    assert loaded.temperature_ == 2.0


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    yield mlflow
    mlflow.set_tracking_uri(None)


def test_mlflow_save_and_load(binary, tracking, tmp_path):
    pytest.importorskip("skops")
    mlflow = tracking
    X, y = binary
    clf = SoftmaxRegression().fit(X, y)
    # mlflow 3 saves with skops and refuses types it does not know.
    with pytest.raises(mlflow.exceptions.MlflowException, match="untrusted types"):
        mlflow.sklearn.save_model(clf, tmp_path / "refused")
    # [mlflow-save]
    import mlflow.sklearn
    import skops.io

    trusted = skops.io.get_untrusted_types(data=skops.io.dumps(clf))
    mlflow.sklearn.save_model(clf, "model", skops_trusted_types=trusted)
    # or: mlflow.sklearn.save_model(clf, "model", serialization_format="cloudpickle")
    loaded = mlflow.sklearn.load_model("model")
    predictions = mlflow.pyfunc.load_model("model").predict(X)
    # [/mlflow-save]
    assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert_array_equal(predictions, clf.predict(X))
    mlflow.sklearn.save_model(clf, "pickled", serialization_format="cloudpickle")
    assert_array_equal(
        mlflow.sklearn.load_model("pickled").predict_proba(X), clf.predict_proba(X)
    )


def test_mlflow_evaluate_logs_the_shap_artefacts(binary, tracking):
    pytest.importorskip("shap")
    pytest.importorskip("skops")
    mlflow = tracking
    import skops.io

    X, y = binary
    data = X.assign(label=y)

    def shap_artefacts(model, **kwargs):
        with mlflow.start_run():
            trusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
            info = mlflow.sklearn.log_model(
                model, name="model", skops_trusted_types=trusted or None
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = mlflow.models.evaluate(
                    info.model_uri,
                    data,
                    targets="label",
                    model_type="classifier",
                    **kwargs,
                )
        return sorted(name for name in result.artifacts if name.startswith("shap"))

    clf = SoftmaxRegression().fit(X, y)
    expected = shap_artefacts(LogisticRegression().fit(X, y))
    assert expected == [
        "shap_beeswarm_plot",
        "shap_feature_importance_plot",
        "shap_summary_plot",
    ]
    # Two rows of coef_: shap's linear path gives two outputs, and mlflow
    # drops the plots that need one.
    assert shap_artefacts(clf) != expected
    with mlflow.start_run():
        trusted = skops.io.get_untrusted_types(data=skops.io.dumps(clf))
        info = mlflow.sklearn.log_model(clf, name="model", skops_trusted_types=trusted)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # [mlflow-evaluate]
            result = mlflow.models.evaluate(
                info.model_uri,
                data,
                targets="label",
                model_type="classifier",
                evaluator_config={"explainability_algorithm": "permutation"},
            )
            # [/mlflow-evaluate]
    assert sorted(n for n in result.artifacts if n.startswith("shap")) == expected


def test_mlflow_autolog_logs_pipelines_and_searches(binary, tracking):
    mlflow = tracking
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline

    X, y = binary
    # [mlflow-autolog]
    mlflow.sklearn.autolog()
    with mlflow.start_run() as run:
        make_pipeline(StandardScaler(), SoftmaxRegression(C=0.5)).fit(X, y)
    # [/mlflow-autolog]
    params = mlflow.get_run(run.info.run_id).data.params
    assert params["softmaxregression__C"] == "0.5"
    with mlflow.start_run() as run:
        GridSearchCV(SoftmaxRegression(), {"C": [0.1, 1.0]}, cv=3).fit(X, y)
    assert mlflow.get_run(run.info.run_id).data.params["best_C"] in ("0.1", "1.0")
    # A bare fit of a class that is not scikit-learn's is not patched.
    with mlflow.start_run() as run:
        SoftmaxRegression(C=0.25).fit(X, y)
    assert "C" not in mlflow.get_run(run.info.run_id).data.params
    mlflow.sklearn.autolog(disable=True)


def test_shap_binary_recipe_matches_logistic_regression(binary):
    shap = pytest.importorskip("shap")
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    X, y = binary
    clf = SoftmaxRegression(C=0.5, **TIGHT).fit(X, y)
    lr = LogisticRegression(C=1.0, **TIGHT).fit(X, y)  # C doubled: same model
    # [shap-binary]
    explainer = shap.LinearExplainer(
        (clf.coef_[1] - clf.coef_[0], clf.intercept_[1] - clf.intercept_[0]), X
    )
    explanation = explainer(X)
    shap.plots.waterfall(explanation[0], show=False)
    shap.plots.beeswarm(explanation, show=False)
    # [/shap-binary]
    shap.plots.bar(explanation, show=False)
    reference = shap.LinearExplainer(lr, X)(X)
    assert explanation.values.shape == reference.values.shape == X.shape
    # The values are w_j * (x_j - mean_j), linear in the coefficients, which
    # agree to 1e-5 (as in test_estimator's parity test: LogisticRegression's
    # L-BFGS-B may stop on its ftol=64*eps before gtol).
    w = clf.coef_[1] - clf.coef_[0]
    assert_allclose(w, lr.coef_[0], atol=1e-5)
    spread = np.abs(X - X.mean()).to_numpy().max()
    assert_allclose(explanation.values, reference.values, atol=1e-5 * spread)
    # The values add up to the decision function, as for any linear model.
    total = explanation.values.sum(axis=1) + explanation.base_values
    assert_allclose(total, clf.decision_function(X), atol=1e-10)
    # The model itself, without the recipe, has one output per row of coef_.
    assert shap.LinearExplainer(clf, X)(X.iloc[:5]).values.shape == (5, 6, 2)


def test_shap_multiclass_and_temperature_add_up_to_the_decision_function():
    shap = pytest.importorskip("shap")
    X, y = load_iris(return_X_y=True)
    # [shap-multiclass]
    clf = SoftmaxRegression(temperature="auto", random_state=0).fit(X, y)
    explanation = shap.LinearExplainer(clf, X)(X)  # (n_samples, n_features, 3)
    # [/shap-multiclass]
    assert clf.temperature_ != 1.0
    total = explanation.values.sum(axis=1) + explanation.base_values
    assert_allclose(total, clf.decision_function(X), atol=1e-10)


def test_fairlearn_metric_frame_reduction_and_threshold_optimizer(binary):
    pytest.importorskip("fairlearn")
    from sklearn.metrics import accuracy_score

    X, y = binary
    sensitive = (X.iloc[:, 0] > 0).map({True: "a", False: "b"})
    # [fairlearn]
    from fairlearn.metrics import MetricFrame
    from fairlearn.postprocessing import ThresholdOptimizer
    from fairlearn.reductions import DemographicParity, ExponentiatedGradient

    clf = SoftmaxRegression().fit(X, y)
    frame = MetricFrame(
        metrics=accuracy_score,
        y_true=y,
        y_pred=clf.predict(X),
        sensitive_features=sensitive,
    )
    mitigated = ExponentiatedGradient(SoftmaxRegression(), DemographicParity())
    mitigated.fit(X, y, sensitive_features=sensitive)
    postprocessed = ThresholdOptimizer(
        estimator=clf, prefit=True, predict_method="predict_proba"
    ).fit(X, y, sensitive_features=sensitive)
    # [/fairlearn]
    assert set(frame.by_group.index) == {"a", "b"}
    assert frame.overall == pytest.approx(accuracy_score(y, clf.predict(X)))
    assert set(np.unique(mitigated.predict(X))) <= {0, 1}
    labels = postprocessed.predict(X, sensitive_features=sensitive, random_state=0)
    assert labels.shape == y.shape


def test_mapie_split_conformal_sets_cover(binary):
    pytest.importorskip("mapie", minversion="1.0")
    from sklearn.model_selection import train_test_split

    X, y = binary
    X_fit, X_rest, y_fit, y_rest = train_test_split(X, y, random_state=0)
    X_cal, X_test, y_cal, y_test = train_test_split(X_rest, y_rest, random_state=0)
    # [mapie]
    from mapie.classification import SplitConformalClassifier

    clf = SoftmaxRegression().fit(X_fit, y_fit)
    mapie = SplitConformalClassifier(clf, confidence_level=0.9, prefit=True)
    mapie.conformalize(X_cal, y_cal)
    labels, sets = mapie.predict_set(X_test)  # sets: (n_samples, n_classes, 1)
    # [/mapie]
    assert_array_equal(labels, clf.predict(X_test))
    covered = sets[np.arange(y_test.size), np.asarray(y_test), 0]
    # Split conformal coverage is at least 0.9 in expectation; on these 36
    # test rows the empirical rate may dip by a few binomial errors.
    assert covered.mean() >= 0.75


def test_optuna_tunes_c_and_the_normalizer(binary):
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    X, y = binary
    # [optuna]
    from sklearn.model_selection import cross_val_score

    def objective(trial):
        clf = SoftmaxRegression(
            C=trial.suggest_float("C", 1e-3, 1e2, log=True),
            normalizer=trial.suggest_categorical("normalizer", ["softmax", "entmax15"]),
        )
        return cross_val_score(clf, X, y, cv=3).mean()

    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=0)
    )
    study.optimize(objective, n_trials=5)
    best = SoftmaxRegression(**study.best_params).fit(X, y)
    # [/optuna]
    assert len(study.trials) == 5
    assert study.best_value > 0.8
    assert best.normalizer in ("softmax", "entmax15")


def test_imbalanced_learn_samplers_and_ensembles(binary):
    pytest.importorskip("imblearn")
    X, y = binary
    # [imblearn]
    from imblearn.ensemble import BalancedBaggingClassifier
    from imblearn.over_sampling import SMOTE
    from imblearn.pipeline import make_pipeline

    resampled = make_pipeline(SMOTE(random_state=0), SoftmaxRegression()).fit(X, y)
    bagged = BalancedBaggingClassifier(
        SoftmaxRegression(), n_estimators=5, random_state=0
    ).fit(X, y)
    # [/imblearn]
    assert resampled.score(X, y) > 0.85
    assert bagged.predict_proba(X).shape == (y.size, 2)


def test_dask_ml_search_and_parallel_post_fit(binary):
    pytest.importorskip("dask_ml")
    da = pytest.importorskip("dask.array")
    X, y = binary
    X = X.to_numpy()
    # [dask-ml]
    from dask_ml.model_selection import GridSearchCV
    from dask_ml.wrappers import ParallelPostFit

    search = GridSearchCV(SoftmaxRegression(), {"C": [0.1, 1.0, 10.0]}, cv=3)
    search.fit(X, y)
    model = ParallelPostFit(search.best_estimator_)
    proba = model.predict_proba(da.from_array(X, chunks=100))  # lazy
    # [/dask-ml]
    assert_allclose(proba.compute(), search.best_estimator_.predict_proba(X))
    # softreg fits Dask arrays itself, one task per chunk and pass.
    direct = SoftmaxRegression(C=search.best_params_["C"]).fit(
        da.from_array(X, chunks=100), da.from_array(y.to_numpy(), chunks=100)
    )
    assert_allclose(direct.coef_, search.best_estimator_.coef_, rtol=1e-3, atol=1e-3)


def test_select_from_model_threshold_selects_the_nonzero_columns():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    # [select-from-model]
    lasso = SoftmaxRegression(l1_ratio=1.0, C=0.05)
    selector = SelectFromModel(lasso, threshold=1e-5).fit(X, y)
    # [/select-from-model]
    coef = selector.estimator_.coef_
    assert 0 < selector.get_support().sum() < X.shape[1]
    assert_array_equal(selector.get_support(), (coef != 0).any(axis=0))
    # The default threshold is the mean importance for softreg (not 1e-5:
    # SelectFromModel keys that on class names and a penalty="l1" attribute).
    default = SelectFromModel(lasso).fit(X, y)
    importance = np.abs(coef).sum(axis=0)
    assert_array_equal(default.get_support(), importance >= importance.mean())


def test_select_from_model_binary_importances_match_logistic_regression():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    ours = SelectFromModel(SoftmaxRegression(C=0.5, **TIGHT)).fit(X, y)
    ref = SelectFromModel(LogisticRegression(C=1.0, **TIGHT)).fit(X, y)
    # |coef_[0]| + |coef_[1]| = |coef_[1] - coef_[0]|: LogisticRegression's
    # importances, so the same columns (with C doubled there).
    importance = np.abs(ours.estimator_.coef_).sum(axis=0)
    # The coefficients agree to 1e-5 (see the shap test above).
    assert_allclose(importance, np.abs(ref.estimator_.coef_[0]), atol=1e-5)
    assert_array_equal(ours.get_support(), ref.get_support())
