import io
import subprocess
import sys

from sklearn_audioconcepts import __version__
from sklearn_audioconcepts.cli import main, run_demo


def test_demo_reports_concepts_and_probe_accuracy():
    out = io.StringIO()
    assert run_demo(n_samples=200, out=out) == 0
    report = out.getvalue()
    assert "active concepts per clip" in report
    assert "Top concepts of three clips" in report
    assert "dense CLAP-like embedding" in report
    assert "l1_penalty=0.5" in report


def test_module_entry_point_version():
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_audioconcepts", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == __version__


def test_errors_are_reported_without_traceback(capsys):
    assert main(["demo", "--n-samples", "25", "--random-state", "-1"]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("error:") and "Traceback" not in captured.err
