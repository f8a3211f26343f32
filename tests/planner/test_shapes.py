"""Model catalog and shape resolution: exact parameter counts, aliases, config.json, generic fallback."""

import json

import pytest

from tunecost.planner.errors import UserError
from tunecost.planner.model.shapes import catalog, catalog_computed_params, resolve_shape
from tunecost.planner.spec import TrainSpec
from tunecost.planner.model.targets import parse_targets

COMPUTED = catalog_computed_params()


def test_catalog_ships_all_51_models_with_sources():
    shapes = catalog()
    assert len(shapes) == 51
    assert all(s.source.startswith("catalog: ") and len(s.source) > 20 for s in shapes)


@pytest.mark.parametrize("shape", catalog(), ids=lambda s: s.name)
def test_total_params_equals_computed_params_exactly(shape):
    got = shape.total_params()
    assert got == COMPUTED[shape.name], (
        f"{shape.name}: total_params {got:,} != computed {COMPUTED[shape.name]:,} "
        f"(published {shape.published_params_b}B)")


def test_moe_active_params_match_published():
    by = {s.name: s for s in catalog()}
    assert by["mistralai/Mixtral-8x7B-v0.1"].active_params() / 1e9 == pytest.approx(12.9, abs=0.05)
    assert by["Qwen/Qwen3-30B-A3B"].active_params() / 1e9 == pytest.approx(3.3, abs=0.06)


@pytest.mark.parametrize("name,expected", [
    ("Llama-3.1-8B", "meta-llama/Llama-3.1-8B"),
    ("meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B"),
    ("META-LLAMA/LLAMA-3.1-8B", "meta-llama/Llama-3.1-8B"),
    ("google/gemma-3-4b-it", "google/gemma-3-4b-pt"),
    ("Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-7B"),
    ("mistralai/Mistral-7B-Instruct-v0.3", "mistralai/Mistral-7B-v0.3"),
    ("Llama-2-7b-chat-hf", "meta-llama/Llama-2-7b-hf"),
])
def test_catalog_ids_and_variants_resolve_to_the_base_shape(name, expected):
    assert resolve_shape(TrainSpec(model=name)).name == expected


def test_unknown_model_suggests_close_names():
    with pytest.raises(UserError, match=r"unknown model 'Llama-3.1-9B'; did you mean .*Llama-3.1-8B.*--params"):
        resolve_shape(TrainSpec(model="Llama-3.1-9B"))


def test_params_gives_a_generic_shape_of_that_size_and_says_so():
    shape = resolve_shape(TrainSpec(params_b=7))
    assert shape.total_params() / 1e9 == pytest.approx(7, rel=0.05)
    assert "generic dense shape for --params 7B" in shape.source and "assumed" in shape.source


def _llama_cfg(**extra):
    cfg = {"model_type": "llama", "hidden_size": 2048, "num_hidden_layers": 16, "num_attention_heads": 32,
           "num_key_value_heads": 8, "intermediate_size": 8192, "vocab_size": 128256, "tie_word_embeddings": True}
    return {**cfg, **extra}


def test_config_json_file_or_folder_gives_the_catalog_count(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(_llama_cfg()))
    for where in (tmp_path, tmp_path / "config.json"):
        shape = resolve_shape(TrainSpec(model=str(where)))
        assert shape.total_params() == COMPUTED["meta-llama/Llama-3.2-1B"]
        assert shape.source.startswith("config.json: ")


def test_nested_text_config_and_qwen2_bias(tmp_path):
    gemma = {"model_type": "gemma3", "text_config": {
        "model_type": "gemma3_text", "hidden_size": 2560, "num_hidden_layers": 34, "num_attention_heads": 8,
        "num_key_value_heads": 4, "head_dim": 256, "intermediate_size": 10240}}
    (tmp_path / "config.json").write_text(json.dumps(gemma))
    assert resolve_shape(TrainSpec(model=str(tmp_path))).total_params() == COMPUTED["google/gemma-3-4b-pt"]
    qwen = {"model_type": "qwen2", "hidden_size": 896, "num_hidden_layers": 24, "num_attention_heads": 14,
            "num_key_value_heads": 2, "intermediate_size": 4864, "vocab_size": 151936, "tie_word_embeddings": True}
    (tmp_path / "config.json").write_text(json.dumps(qwen))
    assert resolve_shape(TrainSpec(model=str(tmp_path))).total_params() == COMPUTED["Qwen/Qwen2.5-0.5B"]


def test_bad_config_json_is_one_clear_user_error(tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text("{not json")
    with pytest.raises(UserError, match="cannot read .* as JSON"):
        resolve_shape(TrainSpec(model=str(bad)))
    bad.write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(UserError, match="lacks hidden_size"):
        resolve_shape(TrainSpec(model=str(bad)))


def test_target_strings():
    assert parse_targets("all-linear") == {"q", "k", "v", "o", "gate", "up", "down"}
    assert parse_targets("attention") == {"q", "k", "v", "o"}
    assert parse_targets("q_proj, v_proj") == parse_targets("q,v") == {"q", "v"}
    with pytest.raises(UserError, match="unknown LoRA target 'qq'"):
        parse_targets("q,qq")
