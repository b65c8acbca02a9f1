"""Trainer pieces that need no model: config parsing, the schedule, mixture prompts."""

from __future__ import annotations

import time

import pytest

torch = pytest.importorskip("torch")

from zeroshot.engines.gliner_data import PromptPool  # noqa: E402
from zeroshot.training.mixture import Mixture  # noqa: E402
from zeroshot.training.trainer import (  # noqa: E402
    TrainConfig,
    _Clock,
    _lr_lambda,
    dataset_from_mixture,
)


def test_config_rejects_unknown_options_and_merges_gliner_config():
    cfg = TrainConfig.from_dict({"labels_per_prompt": [5, 9], "gliner_config": {"max_len": 384}})
    assert cfg.labels_per_prompt == (5, 9)
    assert cfg.gliner_config["max_len"] == 384 and cfg.gliner_config["span_mode"] == "markerV0"
    with pytest.raises(ValueError, match=r"unknown training options \['lr'\]"):
        TrainConfig.from_dict({"lr": 1e-4})


def test_step_schedule_warms_up_then_decays_to_zero():
    f = _lr_lambda(TrainConfig(warmup_ratio=0.1), 100, _Clock(None))
    assert f(0) == pytest.approx(1e-3) and f(5) == pytest.approx(0.5)
    assert f(10) == pytest.approx(1.0) and f(55) == pytest.approx(0.5) and f(100) == 0.0


def test_time_schedule_follows_the_clock():
    clock = _Clock(100.0)
    f = _lr_lambda(TrainConfig(warmup_ratio=0.0), 10**9, clock)
    assert f(0) == 1.0  # the clock has not started
    clock.start = time.perf_counter() - 50
    assert f(3) == pytest.approx(0.5, abs=0.01)
    clock.start = time.perf_counter() - 150
    assert f(3) == 0.0 and clock.fraction() == 1.0


def test_extra_parents_are_added_to_the_named_pool_only():
    pools = {"fn": PromptPool(own=("politician", "company", "organization"),
                              parents={"company": ("organization",)}),
             "other": PromptPool(own=("politician",))}
    records = [{"tokenized_text": ["Obama"], "ner": [[0, 0, "politician"]], "pool": "fn",
                "id": "x", "repeat": 1}]
    mixture = Mixture(records, pools, {})
    cfg = TrainConfig(extra_parents={"fn": {"person": ["politician"]}}, labels_per_prompt=(3, 3))
    ds = dataset_from_mixture(mixture, cfg)
    assert ds.pools["fn"].parents == {"company": ("organization",), "politician": ("person",)}
    assert ds.pools["other"].parents == {}
    assert ds[0]["ner_negatives"][0] == "person"
    with pytest.raises(ValueError, match="is not a label of fn"):
        dataset_from_mixture(mixture, TrainConfig(extra_parents={"fn": {"person": ["actor"]}}))
    with pytest.raises(ValueError, match="exceeds the model's max_types"):
        dataset_from_mixture(mixture, TrainConfig(labels_per_prompt=(15, 30)))


def test_dev_evaluation_leaves_a_training_model_fp32_and_in_train_mode(caplog):
    import os

    if not os.environ.get("CI"):
        pytest.importorskip("gliner")
    from zeroshot.core.loaders import Example
    from zeroshot.core.schema import Schema
    from zeroshot.core.text import TokenizedText
    from zeroshot.engines.gliner import default_model_path, load_gliner
    from zeroshot.training.devsets import DevSet
    from zeroshot.training.trainer import _dev_eval

    model = load_gliner(default_model_path()).float()
    model.train()
    tok = TokenizedText.from_tokens(["Serena", "Williams", "won", "in", "Paris", "."])
    dev = DevSet("d", (Example("0", tok, ()),), Schema.load("fewnerd_inter_test"))
    scores = _dev_eval(model, [dev], TrainConfig(), "cpu", None)
    assert scores["sets"]["d"]["sentences"] == 1
    assert {p.dtype for p in model.parameters()} == {torch.float32} and model.training
    # an engine that casts the weights (fp16 is its CUDA default) is undone, with a warning
    _dev_eval(model, [dev], TrainConfig(eval_dtype="bfloat16"), "cpu", None)
    assert {p.dtype for p in model.parameters()} == {torch.float32} and model.training
    assert "cast the weights" in caplog.text


def test_bi_encoder_batches_keep_each_examples_own_labels(tiny_bi_encoder):
    from zeroshot.engines.gliner import load_gliner
    from zeroshot.training.trainer import per_example_labels

    model = load_gliner(str(tiny_bi_encoder))
    per_example_labels(model)
    batch = model._create_data_collator()([
        {"tokenized_text": ["Ada", "met", "Bob", "in", "Paris"],
         "ner": [[0, 0, "person"], [4, 4, "city"]], "ner_labels": ["person", "city", "river"]},
        {"tokenized_text": ["Acme", "sells", "aspirin"],
         "ner": [[0, 0, "company"], [2, 2, "drug"]], "ner_labels": ["drug", "company"]}])
    # the batch's five distinct labels are encoded once and gathered per example: the
    # second sentence is not scored against "person", "city" or "river"
    assert batch["labels_input_ids"].size(0) == 5
    assert batch["labels_gather_indices"].tolist() == [[0, 1, 2], [3, 4, 0]]
    assert batch["prompts_embedding_mask"].tolist() == [[True, True, True],
                                                        [True, True, False]]
    assert batch["labels"].sum(dim=(1, 2)).tolist() == [2.0, 2.0]
    model.train()
    tensors = {k: v for k, v in batch.items() if isinstance(v, torch.Tensor)}
    assert torch.isfinite(model.model(**tensors).loss)


def test_init_from_copies_matching_weights_and_shared_embedding_rows(tiny_bi_encoder, caplog):
    import logging

    from zeroshot.engines.gliner import load_gliner
    from zeroshot.training.trainer import copy_matching_weights

    src, dst = load_gliner(str(tiny_bi_encoder)), load_gliner(str(tiny_bi_encoder))
    with torch.no_grad():
        for p in dst.model.parameters():
            p.zero_()
    name = "token_rep_layer.bert_layer.model.embeddings.word_embeddings.weight"
    dst.model.token_rep_layer.bert_layer.model.embeddings.word_embeddings.weight = \
        torch.nn.Parameter(torch.zeros(10, 384))  # fewer rows than the init's table
    with caplog.at_level(logging.INFO, logger="zeroshot.training.trainer"):
        counts = copy_matching_weights(src, dst)
    assert counts["rows"] == 1 and counts["copied"] == len(dst.model.state_dict()) - 1
    assert torch.equal(dst.model.state_dict()[name], src.model.state_dict()[name][:10])
    assert "init_from:" in caplog.text
