"""Math benchmark loaders: the Hugging Face Hub by default, local JSON lines files when a data directory is given.

Every benchmark is described by one :class:`Benchmark` entry in :data:`BENCHMARKS`: where its Hub dataset lives
(:data:`HUB_DATASETS` is derived from it), which local file holds each split, and one row-mapping function that turns
a raw record (a Hub row or a line of the local file; both shapes are handled by the same function) into a row::

    {"id": str, "problem": str, "answer": str (gold), ...the source's other fields}

A record whose gold answer cannot be read is not returned; it is counted, its id listed in the
:class:`LoadReport`, and a warning is issued (``load`` warns; ``load_with_report`` returns the report too), so a
benchmark never shrinks silently.
"""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

__all__ = ["Benchmark", "BENCHMARKS", "HUB_DATASETS", "LoadReport", "BenchmarkDataError", "DATA_DIR_ENV",
           "load_records", "map_records", "local_path", "number_text"]

DATA_DIR_ENV = "RLVR_ZOO_DATA_DIR"


class BenchmarkDataError(FileNotFoundError):
    """A benchmark's data could not be found or read (the message says where it looked and how to fix it)."""


# ---------------------------------------------------------------------------------------------- gold helpers
def number_text(value: Any) -> str | None:
    """A gold value as text: floats that are whole numbers lose their ``.0`` (AMC23 stores 27 as 27.0)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        if value != value:  # NaN
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        s = value.strip()
        return s or None
    return None


def _strip_dollars(s: str) -> str:
    s = s.strip()
    while len(s) >= 2 and s.startswith("$") and s.endswith("$"):
        s = s[1:-1].strip()
    return s.replace("$", "").strip()


def _gsm8k_gold(solution: str) -> str | None:
    """GSM8K: the text after the last ``#### `` marker, thousands commas removed (``2,125`` -> ``2125``)."""
    if not isinstance(solution, str) or "####" not in solution:
        return None
    tail = solution.rsplit("####", 1)[1].strip()
    return tail.replace(",", "").strip() or None


def _boxed_gold(solution: Any) -> str | None:
    from rewards import last_boxed  # benchmarks -> rewards is an allowed dependency (docs/INTERFACES.md)

    if not isinstance(solution, str):
        return None
    got = last_boxed(solution)
    return got.strip() if got and got.strip() else None


def _first(raw: dict, *names: str) -> Any:
    for n in names:
        v = raw.get(n)
        if v is not None and v != "":
            return v
    return None


# -------------------------------------------------------------------------------------------- row mappers
# Each mapper: (raw record, position in the split, benchmark name, split) -> (row without gold check, gold or None).
# Shared by the local and the Hub paths: every field name that differs between the two is handled here.
Mapped = tuple[dict, "str | None"]


def _extras(raw: dict, drop: Iterable[str]) -> dict:
    drop = set(drop)
    return {k: v for k, v in raw.items() if k not in drop}


def _row_id(name: str, split: str, key: Any) -> str:
    return f"{name}/{split}/{key}"


def _map_gsm8k(raw: dict, index: int, name: str, split: str) -> Mapped:
    # local = Hub (openai/gsm8k "main"): question, answer (worked solution ending in "#### n")
    solution = raw.get("answer")
    row = {"id": _row_id(name, split, index), "problem": raw.get("question"), "solution": solution,
           **_extras(raw, ["question", "answer", "id", "problem", "solution"])}
    return row, _gsm8k_gold(solution)


def _map_math500(raw: dict, index: int, name: str, split: str) -> Mapped:
    # local = Hub (HuggingFaceH4/MATH-500): problem, solution, answer, subject, level, unique_id
    key = raw.get("unique_id") or index
    row = {"id": _row_id(name, split, key), "problem": raw.get("problem"),
           **_extras(raw, ["problem", "answer", "id"])}
    gold = number_text(raw.get("answer")) or _boxed_gold(raw.get("solution"))
    return row, gold


