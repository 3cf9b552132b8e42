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
from ecr_lab.ecr_model import ECRModel  # noqa: E402
from ecr_lab.projection import AnchorProjector  # noqa: E402
from ecr_lab.student import embed, token_features  # noqa: E402


def make_fns(ecr_models, texts, batch_size, feature, task):
    """(plain, ecr) callables over the same pre-tokenised batches; ECR goes through ECRModel's own
    inference path (cue feature -> projection -> top-m -> prepend, in torch, cue ids kept)."""
    ecr_model = ecr_models[feature]
    model, tok = ecr_model.model, ecr_model.tokenizer
    side = "left" if task == "generate" else "right"
    tok.padding_side = side
    batches = [dict(tok(texts[i : i + batch_size], padding=True, return_tensors="pt")) for i in range(0, len(texts), batch_size)]
    batches = [{k: b[k] for k in ("input_ids", "attention_mask")} for b in batches]

    def run_model(b):
        if task == "score":
            return model(input_ids=b["input_ids"], attention_mask=b["attention_mask"])
        return model.generate(input_ids=b["input_ids"], attention_mask=b["attention_mask"], max_new_tokens=16,
                              min_new_tokens=16, do_sample=False, pad_token_id=tok.pad_token_id)

    def with_cues(b):
        if side == "right":
            return ecr_model.with_projected_cues(b)
        cues = ecr_model.cues_from_ids(b["input_ids"], b["attention_mask"])
        return prepend_cues(b, cues, tok, padding_side="left", vocab_ids=ecr_model.cue_vocab)

    @torch.no_grad()
    def plain():
        for b in batches:
            run_model(b)

    @torch.no_grad()
    def ecr():
        for b in batches:
            run_model(with_cues(b))

    return plain, ecr


def measure(label, ecr_models, texts, plan):
    rows = []
    for task, bs, n, repeats in plan:
        for feature in ecr_models:
            plain, ecr = make_fns(ecr_models, texts[:n], bs, feature, task)
            t = interleaved({"plain": plain, "ecr": ecr}, repeats=repeats)
            rows.append({"model": label, "task": task, "batch": bs, "cue_feature": feature, "texts": n,
                         "ms_per_text_plain": 1000 * t["plain"] / n, "ms_per_text_ecr": 1000 * t["ecr"] / n,
                         "ratio": t["ecr"] / t["plain"]})
    next(iter(ecr_models.values())).tokenizer.padding_side = "right"
    return rows


def breakdown(ecr_model, texts, n: int = 64, repeats: int = 7) -> dict:
    """Where ECR's time goes at batch 1 (scoring), all measured alternately in one go, ms per text:
    the plain forward; the whole ECR path; the forward on the m-longer input alone (cues
    precomputed); choosing the cues (feature + projection + top-m); prepending them."""
    tok, model = ecr_model.tokenizer, ecr_model.model
    batches = [{k: v for k, v in tok([t], return_tensors="pt").items() if k in ("input_ids", "attention_mask")}
               for t in texts[:n]]
    cued = [ecr_model.with_projected_cues(b) for b in batches]
    cues = [ecr_model.cues_from_ids(b["input_ids"], b["attention_mask"]) for b in batches]

    def loop(fn, data):
        @torch.no_grad()
        def run():
            for x in data:
                fn(x)
        return run

    t = interleaved({
        "forward": loop(lambda b: model(**b), batches),
        "ecr_path": loop(lambda b: model(**ecr_model.with_projected_cues(b)), batches),
        "forward_with_cue_positions": loop(lambda b: model(**b), cued),
        "choose_cues": loop(lambda b: ecr_model.cues_from_ids(b["input_ids"], b["attention_mask"]), batches),
        "prepend": loop(lambda bc: prepend_cues(bc[0], bc[1], tok, vocab_ids=ecr_model.cue_vocab),
                        list(zip(batches, cues, strict=True))),
    }, repeats=repeats)
    return {k: 1000 * v / n for k, v in t.items()}


def main() -> None:
    setup, run = fast_setup_and_run("ecr")
    model, tok = run.model.eval(), run.tokenizer
    train = setup.train.texts
    hidden = AnchorProjector(setup.anchors).fit(embed(model, tok, train, progress=False), setup.teacher_train)
    ecr_models = {
        "token_embeddings": run.student,
        "hidden_states": ECRModel(model, tok, setup.anchors, hidden, m=run.config.m_cues, cue_feature="hidden"),
    }
    texts = setup.test.texts
    plan = [("score", 1, 64, 5), ("score", 32, 64, 5), ("generate", 1, 8, 3), ("generate", 32, 64, 3)]
    rows = measure(f"{run.name} ({model.num_parameters():,} params)", ecr_models, texts, plan)
    parts = breakdown(run.student, texts)
    show(f"Tiny student, batch 1, scoring: where ECR's time goes (ms per text, m={run.config.m_cues})", [parts])

    # a real compact model: SmolLM2-135M with the cue tokens added (projector on 256 training rows)
    from ecr_lab.student import load_smollm2

    stok, smodel = load_smollm2()
    extend_tokenizer(stok, setup.anchors)
    extend_model(smodel, stok, anchors=setup.anchors)
    sub = train[:256]
    sproj = AnchorProjector(setup.anchors).fit(token_features(smodel, stok, sub), setup.teacher_train[:256])
    smol_ecr = {"token_embeddings": ECRModel(smodel.eval(), stok, setup.anchors, sproj, m=run.config.m_cues)}
    rows += measure("SmolLM2-135M", smol_ecr, texts, [("score", 1, 16, 3), ("score", 32, 64, 3)])
    df = show("Inference with vs without ECR (CPU)", rows)
    tokf = df[df.cue_feature == "token_embeddings"]
    smol = tokf[tokf.model == "SmolLM2-135M"]
    tiny = tokf[tokf.model != "SmolLM2-135M"]
    f = parts["forward"]
    headline(f"ECR inference overhead, token-embedding features: SmolLM2-135M {smol.ratio.min():.3f}x-{smol.ratio.max():.3f}x, "
             f"tiny student {tiny.ratio.min():.3f}x-{tiny.ratio.max():.3f}x; tiny student batch-1 scoring "
             f"{parts['ecr_path'] / f:.3f}x = m cue positions {parts['forward_with_cue_positions'] / f - 1:+.3f} + choosing "
             f"cues {parts['choose_cues'] / f:+.3f} + prepending {parts['prepend'] / f:+.3f} of a forward "
             f"(target <= 1.05x)")


if __name__ == "__main__":
    main()
