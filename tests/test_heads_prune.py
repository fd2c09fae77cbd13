"""The pruning curve against a hand-written forward with the least important heads gated off."""

import numpy as np
import pytest
import torch
import transformers

import attnviz
from attnviz.attribution import prepare
from attnviz.errors import InputError
from attnviz.heads import importance, prune_curve
from tests.test_heads import _layer

TEXTS = ["the river was bright and open", "a dog sings under the green city"]


def test_prune_curve_equals_a_hand_forward_with_those_heads_removed(tiny_model_dirs):
    path = tiny_model_dirs["bert-classifier"]
    handle = attnviz.load_model(path)
    eager = transformers.BertForSequenceClassification.from_pretrained(str(path), attn_implementation="eager").eval()
    table = importance(handle, TEXTS)
    curve = prune_curve(handle, TEXTS, table, ks=[0, 3, 8])
    assert curve["removed"].tolist() == [0, 3, 8]
    order = table.sort_values("importance", kind="stable")[["layer", "head"]].to_numpy()
    for k, expected in zip([0, 3, 8], curve["mean_f"]):
        gates = [torch.ones(4) for _ in range(2)]
        for layer, head in order[:k]:
            gates[layer][head] = 0
        values = []
        for text in TEXTS:
            ctx = prepare(handle, text, None, None)
            label = int(ctx.scorer.label.split("_")[-1])
            with torch.no_grad():
                x = eager.bert.embeddings(input_ids=ctx.input_ids, token_type_ids=ctx.token_type_ids)[0]
                for block, g in zip(eager.bert.encoder.layer, gates):
                    x = _layer(block, x, gates=g)
                values.append(float(torch.softmax(eager.classifier(eager.bert.pooler(x[None])), -1)[0, label]))
        assert expected == pytest.approx(np.mean(values), abs=1e-5)
    assert curve["kept"].iloc[0] == 1.0
    with pytest.raises(InputError):
        prune_curve(handle, TEXTS, table, ks=[9])
