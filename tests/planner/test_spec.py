"""TrainSpec refuses impossible values at the door."""

import pytest
from pydantic import ValidationError

from tunecost.planner.errors import from_validation
from tunecost.planner.spec import DatasetSize, Method, TrainSpec


def test_defaults_follow_common_practice():
    spec = TrainSpec(model="meta-llama/Llama-3.1-8B", rank=8)
    assert spec.method is Method.qlora
    assert spec.lora_alpha == 16
    assert spec.train_tokens == 10_000_000


@pytest.mark.parametrize("field,value", [("rank", 0), ("seq_len", -1), ("epochs", 0), ("micro_batch", 0)])
def test_impossible_values_are_refused_in_one_line(field, value):
    with pytest.raises(ValidationError) as info:
        TrainSpec(model="x", **{field: value})
    line = str(from_validation(info.value, "tunecost plan"))
    assert field in line and "\n" not in line


def test_negative_tokens_refused():
    with pytest.raises(ValidationError):
        DatasetSize(tokens_per_epoch=-5)


def test_a_model_or_a_size_is_required():
    with pytest.raises(ValidationError, match="--params"):
        TrainSpec()
