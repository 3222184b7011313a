"""Arrays shared with joblib's worker processes (softreg._shared)."""

import os
import pickle

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.datasets import make_classification

from softreg import SoftmaxRegressionCV
from softreg._shared import shared_with_workers, task_array


def test_small_and_non_arrays_pass_through():
    small = np.ones((10, 3))
    with shared_with_workers(small) as out:
        assert out is small
    listed = [[1.0, 2.0]] * 100000
    with shared_with_workers(listed) as out:
        assert out is listed


@pytest.mark.parametrize("order", ["C", "F"])
def test_large_arrays_pickle_as_one_read_only_map_removed_afterwards(order):
    X = np.asarray(np.random.default_rng(0).standard_normal((2000, 100)), order=order)
    with shared_with_workers(X) as shared:
        # In threads the tasks get X itself, and no file is written.
        assert task_array(shared) is X
        assert shared._path is None
        first = pickle.loads(pickle.dumps(shared))
        again = pickle.loads(pickle.dumps(shared))
        assert first.filename == again.filename  # written once
        for out in (first, again):
            assert isinstance(out, np.memmap)
            assert task_array(out) is out
            assert not out.flags.writeable
            assert out.flags.f_contiguous == X.flags.f_contiguous
            assert out.flags.c_contiguous == X.flags.c_contiguous
            assert_array_equal(out, X)
        path = first.filename
        assert os.path.exists(path)
    assert not os.path.exists(path)
    assert not os.path.exists(os.path.dirname(path))


def test_the_map_goes_where_joblib_is_told(tmp_path, monkeypatch):
    folder = tmp_path / "not yet there"
    monkeypatch.setenv("JOBLIB_TEMP_FOLDER", str(folder))
    with shared_with_workers(np.zeros((1000, 200))) as shared:
        out = pickle.loads(pickle.dumps(shared))
        assert os.path.dirname(os.path.dirname(out.filename)) == str(folder)
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("order", ["C", "F"])
def test_paths_in_worker_processes_give_the_same_bits(order):
    # Large enough (1.1 MiB) for the map; the workers compute on it what a
    # thread computes on X, in either memory layout.
    X, y = make_classification(1400, 100, n_informative=20, n_classes=3, random_state=1)
    X = np.asarray(X, order=order)
    params = {"Cs": 3, "cv": 3, "tol": 1e-6, "max_iter": 500}
    threads = SoftmaxRegressionCV(n_jobs=None, **params).fit(X, y)
    processes = SoftmaxRegressionCV(n_jobs=2, **params).fit(X, y)
    assert_array_equal(threads.coefs_paths_, processes.coefs_paths_)
    assert_array_equal(threads.scores_, processes.scores_)
