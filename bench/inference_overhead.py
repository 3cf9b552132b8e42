"""1. Inference overhead of ECR: the same student with vs without ECR (projection step + cue tokens).

Scoring (one forward pass) and generating (greedy, 16 new tokens), batch 1 and 32, with both cue
features: token embeddings (default: one embedding lookup) and hidden states (one extra forward
pass), each with its own fitted projector. Measured alternately in one process, best of several.
Also the real pretrained SmolLM2-135M (scoring). Target: <= 1.05x with token-embedding features.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import fast_setup_and_run, headline, interleaved, show  # noqa: E402

from ecr_lab.control_tokens import extend_model, extend_tokenizer, prepend_cues  # noqa: E402
from ecr_lab.projection import AnchorProjector  # noqa: E402
from ecr_lab.student import cue_features_from_ids, embed, token_features  # noqa: E402


def make_fns(model, tok, projectors, m, texts, batch_size, feature, task):
    tok.padding_side = "left" if task == "generate" else "right"
    batches = [tok(texts[i : i + batch_size], padding=True, return_tensors="pt") for i in range(0, len(texts), batch_size)]
    proj = projectors[feature]

    def run_model(b):
        if task == "score":
            return model(input_ids=b["input_ids"], attention_mask=b["attention_mask"])
        return model.generate(input_ids=b["input_ids"], attention_mask=b["attention_mask"], max_new_tokens=16,
                              min_new_tokens=16, do_sample=False, pad_token_id=tok.pad_token_id)

    @torch.no_grad()
    def plain():
        for b in batches:
            run_model(b)

    @torch.no_grad()
    def ecr():
        for b in batches:
            f = cue_features_from_ids(model, b["input_ids"], b["attention_mask"],
                                      "tokens" if feature == "token_embeddings" else "hidden")
            cues = proj.cues_torch(f, m)
            run_model(prepend_cues({"input_ids": b["input_ids"], "attention_mask": b["attention_mask"]}, cues, tok))

    return plain, ecr


def measure(label, model, tok, projectors, m, texts, plan):
    rows = []
    for task, bs, n, repeats in plan:
        for feature in projectors:
            plain, ecr = make_fns(model, tok, projectors, m, texts[:n], bs, feature, task)
            t = interleaved({"plain": plain, "ecr": ecr}, repeats=repeats)
            rows.append({"model": label, "task": task, "batch": bs, "cue_feature": feature, "texts": n,
                         "ms_per_text_plain": 1000 * t["plain"] / n, "ms_per_text_ecr": 1000 * t["ecr"] / n,
                         "ratio": t["ecr"] / t["plain"]})
    tok.padding_side = "right"
    return rows


def main() -> None:
    setup, run = fast_setup_and_run("ecr")
    model, tok = run.model.eval(), run.tokenizer
    train = setup.train.texts
    projectors = {
        "token_embeddings": run.projector,
        "hidden_states": AnchorProjector(setup.anchors).fit(embed(model, tok, train, progress=False), setup.teacher_train),
    }
    texts = setup.test.texts
    plan = [("score", 1, 64, 5), ("score", 32, 64, 5), ("generate", 1, 8, 3), ("generate", 32, 64, 3)]
    rows = measure(f"{run.name} ({model.num_parameters():,} params)", model, tok, projectors, run.config.m_cues, texts, plan)

    # a real compact model: SmolLM2-135M with the cue tokens added (projector on 256 training rows)
    from ecr_lab.student import load_smollm2

    stok, smodel = load_smollm2()
    extend_tokenizer(stok, setup.anchors)
    extend_model(smodel, stok, anchors=setup.anchors)
    sub = train[:256]
    sproj = {"token_embeddings": AnchorProjector(setup.anchors).fit(token_features(smodel, stok, sub), setup.teacher_train[:256])}
    rows += measure("SmolLM2-135M", smodel.eval(), stok, sproj, run.config.m_cues, texts,
                    [("score", 1, 16, 3), ("score", 32, 64, 3)])
    df = show("Inference with vs without ECR (CPU)", rows)
    tokf = df[df.cue_feature == "token_embeddings"]
    smol = tokf[tokf.model == "SmolLM2-135M"]
    headline(f"ECR inference overhead, token-embedding features: SmolLM2-135M {smol.ratio.min():.3f}x-{smol.ratio.max():.3f}x, "
             f"tiny student {tokf[tokf.model != 'SmolLM2-135M'].ratio.min():.3f}x-{tokf[tokf.model != 'SmolLM2-135M'].ratio.max():.3f}x "
             f"(target <= 1.05x)")


if __name__ == "__main__":
    main()
