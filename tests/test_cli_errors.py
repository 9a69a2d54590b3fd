"""Every CLI error is one line on stderr and a non-zero exit, never a traceback."""

import pytest

from scoregen import build, data
from scoregen.cli import main


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved") / "model"
    model = build("ncsn", estimator={"hidden": [8]}, sampler={"n_steps_each": 1})
    model.fit(data.gaussian_mixture_2d(64), steps=2, batch_size=8, progress=False)
    model.save(folder)
    return folder


def _fails(capsys, argv, match: str) -> None:
    code = main(argv)
    err = capsys.readouterr().err
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scoregen: error:"), err
    assert match in lines[0], err


def test_sample_out_under_a_file(saved, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    _fails(capsys, ["sample", str(saved), "-n", "4", "--out", str(tmp_path / "file" / "s.png"), "--quiet"], "which is a file")


def test_sample_unknown_picture_suffix(saved, tmp_path, capsys):
    _fails(capsys, ["sample", str(saved), "-n", "4", "--out", str(tmp_path / "s.xyz"), "--quiet"], "file type must be one of")


def test_sample_out_is_a_folder(saved, tmp_path, capsys):
    (tmp_path / "d.png").mkdir()
    _fails(capsys, ["sample", str(saved), "-n", "4", "--out", str(tmp_path / "d.png"), "--quiet"], "is a folder")


def test_sample_too_many(saved, tmp_path, capsys):
    _fails(capsys, ["sample", str(saved), "-n", "1000000000000", "--out", str(tmp_path / "s.png"), "--quiet"], "GiB")


@pytest.mark.parametrize("n", ["0", "-3"])
def test_sample_non_positive_n(saved, tmp_path, capsys, n):
    _fails(capsys, ["sample", str(saved), "-n", n, "--out", str(tmp_path / "s.png"), "--quiet"], "n must be at least 1")


def test_train_out_is_an_existing_file(tmp_path, capsys):
    (tmp_path / "run").write_text("x")
    _fails(capsys, ["train", "ncsn", "--data", "gmm", "--steps", "1", "--out", str(tmp_path / "run"), "--quiet"], "existing file")


def test_train_out_under_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    _fails(capsys, ["train", "ncsn", "--data", "gmm", "--steps", "1", "--out", str(tmp_path / "f" / "run"), "--quiet"], "is a file")


@pytest.mark.parametrize(("flag", "value", "match"), [("--lr", "nan", "lr must be finite"), ("--steps", "-1", "steps must be at least 0")])
def test_train_bad_numbers(tmp_path, capsys, flag, value, match):
    argv = ["train", "ncsn", "--data", "gmm", "--steps", "1", "--out", str(tmp_path / "run"), "--quiet", flag, value]
    _fails(capsys, argv, match)


def test_sample_a_folder_without_a_model(tmp_path, capsys):
    _fails(capsys, ["sample", str(tmp_path), "--out", str(tmp_path / "s.png")], "no saved model")


def test_a_usage_error_is_one_line_too(capsys):
    with pytest.raises(SystemExit) as info:
        main(["sample", "somewhere", "-n", "x"])
    assert info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "scoregen sample: error: argument -n: invalid int value: 'x'" in lines[0]


def test_a_reader_that_goes_away_ends_the_output_quietly():
    """``scoregen list | head``: a reader that closes the pipe (here one that never reads) ends the
    command without a traceback or an error line."""
    import subprocess
    import sys

    done = subprocess.run(f"{sys.executable} -m scoregen list | true", shell=True, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in done.stderr and "error" not in done.stderr and "Broken pipe" not in done.stderr
