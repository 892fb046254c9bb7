"""Short-answer tasks: arith takes only a number written out as an answer, and the `qa` template's responses end at
the end of their line (token-level stop ids, the same in every engine call of training, probing and evaluation)."""
from __future__ import annotations

import pytest

import benchmarks
import rewards
from rewards.options import Options, is_number_literal, states_a_number

NUMBER = Options(answer_form="number")


@pytest.mark.parametrize("text", ["38", "-4", "+7", "2.5", ".5", "1,000", "12,345.5", "1{,}000", "$38$", "38."])
def test_numbers_written_out(text):
    assert is_number_literal(text)


@pytest.mark.parametrize("text", ["13 + 25", "\\frac{1}{2}", "2^3", "x", "1,00", "", "3e8", "38 + 0", "(38)"])
def test_not_numbers_written_out(text):
    assert not is_number_literal(text)


@pytest.mark.parametrize("answer", ["x = 38", "13 + 25 = 38", "\\text{38}", "\\mathrm{38}", "38"])
def test_a_stated_number_is_the_value_after_the_last_equals_sign(answer):
    assert states_a_number(answer)


@pytest.mark.parametrize("answer", ["13 + 25", "38 = 13 + 25", "x = 13 + 25", "\\frac{76}{2}", "\\text{13+25}"])
def test_an_expression_is_not_a_stated_number(answer):
    assert not states_a_number(answer)


MUST = ["38", "\\boxed{38}", "13 + 25 = 38", "So 13 + 25 = 38.", "$13 + 25 = 38$", "x = 38", "\\boxed{x = 38}",
        "The answer is $38$.", "\\boxed{38.0}", "38 apples"]
MUST_NOT = ["\\boxed{13 + 25}", "\\boxed{25 + 13}", "13 + 25", "\\boxed{\\frac{76}{2}}", "x = 13 + 25",
            "\\boxed{19 \\cdot 2}", "\\boxed{13+25=37}", "37"]


def test_number_form_in_both_directions():
    got = rewards.verify_batch_detailed(["38"] * len(MUST), MUST, options=NUMBER)
    assert [v.correct for v in got] == [True] * len(MUST), [(r, v) for r, v in zip(MUST, got) if not v.correct]
    got = rewards.verify_batch_detailed(["38"] * len(MUST_NOT), MUST_NOT, options=NUMBER)
    assert [v.correct for v in got] == [False] * len(MUST_NOT), [(r, v) for r, v in zip(MUST_NOT, got) if v.correct]
    assert {v.reason for v, r in zip(got, MUST_NOT) if r.startswith("\\boxed{1") and "=" not in r} == {"not_a_number"}


def test_without_the_option_an_expression_equal_to_the_gold_is_right():
    """The default (every other benchmark): a gold of 38 accepts 13 + 25, as a symbolic checker should."""
    assert rewards.verify("38", "\\boxed{13 + 25}")


def test_arith_asks_for_numbers_and_other_benchmarks_do_not():
    assert benchmarks.answer_options("arith") == {"answer_form": "number"}
    assert benchmarks.answer_options("gsm8k") == {} and benchmarks.answer_options("math500") == {}
    with pytest.raises(ValueError, match="unknown benchmark"):
        benchmarks.answer_options("nope")
    with pytest.raises(ValueError, match="answer_form"):
        Options(answer_form="integer")


def test_the_evaluation_and_the_training_reward_use_the_task_options():
    from harness.evaluate import check_responses

    responses = ["\\boxed{13 + 25}", "13 + 25 = 38"]
    assert [v.correct for v in check_responses(["38", "38"], responses, "arith")] == [False, True]
    assert [v.correct for v in check_responses(["38", "38"], responses, "gsm8k")] == [True, True]
    reward = rewards.training_reward("correctness", answer_options=benchmarks.answer_options("arith"))
    assert [s.correct for s in reward.score(["38", "38"], responses, [5, 5])] == [False, True]
    # a user's own reward_params win over the task's default
    reward = rewards.training_reward("correctness", {"answer_form": "any"},
                                     answer_options=benchmarks.answer_options("arith"))
    assert [s.correct for s in reward.score(["38", "38"], responses, [5, 5])] == [True, True]


def test_the_complete_template_ends_with_the_rows_answer_prefix():
    row = benchmarks.load("arith", "test", level=1, n=1)[0]
    assert row["answer_prefix"] == row["expression"] + " ="
    prompt = benchmarks.render_prompt(None, row["problem"], "complete", answer_prefix=row["answer_prefix"])
    assert prompt == f"Question: {row['problem']}\nAnswer: {row['expression']} ="
    assert benchmarks.template_stop("complete") == ["\n"]
    with pytest.raises(ValueError, match="needs rows with an answer_prefix"):
        benchmarks.render_prompt(None, "What is 2 + 2?", "complete")


def test_the_qa_template_and_its_stop():
    assert benchmarks.render_prompt(None, "What is 1 + 2?", "qa") == "Question: What is 1 + 2?\nAnswer:"
    assert benchmarks.template_stop("qa") == ["\n"] and benchmarks.template_stop("boxed") == []
    with pytest.raises(ValueError, match="unknown prompt template"):
        benchmarks.template_stop("nope")


@pytest.fixture(scope="module")
def policy():
    from harness import models

    return models.load_policy("tiny-random")


def test_stop_ids_are_the_tokens_that_contain_the_text(policy):
    from harness.rollout import stop_token_ids_for

    _, tok = policy
    ids = stop_token_ids_for(tok, ["\n"])
    assert ids and all("\n" in tok.decode([i]) for i in ids)
    assert tok("a\nb", add_special_tokens=False)["input_ids"][1] in ids or any(
        i in ids for i in tok("a\nb", add_special_tokens=False)["input_ids"])
    assert stop_token_ids_for(tok, []) == ()


@pytest.mark.usefixtures("one_torch_thread")
def test_the_engine_ends_a_response_after_its_first_stop_token(policy):
    from harness.rollout import Sampling, make_engine, stop_token_ids_for

    model, tok = policy
    stops = stop_token_ids_for(tok, ["e"])   # half the vocabulary: a random model draws one within a few tokens
    engine = make_engine("hf", model, tok)
    prompts = ["Question: What is 1 + 2?\nAnswer:", "Q:"]
    cut = engine.generate(prompts, Sampling(n=8, max_new_tokens=24, temperature=1.0, seed=0, stop_token_ids=stops))
    for r in cut:   # no stop token before the end; a response that ends early ends on one
        assert not any(t in stops for t in r.response_ids[:-1])
        assert (r.finish_reason, r.response_ids[-1] in stops) == ("stop", True) or \
            (r.finish_reason == "length" and len(r.response_ids) == 24)
    assert sum(r.finish_reason == "stop" for r in cut) >= 8
    # greedy draws no random numbers: each stopped response is the free one cut after its first stop token
    free = engine.generate(prompts, Sampling(n=1, max_new_tokens=24, temperature=0.0))
    cut = engine.generate(prompts, Sampling(n=1, max_new_tokens=24, temperature=0.0, stop_token_ids=stops))
    assert any(any(t in stops for t in r.response_ids[:-1]) for r in free), "no stop token drawn: the test says nothing"
    for f, c in zip(free, cut):
        first = next((j for j, t in enumerate(f.response_ids) if t in stops), None)
        assert c.response_ids == (f.response_ids if first is None else f.response_ids[:first + 1])
