"""Which prompts a step trains on and the scored groups of responses to them.

* `PromptSampler`: the task's rows in a seeded order (the same for every algorithm given the seed; the comparison
  harness relies on "same prompts in the same order"), with a position a checkpoint stores.
* `GroupCollector.collect`: draws ``prompts_per_step`` prompts (rank r of W takes prompts r, r + W, ...), samples
  ``responses_per_prompt`` responses per prompt with seeds from (seed, step, round, position), scores them and
  returns `ScoredGroup`s; with dynamic sampling (DAPO) groups whose rewards are all equal are dropped and more prompts
  are drawn, at most ``dynamic_sampling_max_rounds`` rounds.
"""
from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np

from harness.training import distributed
from harness.training.config import TrainConfig, TrainingError
from rewards.cost import BATCH_TIMEOUT_REASON

__all__ = ["PromptSampler", "ScoredGroup", "Collected", "RolloutScorer", "GroupCollector", "seed_for",
           "seed_everything", "prompt_text"]


class PromptSampler:
    """A seeded stream of row indices: a permutation per pass over the data (or file order), with a position that a
    checkpoint stores so that a resumed run continues with exactly the next prompt."""

    def __init__(self, n_rows: int, seed: int, shuffle: bool = True):
        if n_rows < 1:
            raise TrainingError("the training task has no rows; check task, split and task_params")
        self.n_rows, self.seed, self.shuffle = n_rows, seed, shuffle
        self.epoch, self.pos = 0, 0
        self._order = self._make_order()

    def _make_order(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.n_rows)
        return np.random.default_rng([self.seed, self.epoch, 0x5EED]).permutation(self.n_rows)

    def draw(self, k: int) -> list[int]:
        out = []
        while len(out) < k:
            if self.pos >= self.n_rows:
                self.epoch, self.pos = self.epoch + 1, 0
                self._order = self._make_order()
            take = min(k - len(out), self.n_rows - self.pos)
            out.extend(int(i) for i in self._order[self.pos:self.pos + take])
            self.pos += take
        return out

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "pos": self.pos, "n_rows": self.n_rows}

    def load_state_dict(self, state: dict) -> None:
        if int(state["n_rows"]) != self.n_rows:
            raise TrainingError(f"the checkpoint was written for a task with {state['n_rows']} rows, this one has "
                                f"{self.n_rows}; resume with the same task, split and task_params")
        self.epoch, self.pos = int(state["epoch"]), int(state["pos"])
        self._order = self._make_order()


def prompt_text(row: dict, tokenizer, template: str) -> str:
    """The prompt text of a task row: its ready ``prompt`` string, else its problem in ``template``."""
    if isinstance(row.get("prompt"), str):
        return row["prompt"]
    from benchmarks import render_prompt

    return render_prompt(tokenizer, row["problem"], template, answer_prefix=row.get("answer_prefix"))


def template_stop_ids(tokenizer, template: str) -> tuple[int, ...]:
    """The token ids that end a response under ``template`` besides end-of-sequence (``benchmarks.template_stop``)."""
    from benchmarks import template_stop
    from harness.rollout import stop_token_ids_for

    return stop_token_ids_for(tokenizer, template_stop(template))


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and random (initialisation of new heads, anything else drawing from the global RNGs)."""
    import random

    import torch

    torch.manual_seed(seed)
    np.random.seed(seed % (2 ** 32))
    random.seed(seed)


def seed_for(*parts: int) -> int:
    """A 31-bit seed mixed from integers (numpy's SeedSequence)."""
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(1)[0]) & 0x7FFFFFFF


