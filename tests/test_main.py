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


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_demo_progress_lines_stay_apart_unless_on_a_terminal():
    log = io.StringIO()  # a file, a pipe or a CI log: not a terminal
    _demo._progress("fitting a ...", log)
    _demo._progress("done.", log)
    assert log.getvalue() == "fitting a ...\ndone.\n"
    terminal = _Terminal()
    _demo._progress("fitting a ...", terminal)
    _demo._progress("done.", terminal)
    assert terminal.getvalue().split("\r")[1:] == [
        f"{'fitting a ...':<60}",
        f"{'done.':<60}",
    ]


def test_demo_prints_the_progress_on_separate_lines_into_a_pipe():
    result = subprocess.run(
        [sys.executable, "-m", "softreg"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "\r" not in result.stdout
    lines = result.stdout.splitlines()
    assert "fitting softreg.SoftmaxRegression ..." in lines
    assert "fitting sklearn LogisticRegression ..." in lines
    assert "done." in lines


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
