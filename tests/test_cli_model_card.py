"""final/README.md is a Hugging Face Hub model card: it loads with huggingface_hub.ModelCard.load, its metadata is
valid card data (checked offline: ModelCardData round trip, repo id rules of huggingface_hub), and its body holds the
objective, its hyperparameters, the budget, the held-out scores and a command that rebuilds the same TrainConfig."""
import shlex

import pytest

from harness.cli import build_parser, main

huggingface_hub = pytest.importorskip("huggingface_hub")


@pytest.mark.slow
def test_compare_run_leaves_a_valid_model_card(tmp_path, capsys):
    from huggingface_hub import ModelCard, ModelCardData
    from huggingface_hub.utils import validate_repo_id

    from harness.commands.train import build_config
    from harness.training import TrainConfig

    out = tmp_path / "cmp"
    assert main(["compare", "--preset", "tiny-test", "--algos", "ce-gppo:beta1=0.75", "--out", str(out),
                 "--no-progress", "--report-to", ""]) == 0
    capsys.readouterr()
    run_dir = next(out.glob("runs/*/seed-0"))
    card = ModelCard.load(run_dir / "final" / "README.md")
    meta = card.data.to_dict()
    assert ModelCardData(**meta).to_dict() == meta
    assert meta["library_name"] == "transformers"
    assert "rlvr-zoo" in meta["tags"] and "ce-gppo" in meta["tags"]
    assert "base_model" not in meta  # tiny-random has random weights: no Hub model it derives from
    for repo in [meta.get("base_model"), *meta.get("datasets", [])]:
        if repo:
            validate_repo_id(repo)
    text = card.text
    assert "| beta1 (set for this run; ce-gppo's default `0.5`) | `0.75` |" in text
    assert "| beta2 (ce-gppo's own setting) | `1.0` |" in text
    assert "| steps | 2 |" in text
    assert "## Held-out scores" in text and "| arith | 4 | 2 |" in text
    # the command rebuilds the run's TrainConfig
    command = text.split("```bash\n", 1)[1].split("\n```", 1)[0]
    argv = shlex.split(command)[1:]
    args = build_parser().parse_args(argv)
    rebuilt = build_config(args).to_dict()
    import json

    saved = json.loads((run_dir / "run.json").read_text())["config"]
    for key, value in saved.items():
        if key not in ("out_dir",):
            assert rebuilt[key] == value, key
    assert isinstance(TrainConfig.from_dict(saved), TrainConfig)


def test_base_model_and_dataset_metadata():
    from harness.training import model_card

    assert model_card._base_model("smollm2-135m") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert model_card._base_model("Qwen/Qwen2.5-Math-1.5B") == "Qwen/Qwen2.5-Math-1.5B"
    assert model_card._base_model("tiny-random") is None
    assert model_card._dataset("gsm8k") == "openai/gsm8k"
    assert model_card._dataset("arith") is None