@dataclass
class ScoredGroup:
    """The responses to one prompt: ``rollouts`` (harness.rollout.Rollout), their reward ``scores`` and whether each
    counts as ``correct``; ``row`` is the prompt's row, ``uid`` its group id within the step (for the advantage
    estimator); ``baseline`` the reward of one greedy response to the prompt, drawn only for estimators that need it
    (remax)."""
    row: int
    uid: int
    rollouts: list
    scores: list[float]
    correct: list[bool]
    baseline: float | None = None

    @property
    def constant(self) -> bool:
        """All rewards equal: no learning signal for group-relative advantages (dynamic sampling drops it)."""
        return max(self.scores) - min(self.scores) == 0


@dataclass
class Collected:
    """This rank's groups for the step and what was sampled to get them. ``seen`` holds every scored group (kept,
    dropped and surplus), for the rollout statistics; ``spare`` is one dropped group (a rank left without groups
    trains on it with weight 0, so that it still joins the gradient synchronisation)."""
    groups: list[ScoredGroup] = field(default_factory=list)
    seen: list[ScoredGroup] = field(default_factory=list)
    spare: ScoredGroup | None = None
    kept: int = 0
    dropped: int = 0
    rounds: int = 0
    gen_time: float = 0.0
    deadline_cut: int = 0      # responses the checker did not reach within the reward's batch deadline


class RolloutScorer:
    """Scores rollouts with the training reward (``rewards.training_reward``), or with a user callable whose values
    then get the same rules (empty response, overlong punishment). A user reward is an object with
    ``batch(golds, responses, num_tokens)`` (like ``rewards.RewardFn``) or a callable ``fn(golds, rollouts)``; with it
    a response counts as correct when its reward is > 0."""

    def __init__(self, reward, custom=None):
        self.reward, self.custom = reward, custom

    def score(self, golds: list[str], rollouts: list) -> list:
        from rewards import Scored

        texts = [r.text for r in rollouts]
        lengths = [len(r.response_ids) for r in rollouts]
        if self.custom is None:
            return self.reward.score(golds, texts, lengths)
        raw = self.custom.batch(golds, texts, lengths) if hasattr(self.custom, "batch") else \
            self.custom(golds, rollouts)
        raw = list(raw)
        if len(raw) != len(rollouts):
            raise TrainingError(f"the reward function returned {len(raw)} values for {len(rollouts)} responses; it "
                                f"must return one per response")
        values = [float(getattr(x, "value", x)) for x in raw]
        scored = [Scored(v, v > 0, str(getattr(x, "reason", ""))) for v, x in zip(values, raw)]
        return self.reward.shape(golds, texts, lengths, scored)


