"""The ``python -m softreg`` commands."""

import io
import subprocess
import sys

import pytest

from softreg import _demo
from softreg.__main__ import main


def test_demo_prints_a_table_with_both_models():
    out = io.StringIO()
    rows = _demo.run(out=out)
    text = out.getvalue()
    assert "softreg.SoftmaxRegression" in text
    assert "sklearn LogisticRegression" in text
    (_, acc_ours, loss_ours, *_), (_, acc_ref, loss_ref, *_) = rows
    assert acc_ours > 0.95
    assert loss_ours == pytest.approx(loss_ref, rel=1e-4)
    assert acc_ours == acc_ref


def test_help_lists_the_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("demo", "bench", "agreement"):
        assert command in out


def test_module_runs_as_a_script():
    result = subprocess.run(
        [sys.executable, "-m", "softreg", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "usage: python -m softreg" in result.stdout
