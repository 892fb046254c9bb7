"""Benchmark loaders: the local files of ../shared/data, the Hub row mapping, errors and bad-gold reporting."""
import json
import warnings

import pytest

import benchmarks
from benchmarks import sources

TEST_COUNTS = {"gsm8k": 1319, "math500": 500, "aime24": 30, "aime25": 30, "hmmt25": 30, "amc23": 40,
               "minerva": 272, "olympiadbench": 675}


# ------------------------------------------------------------------------------ real data (../shared/data)
@pytest.mark.data
@pytest.mark.parametrize("name,count", sorted(TEST_COUNTS.items()))
def test_test_sets_have_expected_rows_and_gold(data_dir, name, count):
    with warnings.catch_warnings():
        warnings.simplefilter("error")            # no row may be dropped for a missing gold answer
        rows, report = benchmarks.load_with_report(name, "test", data_dir=data_dir)
    assert len(rows) == count
    assert report.records == count and report.skipped == 0
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == count and all(isinstance(i, str) for i in ids)
    for r in rows:
        assert isinstance(r["problem"], str) and r["problem"].strip()
        assert isinstance(r["answer"], str) and r["answer"].strip()
    # ids are stable: a second load gives the same ids in the same order
    assert [r["id"] for r in benchmarks.load(name, "test", data_dir=data_dir)] == ids


@pytest.mark.data
def test_gold_extraction_per_source(data_dir):
    gsm = {r["id"]: r for r in benchmarks.load("gsm8k", data_dir=data_dir)}
    assert gsm["gsm8k/test/0"]["answer"] == "18"
    assert "####" in gsm["gsm8k/test/0"]["solution"]           # the worked solution is kept
    assert not any("," in r["answer"] for r in gsm.values())   # 2,125 -> 2125
    amc = benchmarks.load("amc23", data_dir=data_dir)
    assert amc[0]["answer"] == "27"                            # JSON float 27.0
    assert all(not a["answer"].endswith(".0") for a in amc)
    minerva = benchmarks.load("minerva", data_dir=data_dir)
    assert minerva[0]["answer"] == "1.6"                       # last \boxed{} of the solution
    oly = benchmarks.load("olympiadbench", data_dir=data_dir)
    assert not any("$" in r["answer"] for r in oly)
    assert {r["answer"] for r in oly[:3]} >= {"2"}
    assert oly[1]["answer"] == "\\frac{1}{2 n+2}"              # "$\frac{1}{2 n+2}$" without the dollars
    m5 = benchmarks.load("math500", data_dir=data_dir, limit=3)
    assert len(m5) == 3 and m5[0]["answer"] == "\\left( 3, \\frac{\\pi}{2} \\right)" and m5[0]["subject"]


@pytest.mark.data
def test_train_sets_load(data_dir):
    gsm = benchmarks.load("gsm8k", "train", data_dir=data_dir)
    math = benchmarks.load("math", "train", data_dir=data_dir)
    assert len(gsm) == 7473 and len(math) == 7470
    assert all(r["answer"] for r in gsm) and all(r["answer"] for r in math)
    assert gsm[0]["answer"] == "72"
    assert set(r["id"] for r in gsm).isdisjoint(r["id"] for r in benchmarks.load("gsm8k", data_dir=data_dir))


@pytest.mark.data
def test_env_variable_selects_local_files(data_dir, monkeypatch):
    monkeypatch.setenv("RLVR_ZOO_DATA_DIR", str(data_dir))
    rows = benchmarks.load("aime24", limit=5)
    assert len(rows) == 5 and rows[0]["answer"] == "204"


# ------------------------------------------------------------------------------ errors and reporting
def test_unknown_benchmark_lists_names():
    with pytest.raises(ValueError) as e:
        benchmarks.load("gsm9k")
    for n in ["gsm8k", "math500", "aime24", "olympiadbench", "arith"]:
        assert n in str(e.value)


def test_unknown_split_and_params():
    with pytest.raises(ValueError, match=r"no split 'train'.*\['test'\]"):
        benchmarks.load("aime24", "train", data_dir="/nonexistent")
    with pytest.raises(ValueError, match="takes no task parameters"):
        benchmarks.load("gsm8k", data_dir="/nonexistent", level=2)


