"""Prompt templates: how a problem becomes the text a model continues.

* ``boxed`` (default): the model's own chat template (``tokenizer.apply_chat_template`` with
  ``add_generation_prompt=True``) around one user turn that asks for step-by-step reasoning and the final answer in
  ``\\boxed{}``. A tokenizer without a chat template (a base model) gets the ``plain`` text instead.
* ``r1``: an R1-style thinking prompt as plain text (no chat template): the assistant is told to reason inside
  ``<think> ... </think>`` and then state the final answer in ``\\boxed{}``; the prompt ends with ``<think>`` so the
  model starts thinking at once.
* ``plain``: a plain-text question/answer prompt with the same ``\\boxed{}`` instruction.
* ``qa``: ``Question: <problem>`` and ``Answer:`` on the next line, as plain text with no instruction: for
  short-answer tasks (``arith``), where a small model's own one-line answer (``13 + 25 = 38``) is the whole response.
  Generation stops at the end of that line (:func:`template_stop` gives ``["\\n"]``), so a model that would go on
  to invent further questions answers in a few tokens.
* ``complete``: the ``qa`` prompt followed by the start of the answer, which the model completes:
  ``Question: What is 13 + 25?\nAnswer: 13 + 25 =``. The start comes from the row's ``answer_prefix`` (``arith``
  rows carry ``"<expression> ="``); a row without one cannot use this template. It fixes the form of the answer
  (the value, on the same line), so that a policy cannot drift into another answering style, and a response is the
  value and its newline: a few tokens.

:func:`template_stop` gives the text at which a template's responses end (besides end-of-sequence); the rollout
engines stop after the first token that contains it.
"""
from __future__ import annotations

from typing import Any

__all__ = ["render_prompt", "template_names", "template_stop", "BOXED_INSTRUCTION", "TEMPLATES"]

BOXED_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."

_R1 = ("A conversation between a User and an Assistant. The User asks a question and the Assistant solves it. "
       "The Assistant first thinks about the reasoning process step by step inside <think> </think> tags, then "
       "gives the final answer within \\boxed{{}} after the closing tag.\n"
       "User: {problem}\n"
       "Assistant: <think>")


TEMPLATES = ("boxed", "r1", "plain", "qa", "complete")
_STOPS = {"qa": ("\n",), "complete": ("\n",)}


def template_names() -> list[str]:
    """The prompt templates ``render_prompt`` accepts."""
    return list(TEMPLATES)


def template_stop(template: str) -> list[str]:
    """The texts that end a response under ``template`` besides end-of-sequence (``qa``: a newline; else none)."""
    if template not in TEMPLATES:
        raise ValueError(f"unknown prompt template {template!r}; choose one of {template_names()}")
    return list(_STOPS.get(template, ()))


def _has_chat_template(tokenizer: Any) -> bool:
    return tokenizer is not None and bool(getattr(tokenizer, "chat_template", None)) and hasattr(
        tokenizer, "apply_chat_template")


def render_prompt(tokenizer: Any, problem: str, template: str = "boxed", answer_prefix: str | None = None) -> str:
    """The prompt text for ``problem`` under ``template`` (see the module docstring); ``answer_prefix``: the start of
    the answer that the ``complete`` template ends with (a row's ``answer_prefix``).

    ``tokenizer`` may be None (then ``boxed`` falls back to ``plain``). The returned text already contains any
    special tokens of the chat template; encode it with ``add_special_tokens=False``.
    """
    if template not in TEMPLATES:
        raise ValueError(f"unknown prompt template {template!r}; choose one of {template_names()}")
    if not isinstance(problem, str) or not problem.strip():
        raise ValueError(f"render_prompt: problem must be a non-empty string, got {problem!r}")
    problem = problem.strip()
    if template == "r1":
        return _R1.format(problem=problem)
    if template == "qa":
        return f"Question: {problem}\nAnswer:"
    if template == "complete":
        if not isinstance(answer_prefix, str) or not answer_prefix.strip():
            raise ValueError("the 'complete' template needs rows with an answer_prefix (the start of the answer the "
                             "model completes; arith rows have one); use the 'qa' template for other tasks")
        return f"Question: {problem}\nAnswer: {answer_prefix.strip()}"
    if template == "boxed" and _has_chat_template(tokenizer):
        messages = [{"role": "user", "content": f"{problem}\n{BOXED_INSTRUCTION}"}]
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        if not isinstance(text, str):  # some tokenizers return a list when given one conversation
            text = text[0]
        return text
    return f"Question: {problem}\n{BOXED_INSTRUCTION}\nAnswer:"
