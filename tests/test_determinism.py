"""The same command twice gives the same run: a two-objective tiny comparison is run twice into two directories, and
every logged metric (except the machine's own measurements: time, throughput, memory) and every evaluated response
must be equal. Real model, trainer, checker and files."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main

pytestmark = pytest.mark.slow

MACHINE_KEYS = ("time/", "throughput/", "memory/")   # measurements of the machine, not of the run


def _metrics(path: Path) -> list[dict]:
    recs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [{k: v for k, v in r.items() if not k.startswith(MACHINE_KEYS)} for r in recs]


def test_two_identical_tiny_comparisons_are_identical(tmp_path):
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        assert main(["compare", "--preset", "tiny-test", "--algos", "grpo,dapo", "--out", str(out),
                     "--no-progress"]) == 0
    a, b = outs
    metrics = sorted(p.relative_to(a) for p in a.glob("runs/*/seed-*/metrics.jsonl"))
    responses = sorted(p.relative_to(a) for p in a.rglob("*.responses.jsonl"))
    assert len(metrics) == 2 and len(responses) == 3          # base + two trained models
    for rel in metrics:
        ma, mb = _metrics(a / rel), _metrics(b / rel)
        assert len(ma) == len(mb) and len(ma) >= 2
        for ra, rb in zip(ma, mb):
            assert ra == rb, (rel, {k: (ra.get(k), rb.get(k)) for k in set(ra) | set(rb) if ra.get(k) != rb.get(k)})
    for rel in responses:
        assert (a / rel).read_text() == (b / rel).read_text(), rel
