"""`rlvr-zoo eval` and harness.evaluate: scores, audit files, gold answers that cannot be parsed."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.evaluate import EvalConfig, evaluate, make_train_callback


class ScriptedEngine:
    """An engine double that answers from a script, to check the bookkeeping against hand-computed scores (the
    sampling itself is covered by the tiny-random tests below and by the rollout engine's own tests)."""

    def __init__(self, script):
        self.script = script   # problem text -> list of k responses

    def generate(self, prompts, sampling):
        from harness.rollout import Rollout

        out = []
        for i, prompt in enumerate(prompts):
            problem = next(p for p in self.script if p in prompt)
            for text in self.script[problem][:sampling.n]:
                out.append(Rollout(prompt_index=i, prompt_ids=[1], response_ids=[2] * len(text.split()), text=text,
                                   logprobs=[0.0] * len(text.split()), finish_reason="stop"))
        return out


@pytest.fixture(scope="module")
def tiny():
    from harness.models import load_policy
    return load_policy("tiny-random")


def _write_gsm8k(root: Path, rows) -> Path:
    (root / "gsm8k").mkdir(parents=True)
    (root / "gsm8k" / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_scores_match_hand_computation_and_bad_gold_is_reported(tmp_path, tiny):
    _, tokenizer = tiny
    data = _write_gsm8k(tmp_path / "data", [
        {"question": "What is 2+3?", "answer": "2+3=5\n#### 5"},
        {"question": "What is 10-4?", "answer": "10-4=6\n#### 6"},
        {"question": "What is 7*3?", "answer": "no final answer marker here"},   # gold cannot be parsed
    ])
    engine = ScriptedEngine({
        "What is 2+3?": ["so \\boxed{5}", "\\boxed{5}", "\\boxed{4}", "\\boxed{5.0}"],   # 3 of 4, majority 5
        "What is 10-4?": ["\\boxed{3}", "\\boxed{3}", "\\boxed{6}", "nothing"],        # 1 of 4, majority 3
    })
    cfg = EvalConfig(benches=["gsm8k"], k=4, data_dir=str(data), bootstrap_samples=200)
    summary = evaluate(engine, tokenizer, cfg, tmp_path / "out", progress=False)
    s = summary["benches"]["gsm8k"]
    assert s["problems"] == 2 and s["rows"] == 3 and s["gold_unparsable"] == 1
    assert s["avg@4"] == pytest.approx((3 / 4 + 1 / 4) / 2)
    assert s["pass@"]["1"] == pytest.approx(s["avg@4"])
    assert s["pass@"]["4"] == pytest.approx(1.0)
    # pass@2 = 1 - C(n-c,2)/C(n,2): problem 1 (c=3): 1 - 0 = 1; problem 2 (c=1): 1 - C(3,2)/C(4,2) = 1/2
    assert s["pass@"]["2"] == pytest.approx((1 + 0.5) / 2)
    assert s["maj@4"] == pytest.approx(0.5)
    assert s["ci95"][0] <= s["avg@4"] <= s["ci95"][1]
    lines = [json.loads(x) for x in (tmp_path / "out" / "gsm8k.responses.jsonl").read_text().splitlines()]
    graded = [x for x in lines if "correct" in x]
    assert len(graded) == 8 and sum(x["correct"] for x in graded) == 4
    assert graded[0]["extracted"] == "5" and graded[0]["gold"] == "5"
    assert [x for x in lines if "skipped" in x] and len(s["gold_unparsable_ids"]) == 1
    on_disk = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert on_disk["benches"]["gsm8k"]["avg@4"] == s["avg@4"]


def test_eval_command_on_tiny_random(tmp_path, capsys):
    out = tmp_path / "ev"
    assert main(["eval", "--model", "tiny-random", "--bench", "arith", "--k", "2", "--max-new-tokens", "6",
                 "--limit", "3", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "arith" in printed and "avg@2" in printed
    summary = json.loads((out / "summary.json").read_text())
    s = summary["benches"]["arith"]
    assert s["problems"] == 3 and s["k"] == 2 and s["gold_unparsable"] == 0
    lines = (out / "arith.responses.jsonl").read_text().splitlines()
    assert len(lines) == 6
    assert all(json.loads(x)["response_tokens"] <= 6 for x in lines)
    # the checker that gave these verdicts: this checkout's rewards/ sources, hashed afresh here
    from rewards.fingerprint import checker_sources, fingerprint_of
    assert summary["checker"]["fingerprint"] == fingerprint_of(checker_sources())
    from harness.leaderboard import collect
    assert collect(out)[0].checkers == [summary["checker"]["fingerprint"]]


def test_eval_command_errors(capsys):
    assert main(["eval", "--model", "tiny-random", "--bench", "gsm8k,aime2024"]) == 2
    err = capsys.readouterr().err
    assert "unknown benchmark 'aime2024'" in err and "aime24" in err
    assert main(["eval", "--model", "tiny-random", "--bench", "arith", "--k", "0"]) == 2
    assert "k must be >= 1" in capsys.readouterr().err


def test_train_callback_with_trainer_like_object(tiny, tmp_path):
    from harness.rollout import make_engine

    model, tokenizer = tiny

    class T:  # the attributes the trainer exposes to callbacks (docs/INTERFACES.md)
        engine = make_engine("hf", model, tokenizer)
        cfg = type("C", (), {"steps": 2, "algo": "grpo"})()

    T.tokenizer = tokenizer
    curve = EvalConfig(benches=["arith"], k=1, max_new_tokens=4, limit=2, bootstrap_samples=50)
    cb = make_train_callback(curve, curve.replace(k=2), tmp_path / "final")
    got = cb(1, T)
    assert set(got) == {"eval/arith/avg@1", "eval/accuracy"} and not (tmp_path / "final").exists()
    cb(2, T)   # the last step also writes the final evaluation
    assert json.loads((tmp_path / "final" / "summary.json").read_text())["benches"]["arith"]["k"] == 2


def test_per_bench_limit_and_max_new_tokens(tmp_path, tiny):
    """bench_params[b].limit / .max_new_tokens override the global ones for that benchmark only (a study can score
    all of arith but a fixed GSM8K subset with a longer budget); they are not passed to the loader."""
    model, tokenizer = tiny
    from harness.rollout import make_engine

    engine = make_engine("hf", model, tokenizer)
    cfg = EvalConfig(benches=["arith", "gsm8k"], k=1, temperature=0.0, max_new_tokens=3, limit=5,
                     data_dir=str(_write_gsm8k(tmp_path / "data", [
                         {"question": f"What is {i}+1?", "answer": f"#### {i + 1}"} for i in range(6)])),
                     bench_params={"arith": {"level": 1}, "gsm8k": {"limit": 2, "max_new_tokens": 7}})
    s = evaluate(engine, tokenizer, cfg, None, progress=False)["benches"]
    assert s["arith"]["problems"] == 5 and s["gsm8k"]["problems"] == 2
    assert s["arith"]["response_tokens_mean"] <= 3
    assert 3 < s["gsm8k"]["response_tokens_mean"] <= 7 or s["gsm8k"]["truncated_frac"] == 0
    with pytest.raises(ValueError, match=r"bench_params\['gsm8k'\].limit must be an integer >= 1"):
        EvalConfig(benches=["gsm8k"], bench_params={"gsm8k": {"limit": 0}}).check()