def _map_answer_field(raw: dict, index: int, name: str, split: str) -> Mapped:
    """Competition sets with a short ``answer`` (AIME 24/25, HMMT 25, AMC 23): gold is ``answer`` as text.

    Local files use ``id``; MathArena's Hub sets use ``problem_idx``; AMC23/AIME keep the statement in ``problem``
    and/or ``question``.
    """
    key = _first(raw, "id", "problem_idx", "idx")
    row = {"id": _row_id(name, split, key if key is not None else index), "problem": _first(raw, "problem", "question"),
           **_extras(raw, ["id", "problem", "answer"])}
    return row, number_text(raw.get("answer"))


def _map_minerva(raw: dict, index: int, name: str, split: str) -> Mapped:
    # local (Qwen2.5-Math copy): idx, problem, solution, type -> gold = last \boxed{} of the solution.
    # Hub (math-ai/minervamath): question, answer -> gold = answer.
    key = _first(raw, "idx", "id")
    row = {"id": _row_id(name, split, key if key is not None else index), "problem": _first(raw, "problem", "question"),
           **_extras(raw, ["idx", "id", "problem", "question", "answer"])}
    gold = number_text(raw.get("answer")) or _boxed_gold(raw.get("solution"))
    return row, gold


def _map_olympiadbench(raw: dict, index: int, name: str, split: str) -> Mapped:
    # local = Hub (Hothan/OlympiadBench "OE_TO_maths_en_COMP"): id, question, solution (list), final_answer (list), ...
    fa = raw.get("final_answer")
    gold = None
    if isinstance(fa, (list, tuple)) and fa:
        gold = number_text(fa[0])
    elif isinstance(fa, str):
        gold = number_text(fa)
    if gold is not None:
        gold = _strip_dollars(gold) or None
    key = raw.get("id")
    problem = raw.get("question")
    ctx = raw.get("context")
    if isinstance(ctx, str) and ctx.strip():
        problem = f"{ctx.strip()}\n\n{problem}"
    row = {"id": _row_id(name, split, key if key is not None else index), "problem": problem,
           **_extras(raw, ["id", "question", "answer"])}
    return row, gold


def _map_math_train(raw: dict, index: int, name: str, split: str) -> Mapped:
    # local (DeepScaleR's MATH train copy): problem, answer, level, type -> gold = answer.
    # Hub (DigitalLearningGmbH/MATH-lighteval): problem, solution, level, type -> gold = last \boxed{} of solution.
    key = _first(raw, "unique_id", "id")
    row = {"id": _row_id(name, split, key if key is not None else index), "problem": raw.get("problem"),
           **_extras(raw, ["id", "problem", "answer"])}
    gold = number_text(raw.get("answer")) or _boxed_gold(raw.get("solution"))
    return row, gold


# ----------------------------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Benchmark:
    """One benchmark: its Hub source, its local files and the function mapping a raw record to a row."""
    name: str
    hub_id: str                     # Hugging Face Hub dataset id
    hub_config: str | None          # dataset configuration (None = default)
    hub_splits: dict[str, str]      # our split -> the Hub split holding it
    local_folder: str               # folder under the data directory; files are <folder>/<split>.jsonl
    gold_field: str                 # where the gold answer lives (documentation and error messages)
    origin: str                     # licence / origin of the data
    mapper: Callable[[dict, int, str, str], Mapped] = field(repr=False)

    @property
    def splits(self) -> list[str]:
        return sorted(self.hub_splits)


BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in [
    Benchmark("gsm8k", "openai/gsm8k", "main", {"train": "train", "test": "test"}, "gsm8k",
              "text after '#### ' in answer, thousands commas removed",
              "MIT; openai/grade-school-math", _map_gsm8k),
    Benchmark("math500", "HuggingFaceH4/MATH-500", None, {"test": "test"}, "math500",
              "answer", "MIT (MATH, Hendrycks et al.); subset from OpenAI prm800k", _map_math500),
    Benchmark("aime24", "HuggingFaceH4/aime_2024", None, {"test": "train"}, "aime24",
              "answer", "AIME 2024 I+II problems (MAA), via Art of Problem Solving wiki", _map_answer_field),
    Benchmark("aime25", "math-ai/aime25", None, {"test": "test"}, "aime25",
              "answer", "AIME 2025 I+II problems (MAA), via Art of Problem Solving wiki", _map_answer_field),
    Benchmark("hmmt25", "MathArena/hmmt_feb_2025", None, {"test": "train"}, "hmmt25",
              "answer (LaTeX)", "HMMT February 2025 problems, via MathArena", _map_answer_field),
    Benchmark("amc23", "math-ai/amc23", None, {"test": "test"}, "amc23",
              "answer (a float such as 27.0, read as 27)", "AMC 12 2023 problems (MAA), via Art of Problem Solving wiki",
              _map_answer_field),
    Benchmark("minerva", "math-ai/minervamath", None, {"test": "test"}, "minerva",
              "last \\boxed{} in solution (Hub: answer)", "MIT OpenCourseWare problems collected for Minerva (Lewkowycz et al. 2022)",
              _map_minerva),
    Benchmark("olympiadbench", "Hothan/OlympiadBench", "OE_TO_maths_en_COMP", {"test": "train"}, "olympiadbench",
              "final_answer[0] with $ removed", "OlympiadBench (He et al. 2024): open-ended, text-only, English maths competition problems",
              _map_olympiadbench),
    Benchmark("math", "DigitalLearningGmbH/MATH-lighteval", "default", {"train": "train"}, "math_train",
              "answer (Hub: last \\boxed{} in solution)", "MIT (MATH, Hendrycks et al.) train split", _map_math_train),
]}

#: name -> (Hub dataset id, config or None, {our split: Hub split})
HUB_DATASETS: dict[str, tuple[str, str | None, dict[str, str]]] = {
    b.name: (b.hub_id, b.hub_config, dict(b.hub_splits)) for b in BENCHMARKS.values()}


# ----------------------------------------------------------------------------------------------- loading
@dataclass
class LoadReport:
    """What one load did: where the rows came from, how many records there were and which had no readable gold."""
    name: str
    split: str
    source: str                      # a file path or "hub:<id>[/<config>]:<split>"
    records: int = 0                 # records read from the source
    rows: int = 0                    # rows returned (before `limit`)
    bad_gold_ids: list[str] = field(default_factory=list)
    bad_problem_ids: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return len(self.bad_gold_ids) + len(self.bad_problem_ids)

    def message(self) -> str:
        parts = []
        if self.bad_gold_ids:
            ids = ", ".join(self.bad_gold_ids[:20]) + (" ..." if len(self.bad_gold_ids) > 20 else "")
            gold = BENCHMARKS[self.name].gold_field if self.name in BENCHMARKS else "answer"
            parts.append(f"{len(self.bad_gold_ids)} row(s) without a readable gold answer (expected in: {gold}): {ids}")
        if self.bad_problem_ids:
            ids = ", ".join(self.bad_problem_ids[:20]) + (" ..." if len(self.bad_problem_ids) > 20 else "")
            parts.append(f"{len(self.bad_problem_ids)} row(s) with an empty problem statement: {ids}")
        return (f"{self.name}/{self.split} from {self.source}: kept {self.rows} of {self.records} records; "
                + "; ".join(parts) + "; these rows are left out of evaluation")


def local_path(bench: Benchmark, split: str, data_dir: str | os.PathLike) -> Path:
    """The local JSON lines file of ``bench``/``split`` under ``data_dir``."""
    return Path(data_dir) / bench.local_folder / f"{split}.jsonl"


