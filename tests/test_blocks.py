"""Row blocks, chunks, CSR block views and the thread pool."""

import itertools
import threading

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from threadpoolctl import threadpool_info

from softreg import _blocks
from softreg._blocks import (
    BlockRunner,
    CSRBlock,
    InMemoryRows,
    add_rmatmul,
    block_slices,
    chunk_ranges,
    matmul,
    plan_blocks,
    resolve_n_threads,
    row_block,
    same_point,
    sparse_block_slices,
)
from softreg._objective import ChunkKernel, map_score_blocks
from softreg.normalizers import Softmax


def _covers(slices, n):
    rows = np.concatenate([np.arange(s.start, s.stop) for s in slices])
    assert_array_equal(rows, np.arange(n))


@pytest.mark.parametrize(("n", "rows"), [(1, 7), (100, 7), (100, 100), (101, 25)])
def test_block_slices_cover_the_rows_in_order(n, rows):
    slices = block_slices(n, 10, 8, rows)
    _covers(slices, n)
    assert all(s.stop - s.start == rows for s in slices[:-1])
    assert 0 < slices[-1].stop - slices[-1].start <= rows


def test_default_block_size_follows_the_row_width():
    narrow = block_slices(10**6, 20 + 6 * 5, 8)[0]
    wide = block_slices(10**6, 100 + 6 * 100, 8)[0]
    assert narrow.stop > wide.stop >= _blocks._MIN_BLOCK_ROWS
    # float32 rows are half as wide: twice the rows per block.
    assert (
        block_slices(10**6, 200, 4)[0].stop == 2 * block_slices(10**6, 200, 8)[0].stop
    )


def test_sparse_blocks_hold_similar_numbers_of_entries(monkeypatch):
    monkeypatch.setattr(_blocks, "_BLOCK_NNZ", 500)
    monkeypatch.setattr(_blocks, "_MIN_BLOCK_ROWS", 1)
    # Rows of very different lengths: the first 50 are 20x denser.
    dense_part = sp.random(50, 400, density=0.2, format="csr", random_state=1)
    sparse_part = sp.random(950, 400, density=0.01, format="csr", random_state=2)
    X = sp.vstack([dense_part, sparse_part]).tocsr()
    slices = sparse_block_slices(X.indptr)
    _covers(slices, X.shape[0])
    counts = [X.indptr[s.stop] - X.indptr[s.start] for s in slices]
    assert len(slices) > 3
    # Cut at row boundaries, so within one (<= 120-entry) row of the target.
    assert all(abs(c - 500) <= 120 for c in counts[:-1])
    # The dense rows get short blocks, the sparse rows long ones.
    assert slices[0].stop - slices[0].start < slices[-2].stop - slices[-2].start
    monkeypatch.setattr(_blocks, "_MIN_BLOCK_ROWS", 64)
    slices = sparse_block_slices(X.indptr)
    _covers(slices, X.shape[0])
    assert all(s.stop - s.start >= 64 for s in slices[:-1])


def test_chunks_partition_the_blocks():
    assert chunk_ranges(10, 1) == [(0, 10)]
    chunks = chunk_ranges(10, 2)
    assert chunks[0][0] == 0
    assert chunks[-1][1] == 10
    assert all(a[1] == b[0] for a, b in itertools.pairwise(chunks))
    assert {b - a for a, b in chunks} <= {1, 2}
    assert chunk_ranges(3, 8) == [(0, 1), (1, 2), (2, 3)]
    # Few, large gradient buffers: one chunk per thread, not fewer.
    assert len(chunk_ranges(100, 2, max_chunks=0)) == 2
    assert len(chunk_ranges(100, 2, max_chunks=5)) == 5


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_csr_block_products_match_dense(dtype):
    rng = np.random.default_rng(0)
    X = sp.random(60, 30, density=0.2, format="csr", random_state=0, dtype=dtype)
    block = CSRBlock(X, slice(17, 45))
    dense = X.toarray()[17:45]
    B = rng.normal(size=(30, 4)).astype(dtype)
    R = rng.normal(size=(28, 4)).astype(dtype)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert_allclose(matmul(block, B), dense @ B, rtol=rtol)
    out = np.ones((30, 4), dtype=dtype)
    add_rmatmul(block, R, out)
    assert_allclose(out, 1 + dense.T @ R, rtol=rtol, atol=rtol)
    # A float64 right-hand side upcasts, as numpy would.
    assert matmul(block, B.astype(np.float64)).dtype == np.float64
    assert block.nnz == X[17:45].nnz
    assert_allclose(block.squared().toarray(), dense**2)


def test_row_blocks_are_views_of_x():
    X = np.random.default_rng(0).normal(size=(50, 4))
    assert np.shares_memory(row_block(X, slice(10, 20)), X)
    Xs = sp.csr_matrix(X)
    block = row_block(Xs, slice(10, 20))
    assert block.X is Xs
    assert np.shares_memory(block.indptr, Xs.indptr)


def test_plan_blocks_dispatches_on_sparsity():
    X = np.zeros((1000, 3))
    assert plan_blocks(X, 2, block_rows=100) == block_slices(1000, 3, 8, 100)
    assert len(plan_blocks(sp.csr_matrix(X), 2, block_rows=100)) == 10


def test_runner_keeps_order_and_uses_threads():
    runner = BlockRunner(3)
    seen = set()

    def work(i):
        seen.add(threading.get_ident())
        return i * i

    with runner.running():
        assert runner.map(work, range(50)) == [i * i for i in range(50)]
    assert runner._pool is None  # closed on exit
    # Outside running(), or with one task, everything runs in this thread.
    assert runner.map(work, range(3)) == [0, 1, 4]


