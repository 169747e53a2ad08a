"""``rankstack eval`` and ``rankstack compare``: output, options, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rankstack.cli import main
from rankstack.data import Qrels, Run
from rankstack.evaluate import compare, evaluate, evaluate_per_query
from rankstack.io import read_qrels, read_run, write_qrels, write_run


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """Qrels with grades 0..2 over 30 queries and three runs of different quality."""
    rng = np.random.default_rng(0)
    qs, ds, ls = [], [], []
    for i in range(30):
        for j in range(12):
            qs.append(f"q{i}")
            ds.append(f"d{j}")
            ls.append(int(rng.integers(0, 3)))
    qrels = Qrels.from_arrays(qs, ds, ls)
    write_qrels(qrels, tmp_path / "qrels.txt")
    out = {"qrels": tmp_path / "qrels.txt"}
    grade = dict(zip(zip(qs, ds), ls))
    for name, skill in (("base", 0.3), ("good", 2.0), ("weak", 0.0)):
        rq, rd, rs = [], [], []
        for i in range(28 if name == "weak" else 30):  # "weak" lacks two queries
            for j in range(15):  # d12..d14 are not judged
                q, d = f"q{i}", f"d{j}"
                rq.append(q)
                rd.append(d)
                rs.append(float(grade.get((q, d), 0) * skill + rng.normal(0, 1)))
        write_run(Run.from_arrays(rq, rd, rs), tmp_path / f"{name}.run", tag=name)
        out[name] = tmp_path / f"{name}.run"
    return out


def test_eval_default_table(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(files["base"]), str(files["qrels"])]) == 0
    out = capsys.readouterr().out
    want = evaluate(read_run(files["base"]), read_qrels(files["qrels"]), ["nDCG@10"])
    for name in ("nDCG@10", "AP", "RR", "P@10", "R@100"):
        assert name in out
    assert f"{want['nDCG@10']:.4f}" in out
    assert "30 queries evaluated" in out


def test_eval_json_is_exact(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    args = ["eval", str(files["base"]), str(files["qrels"]), "-m", "ndcg_cut_5", "-m", "AP"]
    assert main([*args, "-m", "NumRet", "-m", "Judged@10", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    run, qrels = read_run(files["base"]), read_qrels(files["qrels"])
    assert got == evaluate(run, qrels, ["nDCG@5", "AP", "NumRet", "Judged@10"])
    assert got["NumRet"] == 450


def test_eval_per_query(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    base = ["eval", str(files["weak"]), str(files["qrels"]), "-m", "AP", "-m", "P@5"]
    assert main([*base, "--per-query", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    pq = evaluate_per_query(read_run(files["weak"]), read_qrels(files["qrels"]), ["AP", "P@5"])
    assert got == pq.to_dict() and len(got) == 28
    assert main([*base, "--per-query"]) == 0
    out = capsys.readouterr().out
    assert "q27" in out and "all" in out


def test_eval_rel_and_complete(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    run, qrels = read_run(files["weak"]), read_qrels(files["qrels"])
    base = ["eval", str(files["weak"]), str(files["qrels"]), "-m", "AP", "-m", "NumQ", "--json"]
    assert main([*base, "--rel", "2", "--complete"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got == evaluate(run, qrels, ["AP", "NumQ"], rel=2, complete=True)
    assert got["NumQ"] == 30


def test_eval_dataset_name(
    datasets_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """QRELS may be a registry name (here SciFact's test split, offline)."""
    monkeypatch.setenv("RANKSTACK_DATA", str(datasets_dir))
    from rankstack.io.beir import read_beir_qrels_tsv

    qrels = read_beir_qrels_tsv(datasets_dir / "beir/scifact/qrels/test.tsv")
    run = Run.from_arrays(qrels.qid_column(), qrels.docids, np.arange(len(qrels), 0, -1.0))
    write_run(run, tmp_path / "perfect.run")
    assert main(["eval", str(tmp_path / "perfect.run"), "beir/scifact/test", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["nDCG@10"] == 1.0 and got["R@100"] == 1.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-m", "nDGC@10"], "unknown measure 'nDGC@10'"),
        (["-m", "P"], "P needs a cut-off"),
        (["--rel", "-3"], "rel must be an integer >= 0"),
    ],
)
def test_eval_bad_measure_is_one_line(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["eval", str(files["base"]), str(files["qrels"]), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 or err.count("error:") == 1


def test_eval_bad_files(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.run"
    bad.write_text("q1 Q0 d1 1 0.5 tag\nq1 Q0 d2 2 oops tag\n")
    assert main(["eval", str(bad), str(files["qrels"])]) == 2
    err = capsys.readouterr().err
    assert "bad.run, line 2" in err and "Traceback" not in err
    assert main(["eval", str(tmp_path / "missing.run"), str(files["qrels"])]) == 2
    assert "file not found" in capsys.readouterr().err
    assert main(["eval", str(files["base"]), str(tmp_path / "none.txt")]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_compare_table_json_csv(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = [str(files[n]) for n in ("base", "good", "weak")]
    common = ["--qrels", str(files["qrels"]), "-m", "nDCG@10", "-m", "AP", "--permutations", "500"]
    assert main(["compare", *runs, *common, "--baseline", "base"]) == 0
    out = capsys.readouterr().out
    assert "base (baseline)" in out and "good" in out and "Holm-corrected" in out
    assert "+tr" in out  # "good" beats the baseline on both tests

    csv_path = tmp_path / "cmp.csv"
    assert (
        main(
            ["compare", *runs, *common, "-b", str(files["base"]), "--json", "--csv", str(csv_path)]
        )
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    loaded = {n: read_run(files[n]) for n in ("base", "good", "weak")}
    want = compare(
        loaded, read_qrels(files["qrels"]), ["nDCG@10", "AP"], "base", n_permutations=500
    )
    assert doc["means"] == want.means
    assert doc["corrected_pvalues"]["t"]["good"] == want.corrected["t"]["good"]
    assert doc["missing_queries"] == {"base": 0, "good": 0, "weak": 2}
    assert csv_path.read_text().startswith("system,baseline,nDCG@10,")


def test_compare_options_and_errors(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    runs = [str(files["good"]), str(files["weak"])]
    q = ["--qrels", str(files["qrels"]), "-m", "AP"]
    # a baseline file that is not among the runs is added to them
    assert main(["compare", *runs, *q, "-b", str(files["base"]), "-t", "t", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["systems"] == ["base", "good", "weak"] and doc["tests"] == ["t"]
    assert main(["compare", *runs, *q, "-b", "nope"]) == 2
    assert "--baseline 'nope' is none of the runs" in capsys.readouterr().err
    assert main(["compare", *runs, *q, "-b", "good", "-t", "wilcoxon"]) == 2
    assert "unknown test 'wilcoxon'" in capsys.readouterr().err


def test_end_to_end_subprocess(files: dict[str, Path]) -> None:
    cmd = [sys.executable, "-m", "rankstack.cli", "eval", str(files["good"]), str(files["qrels"])]
    ok = subprocess.run([*cmd, "--json", "-m", "AP"], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert set(json.loads(ok.stdout)) == {"AP"}
    bad = subprocess.run([*cmd, "-m", "bogus"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: unknown measure 'bogus'") and "Traceback" not in bad.stderr