class GroupCollector:
    """Samples and scores the groups of a step (module notes)."""

    def __init__(self, cfg: TrainConfig, engine, rows: list[dict], tokenizer, scorer: RolloutScorer,
                 sampler: PromptSampler, dist, dynamic: bool, greedy_baseline: bool = False):
        self.cfg, self.engine, self.rows, self.tokenizer = cfg, engine, rows, tokenizer
        self.scorer, self.sampler, self.dist, self.dynamic = scorer, sampler, dist, dynamic
        self.greedy_baseline = greedy_baseline
        self.stop_ids = template_stop_ids(tokenizer, cfg.template)
        self._prompts: dict[int, str] = {}
        self.timer = None

    def prompt(self, index: int) -> str:
        """The prompt text of a row: its ready ``prompt`` string, else its problem in the config's template."""
        if index not in self._prompts:
            self._prompts[index] = prompt_text(self.rows[index], self.tokenizer, self.cfg.template)
        return self._prompts[index]

    def generate(self, indices: list[int], step: int, round_: int, offset: int) -> list:
        """Rollouts for the given row indices, grouped by prompt; seeded by (seed, step, round, global position)."""
        from harness.rollout import Sampling

        cfg = self.cfg
        per_call = cfg.rollout_batch_prompts or max(1, len(indices))
        out = []
        for start in range(0, len(indices), per_call):
            chunk = indices[start:start + per_call]
            # offset: position of indices[0] in the step's global prompt list (identical across world sizes when
            # rollout_batch_prompts == 1)
            global_pos = offset + start * (self.dist.world_size if cfg.rollout_batch_prompts else 1)
            sampling = Sampling(n=cfg.responses_per_prompt, max_new_tokens=cfg.max_new_tokens,
                                temperature=cfg.temperature, top_p=cfg.top_p,
                                seed=seed_for(cfg.seed, step, round_, global_pos), stop_token_ids=self.stop_ids)
            out.extend(self.engine.generate([self.prompt(i) for i in chunk], sampling))
        return out

    def _phase(self, name: str):
        """The step timer's phase ``name`` (harness.timing), or nothing when no timer was given."""
        return self.timer.phase(name) if self.timer is not None else nullcontext()

    def _round(self, step: int, round_: int, mine: list[int], out: Collected) -> list[ScoredGroup]:
        """Sample and score one round of this rank's prompts."""
        G = self.cfg.responses_per_prompt
        t0 = time.perf_counter()
        with self._phase("rollout"):
            rollouts = self.generate(mine, step, round_, self.dist.rank)
        out.gen_time += time.perf_counter() - t0
        golds = [str(self.rows[i]["answer"]) for i in mine for _ in range(G)]
        with self._phase("reward"):
            scored = self.scorer.score(golds, rollouts)
        out.deadline_cut += sum(s.reason == BATCH_TIMEOUT_REASON for s in scored)
        out.rounds += 1
        baselines = self._greedy_baselines(mine, out) if self.greedy_baseline else [None] * len(mine)
        return [ScoredGroup(row=row, uid=round_ * self.cfg.prompts_per_step + g, rollouts=rollouts[g * G:(g + 1) * G],
                            scores=[s.value for s in scored[g * G:(g + 1) * G]],
                            correct=[s.correct for s in scored[g * G:(g + 1) * G]], baseline=baselines[g])
                for g, row in enumerate(mine)]

    def _greedy_baselines(self, mine: list[int], out: Collected) -> list[float]:
        """The reward of one greedy (temperature 0) response per prompt: ReMax's baseline (Li et al. 2023)."""
        from harness.rollout import Sampling

        t0 = time.perf_counter()
        with self._phase("rollout"):
            greedy = self.engine.generate([self.prompt(i) for i in mine],
                                          Sampling(n=1, max_new_tokens=self.cfg.max_new_tokens, temperature=0.0,
                                                   stop_token_ids=self.stop_ids))
        out.gen_time += time.perf_counter() - t0
        with self._phase("reward"):
            return [s.value for s in self.scorer.score([str(self.rows[i]["answer"]) for i in mine], greedy)]

    def collect(self, step: int, max_rounds: int | None = None, timer=None) -> Collected:
        """This rank's groups for the step, after dynamic sampling (module notes); ``max_rounds`` (>= 1) caps the
        rounds of this step below ``dynamic_sampling_max_rounds`` (the trainer's equal-rollouts budget). ``timer``:
        the step's `harness.timing.PhaseTimer`, which gets the generation as ``rollout`` and the scoring
        as ``reward``."""
        cfg, W = self.cfg, self.dist.world_size
        self.timer = timer
        target = cfg.prompts_per_step // W
        out = Collected()
        rounds = cfg.dynamic_sampling_max_rounds if self.dynamic else 1
        if max_rounds is not None:
            rounds = max(1, min(rounds, max_rounds))
        for round_ in range(rounds):
            global_idx = self.sampler.draw(cfg.prompts_per_step)
            if target - len(out.groups) > 0:
                for group in self._round(step, round_, global_idx[self.dist.rank::W], out):
                    out.seen.append(group)
                    if self.dynamic and group.constant:
                        out.dropped += 1
                        out.spare = out.spare or group
                    elif len(out.groups) < target:
                        out.groups.append(group)
                        out.kept += 1
            if not self.dynamic:
                break
            if distributed.all_reduce_max({"short": float(len(out.groups) < target)})["short"] == 0:
                break
        return out