def test_missing_file_names_expected_path(tmp_path):
    with pytest.raises(benchmarks.BenchmarkDataError) as e:
        benchmarks.load("minerva", data_dir=tmp_path)
    msg = str(e.value)
    assert str(tmp_path / "minerva" / "test.jsonl") in msg
    assert "RLVR_ZOO_DATA_DIR" in msg and "math-ai/minervamath" in msg
    assert isinstance(e.value, FileNotFoundError)


def test_bad_gold_is_counted_and_reported(tmp_path):
    (tmp_path / "gsm8k").mkdir()
    lines = [{"question": "1+1?", "answer": "1+1=2\n#### 2"},
             {"question": "no marker", "answer": "the answer is 3"},
             {"question": "2+2?", "answer": "#### 4"},
             {"question": "", "answer": "#### 5"}]
    (tmp_path / "gsm8k" / "test.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    with pytest.warns(UserWarning) as rec:
        rows = benchmarks.load("gsm8k", data_dir=tmp_path)
    assert [r["answer"] for r in rows] == ["2", "4"]
    msg = str(rec[0].message)
    assert "kept 2 of 4" in msg and "1 row(s) without a readable gold" in msg and "gsm8k/test/1" in msg
    assert "empty problem" in msg and "gsm8k/test/3" in msg
    rows, report = benchmarks.load_with_report("gsm8k", data_dir=tmp_path)
    assert report.bad_gold_ids == ["gsm8k/test/1"] and report.bad_problem_ids == ["gsm8k/test/3"]
    assert report.skipped == 2 and report.rows == 2


def test_malformed_json_line_is_an_error_with_location(tmp_path):
    (tmp_path / "hmmt25").mkdir()
    (tmp_path / "hmmt25" / "test.jsonl").write_text('{"id": 1, "problem": "x", "answer": "1"}\n{oops\n')
    with pytest.raises(benchmarks.BenchmarkDataError, match=r"test.jsonl:2: not valid JSON"):
        benchmarks.load("hmmt25", data_dir=tmp_path)


@pytest.mark.parametrize("content, expected", [
    (b"", r"test.jsonl has no records"),
    (b"\n  \n\n", r"test.jsonl has no records"),
    (b"\x1f\x8b\x08\x00\xff\xfe\x00binary", r"test.jsonl: not UTF-8 text"),
    (b'{"id": 1, "problem": "x"}\n{"id": 2, "problem": "y", "answer": ""}\n',
     r"kept 0 of 2 records.*no usable row is left"),
])
def test_a_benchmark_file_without_usable_rows_is_an_error(tmp_path, content, expected):
    (tmp_path / "hmmt25").mkdir()
    (tmp_path / "hmmt25" / "test.jsonl").write_bytes(content)
    with pytest.raises(benchmarks.BenchmarkDataError, match=expected) as err:
        benchmarks.load("hmmt25", data_dir=tmp_path)
    assert "\n" not in str(err.value)


def test_evaluate_refuses_a_zero_row_benchmark_instead_of_scoring_nothing(tmp_path):
    from harness.evaluate import EvalConfig, evaluate

    (tmp_path / "hmmt25").mkdir()
    (tmp_path / "hmmt25" / "test.jsonl").write_text("")
    with pytest.raises(benchmarks.BenchmarkDataError, match="has no records"):
        evaluate(engine=None, tokenizer=None, cfg=EvalConfig(benches=["hmmt25"], data_dir=str(tmp_path)),
                 out_dir=tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "summary.json").exists()


# ------------------------------------------------------------------------------ the Hub path
# Rows shaped like each Hub dataset's rows (field names and types as published), mapped by the same functions the
# local path uses.
HUB_ROWS = {
    "gsm8k": [{"question": "Q?", "answer": "Work 1,000+234=1,234\n#### 1,234"}],
    "math500": [{"problem": "P", "solution": "so \\boxed{\\frac12}", "answer": "\\frac12", "subject": "Algebra",
                 "level": 3, "unique_id": "test/algebra/1.json"}],
    "aime24": [{"id": 60, "problem": "P", "solution": "S", "answer": "204", "url": "u", "year": "2024"}],
    "aime25": [{"problem": "P", "answer": "70", "id": "0"}],
    "hmmt25": [{"problem_idx": 1, "problem": "P", "answer": "\\frac{9\\sqrt{23}}{23}", "problem_type": ["Geometry"]}],
    "amc23": [{"id": 0, "question": "Q", "answer": 27.0, "url": "u"}, {"id": 1, "question": "Q2", "answer": 2.5,
                                                                       "url": "u"}],
    "minerva": [{"question": "Q", "answer": "1.6"}],
    "olympiadbench": [{"id": 1606, "question": "Q", "solution": ["S"], "final_answer": ["$2^{1009}$"],
                       "context": None, "is_multiple_answer": False, "unit": None, "answer_type": "Numerical",
                       "subfield": "Combinatorics", "error": None}],
    "math": [{"problem": "P", "level": "Level 2", "type": "Algebra",
              "solution": "First $\\boxed{1}$, finally $\\boxed{\\frac{1}{2}}$."}],
}
HUB_GOLD = {"gsm8k": ["1234"], "math500": ["\\frac12"], "aime24": ["204"], "aime25": ["70"],
            "hmmt25": ["\\frac{9\\sqrt{23}}{23}"], "amc23": ["27", "2.5"], "minerva": ["1.6"],
            "olympiadbench": ["2^{1009}"], "math": ["\\frac{1}{2}"]}
HUB_IDS = {"aime24": "aime24/test/60", "hmmt25": "hmmt25/test/1", "olympiadbench": "olympiadbench/test/1606",
           "math500": "math500/test/test/algebra/1.json", "gsm8k": "gsm8k/test/0"}


def test_every_benchmark_has_a_hub_source():
    for name, bench in benchmarks.BENCHMARKS.items():
        hub_id, config, split_map = benchmarks.HUB_DATASETS[name]
        assert "/" in hub_id and split_map and set(split_map) == set(bench.splits)
    assert benchmarks.HUB_DATASETS["gsm8k"] == ("openai/gsm8k", "main", {"train": "train", "test": "test"})
    assert benchmarks.HUB_DATASETS["math500"][0] == "HuggingFaceH4/MATH-500"
    assert set(benchmarks.HUB_DATASETS) == set(HUB_ROWS)


@pytest.mark.parametrize("name", sorted(HUB_ROWS))
def test_hub_shaped_rows_map_like_local_rows(name, monkeypatch):
    import datasets

    calls = []

    def fake_load_dataset(path, name=None, split=None, **kw):
        calls.append((path, name, split))
        return datasets.Dataset.from_list(HUB_ROWS[bench_name])

    bench_name = name
    monkeypatch.delenv("RLVR_ZOO_DATA_DIR", raising=False)
    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    split = "train" if name == "math" else "test"
    rows, report = benchmarks.load_with_report(name, split)
    hub_id, config, split_map = benchmarks.HUB_DATASETS[name]
    assert calls == [(hub_id, config, split_map[split])]
    assert report.source.startswith(f"hub:{hub_id}") and report.skipped == 0
    assert [r["answer"] for r in rows] == HUB_GOLD[name]
    for r in rows:
        assert r["problem"] in ("P", "Q", "Q?", "Q2") and isinstance(r["id"], str)
    if name in HUB_IDS:
        assert rows[0]["id"] == HUB_IDS[name]


def test_hub_failure_says_what_to_do(monkeypatch):
    monkeypatch.delenv("RLVR_ZOO_DATA_DIR", raising=False)
    import datasets

    def offline(*a, **k):
        raise ConnectionError("offline")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(benchmarks.BenchmarkDataError) as e:
        benchmarks.load("aime25")
    msg = str(e.value)
    assert "math-ai/aime25" in msg and "data_dir" in msg and "aime25/test.jsonl" in msg


def test_same_mapper_for_local_and_hub_shapes():
    # a local minerva line (solution with \boxed) and a Hub minerva row (question, answer) both give a gold
    bench = benchmarks.BENCHMARKS["minerva"]
    local = {"idx": 3, "problem": "P", "solution": "x = \\boxed{\\frac{1}{2}} m", "type": "T"}
    hub = {"question": "P", "answer": "\\frac{1}{2}"}
    (r1,), _ = sources.map_records(bench, "test", [local], "local")
    (r2,), _ = sources.map_records(bench, "test", [hub], "hub")
    assert r1["answer"] == r2["answer"] == "\\frac{1}{2}" and r1["problem"] == r2["problem"] == "P"
    assert r1["id"] == "minerva/test/3"


def test_number_text():
    assert sources.number_text(27.0) == "27"
    assert sources.number_text(2.5) == "2.5"
    assert sources.number_text(7) == "7"
    assert sources.number_text("  ") is None
    assert sources.number_text(float("nan")) is None
    assert sources.number_text(None) is None
