"""Concurrent calls, the process-wide BLAS limit, and interrupted fits."""

import _thread
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from joblib import Parallel, delayed
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from threadpoolctl import threadpool_info, threadpool_limits

from softreg import SoftmaxRegression
from softreg._blocks import BlockRunner, single_threaded_blas
from softreg.normalizers import Softmax

# Short fits: only their bits are compared, not their convergence.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _thread_settings():
    """(library, user_api, num_threads) of every loaded BLAS/OpenMP library."""
    return sorted(
        (i["filepath"], i["user_api"], i["num_threads"]) for i in threadpool_info()
    )


def _blas_threads():
    return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


@pytest.fixture(scope="module")
def data():
    # Enough rows for several row blocks, so predictions use the pool.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30000, 40))
    y = (X[:, :4] @ rng.normal(size=(4, 5))).argmax(axis=1)
    return X, y


@pytest.fixture(scope="module")
def model(data):
    X, y = data
    return SoftmaxRegression(n_jobs=2, max_iter=15, tol=1e-12).fit(X, y)


@pytest.fixture
def blas_at_three():
    """BLAS at a value that is neither 1 nor (usually) the default, restored after."""
    with threadpool_limits(limits=3, user_api="blas"):
        found = _thread_settings()
        yield found


def test_sixteen_threads_predict_bit_identical(model, data, blas_at_three):
    X, _ = data
    reference = model.predict_proba(X)
    for _ in range(3):
        with ThreadPoolExecutor(16) as ex:
            results = list(ex.map(lambda _: model.predict_proba(X), range(16)))
        for result in results:
            assert_array_equal(result, reference)
    # The last call to leave restored what the first one found.
    assert _thread_settings() == blas_at_three
    assert single_threaded_blas().depth() == 0


def test_concurrent_predict_and_fit_leave_settings_as_found(data, blas_at_three):
    X, y = data
    rows = slice(0, 6000)
    fits = [
        SoftmaxRegression(n_jobs=n_jobs, max_iter=20, tol=1e-12) for n_jobs in (1, 2)
    ]
    alone = [clone_fit(est, X[rows], y[rows]) for est in fits]
    with ThreadPoolExecutor(2) as ex:
        together = list(ex.map(lambda e: clone_fit(e, X[rows], y[rows]), fits))
    for a, b in zip(alone, together, strict=True):
        assert_array_equal(a.coef_, b.coef_)
        assert_array_equal(a.intercept_, b.intercept_)
    assert _thread_settings() == blas_at_three


def clone_fit(est, X, y):
    from sklearn.base import clone

    return clone(est).fit(X, y)


def test_serial_call_gives_the_same_bits_beside_another_call(data):
    # A serial (n_jobs=1) call must not change its BLAS code path when another
    # call holds the limit: OpenBLAS's products differ in their last bits
    # between one and several threads.
    X, y = data
    est = SoftmaxRegression(n_jobs=1, max_iter=10, tol=1e-12)
    alone = clone_fit(est, X, y)
    proba_alone = alone.predict_proba(X)
    held, release = threading.Event(), threading.Event()

    def hold_limit():
        with single_threaded_blas():
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold_limit)
    holder.start()
    held.wait(60)
    try:
        beside = clone_fit(est, X, y)
        proba_beside = alone.predict_proba(X)
    finally:
        release.set()
        holder.join()
    assert_array_equal(alone.coef_, beside.coef_)
    assert_array_equal(proba_alone, proba_beside)


def test_serial_call_runs_blas_single_threaded(data):
    X, y = data
    seen = []

    class Spy(Softmax):
        def loss_gradient(self, Y, Z):
            seen.append(_blas_threads())
            return super().loss_gradient(Y, Z)

    SoftmaxRegression(normalizer=Spy(), n_jobs=1, max_iter=2).fit(X[:500], y[:500])
    assert seen
    assert all(s <= {1} for s in seen)


def test_limit_restored_by_whichever_thread_leaves_last(blas_at_three):
    # threadpoolctl lets only one "controlling" thread change OpenBLAS; the
    # first call to enter and the last to leave are in different threads.
    limit = single_threaded_blas()
    entered, first_left = threading.Event(), threading.Event()

    def first():
        with limit:
            entered.set()
            # Leaves while the main thread still holds the limit.
        first_left.set()

    t = threading.Thread(target=first)
    t.start()
    entered.wait(60)
    with limit:
        first_left.wait(60)
        assert _blas_threads() <= {1}
    t.join()
    assert _thread_settings() == blas_at_three


def test_joblib_workers_and_threads(model, data):
    X, _ = data
    reference = model.predict_proba(X[:5000])
    before = _thread_settings()
    for backend in ("threading", "loky"):
        results = Parallel(n_jobs=2, backend=backend)(
            delayed(model.predict_proba)(X[:5000]) for _ in range(4)
        )
        for result in results:
            assert_array_equal(result, reference)
    assert _thread_settings() == before


def test_grid_search_with_two_jobs(data):
    X, y = data
    X, y = X[:3000], y[:3000]
    grid = {"C": [0.01, 1.0]}
    before = _thread_settings()
    parallel = GridSearchCV(SoftmaxRegression(), grid, cv=3, n_jobs=2).fit(X, y)
    serial = GridSearchCV(SoftmaxRegression(), grid, cv=3, n_jobs=1).fit(X, y)
    # Worker processes run softreg on one thread (joblib sets
    # OMP_NUM_THREADS), so the chunking, and the last bits, may differ.
    assert_allclose(
        parallel.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"]
    )
    assert parallel.best_params_ == serial.best_params_
    assert_allclose(
        parallel.best_estimator_.coef_, serial.best_estimator_.coef_, rtol=1e-6
    )
    assert _thread_settings() == before


