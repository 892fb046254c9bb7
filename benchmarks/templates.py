"""Prompt templates: how a problem becomes the text a model continues.

* ``boxed`` (default): the model's own chat template (``tokenizer.apply_chat_template`` with
  ``add_generation_prompt=True``) around one user turn that asks for step-by-step reasoning and the final answer in
  ``\\boxed{}``. A tokenizer without a chat template (a base model) gets the ``plain`` text instead.
* ``r1``: an R1-style thinking prompt as plain text (no chat template): the assistant is told to reason inside
  ``<think> ... </think>`` and then state the final answer in ``\\boxed{}``; the prompt ends with ``<think>`` so the
  model starts thinking at once.
* ``plain``: a plain-text question/answer prompt with the same ``\\boxed{}`` instruction.
"""
from __future__ import annotations

from typing import Any

__all__ = ["render_prompt", "template_names", "BOXED_INSTRUCTION", "TEMPLATES"]

BOXED_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."

_R1 = ("A conversation between a User and an Assistant. The User asks a question and the Assistant solves it. "
       "The Assistant first thinks about the reasoning process step by step inside <think> </think> tags, then "
       "gives the final answer within \\boxed{{}} after the closing tag.\n"
       "User: {problem}\n"
       "Assistant: <think>")


TEMPLATES = ("boxed", "r1", "plain")


def template_names() -> list[str]:
    """The prompt templates ``render_prompt`` accepts."""
    return list(TEMPLATES)


def _has_chat_template(tokenizer: Any) -> bool:
    return tokenizer is not None and bool(getattr(tokenizer, "chat_template", None)) and hasattr(
        tokenizer, "apply_chat_template")


def render_prompt(tokenizer: Any, problem: str, template: str = "boxed") -> str:
    """The prompt text for ``problem`` under ``template`` (see the module docstring).

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
    if template == "boxed" and _has_chat_template(tokenizer):
        messages = [{"role": "user", "content": f"{problem}\n{BOXED_INSTRUCTION}"}]
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        if not isinstance(text, str):  # some tokenizers return a list when given one conversation
            text = text[0]
        return text
    return f"Question: {problem}\n{BOXED_INSTRUCTION}\nAnswer:"
