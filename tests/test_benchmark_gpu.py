"""benchmarks/gpu.py runs on the CPU with tiny settings (what CI exercises; the GPU numbers need a GPU)."""

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("sklearn")


def _load():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu.py"
    spec = importlib.util.spec_from_file_location("bench_gpu", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_gpu_benchmark_runs_on_the_cpu(capsys):
    rows = _load().main([
        "--device", "cpu", "--data", "digits,synthetic32", "--modes", "fp32,bf16", "--steps", "1", "--rounds", "1",
        "--batch-size", "4", "--channels", "8", "--steps-each", "1", "--sample-n", "2", "--n-synthetic", "16", "--n-levels", "3",
    ])
    assert [(r["data"], r["mode"]) for r in rows] == [
        ("digits", "fp32"), ("digits", "bf16"), ("synthetic32", "fp32"), ("synthetic32", "bf16")
    ]
    assert all(r["reproducible"] and r["train ratio"] > 0 and r["sample ratio"] > 0 for r in rows)
    assert "train" not in capsys.readouterr().err
