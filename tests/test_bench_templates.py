"""Prompt templates with a real tokenizer (SmolLM2's, from the tiny-random checkpoint) and without one."""
import pytest

import benchmarks


@pytest.fixture(scope="module")
def smol_tokenizer():
    from transformers import AutoTokenizer

    from harness import models

    return AutoTokenizer.from_pretrained(models.resolve("tiny-random"))


def test_template_names():
    assert benchmarks.template_names() == ["boxed", "r1", "plain", "qa", "complete"]


def test_boxed_uses_the_chat_template(smol_tokenizer):
    text = benchmarks.render_prompt(smol_tokenizer, "What is 7 + 5?")
    assert smol_tokenizer.chat_template
    assert "<|im_start|>user\nWhat is 7 + 5?\n" + benchmarks.BOXED_INSTRUCTION in text
    assert text.endswith("<|im_start|>assistant\n")                 # add_generation_prompt=True
    # the same as the tokenizer's own rendering of that conversation
    msgs = [{"role": "user", "content": "What is 7 + 5?\n" + benchmarks.BOXED_INSTRUCTION}]
    assert text == smol_tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)


def test_r1_and_plain_are_plain_text(smol_tokenizer):
    r1 = benchmarks.render_prompt(smol_tokenizer, "What is 7 + 5?", template="r1")
    assert "<|im_start|>" not in r1 and "<think>" in r1 and "</think>" in r1 and "\\boxed{}" in r1
    assert r1.endswith("Assistant: <think>") and "User: What is 7 + 5?" in r1
    plain = benchmarks.render_prompt(smol_tokenizer, "  What is 7 + 5?  ", template="plain")
    assert plain == "Question: What is 7 + 5?\n" + benchmarks.BOXED_INSTRUCTION + "\nAnswer:"


def test_boxed_falls_back_to_plain_without_chat_template(smol_tokenizer):
    import copy

    tok = copy.deepcopy(smol_tokenizer)
    tok.chat_template = None
    expected = benchmarks.render_prompt(None, "2+2?", template="plain")
    assert benchmarks.render_prompt(tok, "2+2?") == expected
    assert benchmarks.render_prompt(None, "2+2?") == expected


def test_unknown_template_and_empty_problem():
    with pytest.raises(ValueError, match=r"unknown prompt template 'cot'.*\['boxed', 'r1', 'plain', 'qa', 'complete'\]"):
        benchmarks.render_prompt(None, "x", template="cot")
    with pytest.raises(ValueError, match="non-empty"):
        benchmarks.render_prompt(None, "  ")