def test_runner_limits_blas_to_one_thread_inside_workers():
    runner = BlockRunner(2)

    def blas_threads(_):
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    with runner.running():
        inside = runner.map(blas_threads, range(4))
    assert all(s <= {1} for s in inside)


def test_serial_runner_never_opens_a_pool():
    runner = BlockRunner(1)
    with runner.running():
        assert runner.map(lambda i: i + 1, range(4)) == [1, 2, 3, 4]
        assert runner._pool is None


def test_n_jobs_resolution(monkeypatch):
    from joblib import cpu_count

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert resolve_n_threads(None) == cpu_count(only_physical_cores=True)
    assert resolve_n_threads(1) == 1
    assert resolve_n_threads(3) == 3
    assert resolve_n_threads(-1) == cpu_count()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert resolve_n_threads(None) == 1
    assert BlockRunner.from_n_jobs(None).n_threads == 1


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("n_threads", [1, 3])
def test_map_score_blocks_equals_one_product(sparse, n_threads):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(203, 5))
    Wt, b = rng.normal(size=(5, 3)), rng.normal(size=3)
    Xin = sp.csr_matrix(X) if sparse else X
    runner = BlockRunner(n_threads)
    with runner.running():
        out = map_score_blocks(
            Xin, Wt, b, lambda Z: Z * 2, runner, inv_temperature=0.5, block_rows=19
        )
    assert_allclose(out, (X @ Wt + b), rtol=1e-12)
    assert out.flags.c_contiguous


def test_rows_of_a_path_reuse_their_last_pass():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5))
    y = rng.integers(0, 3, 300)
    Wt, b = rng.normal(size=(5, 3)), rng.normal(size=3)
    kernel = ChunkKernel(Softmax(), 3, 1.0, 300.0, 1.0)
    fresh = InMemoryRows(X, y, np.ones(300), 3)
    expected = fresh.map_reduce(kernel.loss_gradient, Wt, b)

    rows = InMemoryRows(X, y, np.ones(300), 3, block_rows=64, keep_last_pass=True)
    first = rows.map_reduce(kernel.loss_gradient, Wt, b)
    # Another kernel with the same key, equal copies of the parameters.
    twin = ChunkKernel(kernel.normalizer, 3, 1.0, 300.0, 1.0)
    again = rows.map_reduce(twin.loss_gradient, Wt.copy(), b.copy())
    assert rows.n_passes == 1
    for part, last, ref in zip(again, first, expected, strict=True):
        assert_array_equal(part, last)
        assert_allclose(part, ref, rtol=1e-12)
    # A different point, temperature or pass each run (and forget the last).
    moved = Wt.copy()
    moved[0, 0] = np.nextafter(moved[0, 0], np.inf)
    rows.map_reduce(kernel.loss_gradient, moved, b)
    hot = ChunkKernel(kernel.normalizer, 3, 0.5, 300.0, 1.0)
    rows.map_reduce(hot.loss_gradient, Wt, b)
    rows.map_reduce(kernel.moments)
    rows.map_reduce(kernel.loss_gradient, Wt, b)
    assert rows.n_passes == 5
    # Without keep_last_pass every call is a pass.
    fresh.map_reduce(kernel.loss_gradient, Wt, b)
    assert fresh.n_passes == 2


def test_rows_keep_block_targets_only_where_they_are_small(monkeypatch):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 40)).astype(np.float32)
    y = rng.integers(0, 3, 500)
    rows = InMemoryRows(X, y, np.ones(500), 3, block_rows=128)
    seen = []
    for _ in range(2):  # made on the first pass, the same arrays on the next
        for chunk in rows.chunks:
            for (_, Y, _), sl in zip(chunk, chunk.slices, strict=True):
                assert Y.dtype == np.float32
                assert Y.flags.f_contiguous
                assert_array_equal(Y, np.eye(3, dtype=np.float32)[y[sl]])
                seen.append(Y)
    half = len(seen) // 2
    assert all(a is b for a, b in zip(seen[:half], seen[half:], strict=True))
    soft = rng.dirichlet(np.ones(3), 500)
    rows = InMemoryRows(X, soft, np.ones(500), 3, block_rows=128)
    (_, Y, _), *_ = rows.chunks[0]
    assert_array_equal(Y, soft[:128].astype(np.float32))
    # Targets larger than 1 MiB and an eighth of X stay labels.
    monkeypatch.setattr(_blocks, "_KEPT_TARGET_BYTES", 0)
    small = InMemoryRows(X, y, np.ones(500), 3)
    wide = InMemoryRows(X, rng.integers(0, 6, 500), np.ones(500), 6)
    (_, kept, _), *_ = small.chunks[0]
    (_, labels, _), *_ = wide.chunks[0]
    assert kept.ndim == 2
    assert labels.ndim == 1
    # The memory plan counts the kept targets.
    assert (small._kept_bytes, wide._kept_bytes) == (500 * 3 * 4, 0)
    with_targets = small.memory_estimate(120, 3)
    small._kept_bytes = 0
    assert with_targets - small.memory_estimate(120, 3) == 500 * 3 * 4


@pytest.mark.parametrize("n", [15, 5000])  # byte comparison, np.array_equal
def test_same_point_matches_array_equal(n):
    a = np.random.default_rng(n).normal(size=n)
    assert same_point(a, a.copy())
    b = a.copy()
    b[-1] = np.nextafter(b[-1], np.inf)  # one ulp apart
    assert not same_point(a, b)
    assert not same_point(a, a[:-1])
    assert not same_point(a, np.resize(a, (1, n)))
    # Equal values in another dtype: another pass (float32 or float64 scores).
    single = a.astype(np.float32)
    assert not same_point(single, single.astype(np.float64))
