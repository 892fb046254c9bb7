"""Worker for tests/test_fsdp.py: a few optimiser steps of zoo objectives on tiny-random, as one process or as one
rank of a torchrun job with FSDP2 (harness.training.distributed), on a fixed synthetic batch.

    PYTHONPATH=. torchrun --nproc_per_node=2 tests/fsdp_worker.py --out DIR/sharded --save-after 1
    PYTHONPATH=. python tests/fsdp_worker.py --out DIR/single [--resume-from DIR/sharded]

Each rank takes rows rank, rank + W, ... of the batch and normalises its loss by the whole batch's token and sequence
counts times W (FSDP2 averages gradients over ranks), so W ranks compute the gradient of the one big batch. Rank 0
writes DIR/<algo>.json (per-step losses and gradient norms, parameter and optimiser-state elements per rank) and
DIR/<algo>.pt (the full parameters after the last step, policy and critic). With --save-after K the job writes a DCP
checkpoint after step K (DIR/<algo>.dcp); --resume-from runs each objective twice in this process: from scratch into
DIR/<algo>.*, and resumed from that checkpoint into DIR/resumed/<algo>.*.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

import algorithms
from harness import models
from harness.training import distributed

B, PROMPT, RESPONSE = 8, 5, 7
LR, CRITIC_LR, GRAD_CLIP = 1e-5, 1e-5, 1.0


def _batch(vocab: int):
    g = torch.Generator().manual_seed(1234)
    ids = torch.randint(0, vocab, (B, PROMPT + RESPONSE), generator=g)
    lengths = torch.tensor([7, 5, 6, 3, 7, 4, 2, 6])
    mask = torch.arange(RESPONSE)[None, :] < lengths[:, None]
    advantages = torch.randn(B, 1, generator=g).expand(B, RESPONSE).contiguous()
    returns = torch.randn(B, RESPONSE, generator=g)
    return ids, mask, advantages, returns


def _logp(model, ids):
    logits = model(input_ids=ids, use_cache=False).logits[:, PROMPT - 1:-1].float()
    return algorithms.logprobs_from_logits(logits, ids[:, PROMPT:])


def _optimizer(params, lr):
    return torch.optim.AdamW(params, lr=lr, weight_decay=0.0)


def _optim_tensors(optimizer):
    return [v for state in optimizer.state.values() for v in state.values() if isinstance(v, torch.Tensor)
            and v.dim() > 0]


def _build(algo, info):
    """Policy (and critic), sharded over the ranks, with their AdamW optimisers, dropout off."""
    torch.manual_seed(0)
    policy, _ = models.load_policy("tiny-random", dtype="float32")
    critic = models.load_critic("tiny-random", dtype="float32") if algo.needs_critic else None
    for module in (policy, critic):
        if module is not None:
            module.train()
            for m in module.modules():
                if isinstance(m, torch.nn.Dropout):
                    m.p = 0.0
    policy = distributed.wrap_model(policy, info, fsdp=True)
    critic = distributed.wrap_model(critic, info, fsdp=True) if critic is not None else None
    optimizer = _optimizer(list(policy.parameters()), LR)
    critic_opt = _optimizer(list(critic.parameters()), CRITIC_LR) if critic is not None else None
    return policy, critic, optimizer, critic_opt


def run(algo_name: str, info, args, out: Path, resume_from: str = "") -> dict:
    algo = algorithms.get(algo_name, kl_coef=0.0) if algo_name != "ppo" else algorithms.get(algo_name)
    policy, critic, optimizer, critic_opt = _build(algo, info)
    modules = {"policy": policy} | ({"critic": critic} if critic is not None else {})
    optims = {"policy": (policy, optimizer)} | ({"critic": (critic, critic_opt)} if critic is not None else {})
    start = 0
    if resume_from:
        state = json.loads((Path(resume_from) / f"{algo_name}.state.json").read_text())
        start = state["step"]
        distributed.load_sharded(Path(resume_from) / f"{algo_name}.dcp", modules, optims)

    ids, mask, advantages, returns = _batch(policy.config.vocab_size)
    rows = slice(info.rank, None, info.world_size)
    tokens, seqs = algorithms.count_tokens_and_seqs(mask)
    # a fixed, step-dependent shift of the behaviour policy so that ratios leave 1 and the clip regions are visited
    shifts = [0.3 * torch.sin(torch.arange(B * RESPONSE, dtype=torch.float32).reshape(B, RESPONSE) + s)[rows]
              for s in range(args.steps)]
    ids, mask, advantages, returns = ids[rows], mask[rows], advantages[rows], returns[rows]
    record = {"world_size": info.world_size, "steps": [], "start": start}
    for step in range(start, args.steps):
        with torch.no_grad():
            old_logp = _logp(policy, ids) + shifts[step]
        logp = _logp(policy, ids)
        loss, metrics = algo.loss(logp=logp, old_logp=old_logp, advantages=advantages, mask=mask,
                                  global_tokens=tokens, global_seqs=seqs)
        optimizer.zero_grad(set_to_none=True)
        (loss * info.world_size).backward()
        entry = {"loss": distributed.all_reduce_sum({"v": float(loss.detach())})["v"],
                 "grad_norm": distributed.clip_grad_norm(list(policy.parameters()), GRAD_CLIP)}
        entry["clipped_norm"] = distributed.clip_grad_norm(list(policy.parameters()), 0.0)   # measure only
        optimizer.step()
        if critic is not None:
            values = critic(input_ids=ids)[:, PROMPT - 1:-1]
            vloss, _ = algo.value_loss(values=values, old_values=values.detach() + 0.1, returns=returns, mask=mask,
                                       global_tokens=tokens, global_seqs=seqs)
            critic_opt.zero_grad(set_to_none=True)
            (vloss * info.world_size).backward()
            entry["value_loss"] = distributed.all_reduce_sum({"v": float(vloss.detach())})["v"]
            entry["critic_grad_norm"] = distributed.clip_grad_norm(list(critic.parameters()), GRAD_CLIP)
            critic_opt.step()
        record["steps"].append(entry)
        if args.save_after and step + 1 == args.save_after:
            distributed.save_sharded(out / f"{algo_name}.dcp", modules, optims)
            if info.is_main:
                (out / f"{algo_name}.state.json").write_text(json.dumps({"step": step + 1}))
    record["local_param_numel"] = distributed.local_numel(policy.parameters())
    record["local_optim_numel"] = distributed.local_numel(_optim_tensors(optimizer))
    record["sharded"] = distributed.is_sharded(policy)
    params = {f"policy.{k}": v for k, v in distributed.full_state_dict(policy, cpu=True).items()}
    if critic is not None:
        params |= {f"critic.{k}": v for k, v in distributed.full_state_dict(critic, cpu=True).items()}
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        torch.save(params, out / f"{algo_name}.pt")
        (out / f"{algo_name}.json").write_text(json.dumps(record))
    return record


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--algos", default="grpo,ce-gppo,ppo")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--save-after", type=int, default=0)
    parser.add_argument("--resume-from", default="")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    info = distributed.init(device="cpu")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    try:
        for name in args.algos.split(","):
            run(name, info, args, Path(args.out))
            if args.resume_from:
                run(name, info, args, Path(args.out) / "resumed", resume_from=args.resume_from)
    finally:
        distributed.shutdown()


if __name__ == "__main__":
    main()