class _Interrupting(Softmax):
    """Raises KeyboardInterrupt from its ``fail_at``-th loss_gradient call."""

    def __init__(self, fail_at=3):
        self.fail_at = fail_at

    def loss_gradient(self, Y, Z):
        lock = self.__dict__.setdefault("_lock", threading.Lock())
        with lock:
            self.__dict__["_calls"] = self.__dict__.get("_calls", 0) + 1
            calls = self._calls
        if calls == self.fail_at:
            raise KeyboardInterrupt
        return super().loss_gradient(Y, Z)


@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("previously_fitted", [False, True])
def test_keyboard_interrupt_leaves_estimator_unfitted(data, n_jobs, previously_fitted):
    X, y = data
    before = _thread_settings()
    est = SoftmaxRegression(normalizer=_Interrupting(fail_at=7), n_jobs=n_jobs)
    if previously_fitted:
        SoftmaxRegression.fit(
            est.set_params(normalizer="softmax"), X[:200], y[:200] % 2
        )
        est.set_params(normalizer=_Interrupting(fail_at=7))
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, y)
    with pytest.raises(NotFittedError):
        est.predict(X[:3])
    assert not [k for k in vars(est) if k.endswith("_")]
    assert single_threaded_blas().depth() == 0
    assert _thread_settings() == before
    # The pool is still usable: the same fit without the interruption works
    # and equals a fit in a fresh estimator.
    est.set_params(normalizer="softmax", max_iter=5)
    refit = est.fit(X, y)
    fresh = SoftmaxRegression(n_jobs=n_jobs, max_iter=5).fit(X, y)
    assert_array_equal(refit.coef_, fresh.coef_)
    with BlockRunner(2).running() as runner:
        assert runner.map(lambda i: i + 1, range(8)) == list(range(1, 9))


class _SlowCtrlC(Softmax):
    """Sends the main thread a real SIGINT-style interrupt on its 3rd call."""

    def loss_gradient(self, Y, Z):
        calls = self.__dict__["_calls"] = self.__dict__.get("_calls", 0) + 1
        if calls == 3:
            _thread.interrupt_main()
        # Slow enough that the fit is certainly still running when the main
        # thread handles the interrupt.
        time.sleep(0.002)
        return super().loss_gradient(Y, Z)


def test_ctrl_c_in_the_main_thread_during_a_threaded_fit(data):
    X, y = data
    before = _thread_settings()
    est = SoftmaxRegression(normalizer=_SlowCtrlC(), n_jobs=2, tol=0, max_iter=10**6)
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, y)
    with pytest.raises(NotFittedError):
        est.predict_proba(X[:2])
    assert single_threaded_blas().depth() == 0
    assert _thread_settings() == before
    # Workers may still finish the chunks they had started; the pool then
    # serves the next fit as usual.
    fresh = SoftmaxRegression(n_jobs=2, max_iter=5).fit(X, y)
    again = SoftmaxRegression(n_jobs=2, max_iter=5).fit(X, y)
    assert_array_equal(fresh.coef_, again.coef_)


def _omp_loaded():
    return any(i["user_api"] == "openmp" for i in threadpool_info())


def _fit_in_worker(X, y):
    """In a joblib worker: the default threads and the pools a fit started."""
    from softreg import _blocks

    before = set(_blocks._POOLS)
    n_threads = _blocks.default_n_threads()
    SoftmaxRegression(max_iter=5).fit(X, y)
    return n_threads, sorted(set(_blocks._POOLS) - before)


def test_fit_in_loky_worker_keeps_to_the_workers_thread_budget(data, monkeypatch):
    # joblib gives each of its n_jobs worker processes cpu_count() // n_jobs
    # threads (OMP_NUM_THREADS in their environment), as scikit-learn's
    # OpenMP code sees it; a fit there must not start more.
    from joblib import cpu_count

    X, y = data
    n_jobs = 2
    budget = max(1, cpu_count() // n_jobs)
    results = Parallel(n_jobs=n_jobs, backend="loky")(
        delayed(_fit_in_worker)(X[:8000], y[:8000]) for _ in range(n_jobs)
    )
    for n_threads, new_pools in results:
        assert 1 <= n_threads <= budget
        # Only a pool of the budget's size, if any (none at one thread).
        assert all(size <= budget for size in new_pools)
        if budget == 1:
            assert new_pools == []


@pytest.mark.skipif(not _omp_loaded(), reason="no OpenMP runtime loaded")
@pytest.mark.parametrize("user_api", [None, "openmp"])
def test_threadpool_limits_on_openmp_caps_default_threads(data, user_api, monkeypatch):
    # As scikit-learn's OpenMP code does: a threadpoolctl limit entered by
    # the caller (a Dask worker, a wrapper that runs us in its own threads)
    # caps n_jobs=None; explicit n_jobs and BLAS-only limits do not.
    from softreg._blocks import _POOLS, _physical_cores, resolve_n_threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    X, y = data
    with threadpool_limits(1, user_api=user_api):
        assert resolve_n_threads(None) == 1
        assert resolve_n_threads(2) == 2
        before = set(_POOLS)
        SoftmaxRegression(max_iter=3).fit(X, y)
        # A serial fit never opens a pool.
        assert set(_POOLS) == before
    with threadpool_limits(1, user_api="blas"):
        assert resolve_n_threads(None) == _physical_cores()
    # Read at every fit: once the limit is left, the cores count again.
    assert resolve_n_threads(None) == _physical_cores()