def _read_jsonl(path: Path, bench: Benchmark, split: str) -> list[dict]:
    data_dir = path.parent.parent
    if not data_dir.is_dir():
        raise BenchmarkDataError(
            f"data directory {data_dir} does not exist (or is not a directory); point data_dir or ${DATA_DIR_ENV} "
            f"at a folder laid out like ../shared/data (<data_dir>/{bench.local_folder}/{split}.jsonl), or unset "
            f"both to load {bench.hub_id} from the Hugging Face Hub.")
    if not path.is_file():
        raise BenchmarkDataError(
            f"benchmark {bench.name!r} split {split!r}: expected the JSON lines file {path} (layout "
            f"<data_dir>/{bench.local_folder}/{split}.jsonl with data_dir={data_dir}), but it does not exist. "
            f"Point data_dir or ${DATA_DIR_ENV} at a folder laid out like ../shared/data, or unset both to load "
            f"{bench.hub_id} from the Hugging Face Hub.")
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise BenchmarkDataError(f"{path}: not UTF-8 text (byte {e.start}); a benchmark file holds one JSON object "
                                 f"per line") from None
    out = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise BenchmarkDataError(f"{path}:{lineno}: not valid JSON ({e.msg}); each line must be one JSON "
                                         f"object") from None
            if not isinstance(rec, dict):
                raise BenchmarkDataError(f"{path}:{lineno}: expected a JSON object per line, got {type(rec).__name__}")
            out.append(rec)
    return out


def _read_hub(bench: Benchmark, split: str) -> list[dict]:
    hub_split = bench.hub_splits[split]
    try:
        import datasets
    except ImportError as e:  # pragma: no cover - datasets is a core dependency
        raise BenchmarkDataError(f"loading {bench.name!r} from the Hub needs the `datasets` package "
                                 f"(pip install datasets), or pass data_dir= with local files") from e
    try:
        ds = datasets.load_dataset(bench.hub_id, bench.hub_config, split=hub_split)
    except Exception as e:
        cfg = f", config {bench.hub_config!r}" if bench.hub_config else ""
        raise BenchmarkDataError(
            f"could not load benchmark {bench.name!r} from the Hugging Face Hub ({bench.hub_id}{cfg}, split "
            f"{hub_split!r}): {type(e).__name__}: {e}. Check the network (HF_HUB_OFFLINE must be unset) or pass "
            f"data_dir= / set ${DATA_DIR_ENV} to a folder with {bench.local_folder}/{split}.jsonl") from e
    return [dict(r) for r in ds]


def map_records(bench: Benchmark, split: str, records: list[dict], source: str) -> tuple[list[dict], LoadReport]:
    """Map raw records (Hub rows or local lines) to rows; rows without gold or problem go to the report."""
    report = LoadReport(name=bench.name, split=split, source=source, records=len(records))
    rows = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(records):
        row, gold = bench.mapper(raw, i, bench.name, split)
        rid = str(row["id"])
        if rid in seen:  # a source with repeated ids: keep ids unique and stable by appending the position
            rid = f"{rid}#{i}"
        seen[rid] = i
        row["id"] = rid
        problem = row.get("problem")
        if not isinstance(problem, str) or not problem.strip():
            report.bad_problem_ids.append(rid)
            continue
        if gold is None or not str(gold).strip():
            report.bad_gold_ids.append(rid)
            continue
        row["problem"] = problem.strip()
        row["answer"] = str(gold).strip()
        rows.append(row)
    report.rows = len(rows)
    return rows, report


def load_records(bench: Benchmark, split: str, data_dir: str | os.PathLike | None) -> tuple[list[dict], str]:
    """Raw records of ``bench``/``split`` and a description of their source (file path or Hub id)."""
    if data_dir is None:
        data_dir = os.environ.get(DATA_DIR_ENV) or None
    if data_dir is not None:
        path = local_path(bench, split, data_dir)
        return _read_jsonl(path, bench, split), str(path)
    cfg = f"/{bench.hub_config}" if bench.hub_config else ""
    return _read_hub(bench, split), f"hub:{bench.hub_id}{cfg}:{bench.hub_splits[split]}"


def warn_report(report: LoadReport) -> None:
    if report.skipped:
        warnings.warn(report.message(), stacklevel=3)
