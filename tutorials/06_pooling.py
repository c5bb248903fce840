# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 06 · Pooling: from token vectors to one sentence vector
#
# BERT gives one vector per token; a sentence embedding is one vector per sentence. Sentence-BERT
# gets there by *pooling* (section 3 of the paper): the mean of the token vectors, their maximum
# per dimension, or the vector of the first token, [CLS]; sentence-transformers adds
# mean-sqrt-len. This tutorial works the four out by hand on numbers you can check by eye, shows
# the bug that every pooling must avoid (padding leaking into the mean), and measures the paper's
# pooling ablation (its table 6) on the STS benchmark's dev set with the pretrained model.
#
# Read first: tutorial 01 (the inference path), then `minisbert/pooling.py` and
# `reference/pooling.py`. Needs the STS benchmark (`$MINISBERT_DATA`, see `common.py`). Runs in
# seconds with `MINISBERT_FAST=1` (200 dev pairs), in under a minute in full (1,500 pairs).

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from common import FAST, data_file, save_figure

from minisbert import SentenceEncoder
from minisbert.data import read_sts
from minisbert.evaluation import spearman
from minisbert.pooling import POOLING_FUNCTIONS, PoolingConfig, mean_sqrt_len_pooling
from minisbert.sentence_encoder import length_sorted_batches
from reference import pooling as ref
from reference.compare import TOLERANCES, assert_close, max_differences

encoder = SentenceEncoder.from_pretrained()  # all-MiniLM-L6-v2, trained with mean pooling
MODES = ("mean", "max", "cls", "mean_sqrt_len_tokens")  # sentence-transformers' names, paper's order
assert set(MODES) == set(POOLING_FUNCTIONS) == set(ref.POOLING_FUNCTIONS)
print("this model pools with", encoder.pooling.modes, "and normalises:", encoder.normalize)

# %% [markdown]
# ## 1. Four poolings, by hand
#
# A batch of two sentences, two-dimensional token vectors. Sentence A has two tokens and one
# padding position (the huge numbers, which must never count); sentence B has three tokens.
# With the mask $m_t \in \{0, 1\}$ and $n = \sum_t m_t$ real tokens:
#
# $$\text{mean: } u = \frac{1}{n}\sum_t m_t h_t \qquad
#   \text{max: } u_c = \max_{t:\, m_t = 1} h_{t,c} \qquad
#   \text{[CLS]: } u = h_0 \qquad
#   \text{mean-sqrt-len: } u = \frac{1}{\sqrt{n}}\sum_t m_t h_t = \sqrt{n}\cdot\text{mean}$$
#
# By eye: A's mean is ([1, 3] + [5, 7]) / 2 = [3, 5], its max [5, 7], its [CLS] [1, 3], its
# mean-sqrt-len [6, 10] / √2 ≈ [4.2426, 7.0711]. B's mean is [6, 9] / 3 = [2, 3], its max
# [4, 6], its [CLS] [2, 0], its mean-sqrt-len [6, 9] / √3 ≈ [3.4641, 5.1962].

# %%
hidden = torch.tensor(
    [
        [[1.0, 3.0], [5.0, 7.0], [100.0, -100.0]],  # A: two tokens, then padding
        [[2.0, 0.0], [4.0, 6.0], [0.0, 3.0]],  # B: three tokens
    ],
    dtype=torch.float64,
)  # (B, T, C) = (2, 3, 2)
mask = torch.tensor([[1, 1, 0], [1, 1, 1]])  # (B, T)
expected = {  # worked by hand above
    "mean": [[3, 5], [2, 3]],
    "max": [[5, 7], [4, 6]],
    "cls": [[1, 3], [2, 0]],
    "mean_sqrt_len_tokens": [[6 / 2**0.5, 10 / 2**0.5], [6 / 3**0.5, 9 / 3**0.5]],
}
for mode in MODES:
    u = POOLING_FUNCTIONS[mode](hidden, mask)  # (B, C)
    u_ref = ref.POOLING_FUNCTIONS[mode](hidden.numpy(), mask.numpy())  # the NumPy mirror
    print(f"{mode:22s} {np.round(u.numpy(), 4).tolist()}   vs reference {max_differences(u, u_ref)}")
    assert_close(u, expected[mode], "float64")
    assert_close(u, u_ref, "float64")
assert torch.equal(hidden[0, 2], torch.tensor([100.0, -100.0], dtype=torch.float64))  # input untouched
assert np.round(mean_sqrt_len_pooling(hidden, mask).numpy(), 4).tolist() == [
    [4.2426, 7.0711],
    [3.4641, 5.1962],
]

# %% [markdown]
# ## 2. The padding bug
#
# Sentences in a batch are padded to the longest one. BERT still computes a vector at every padded
# position (attention keeps the real tokens from *looking at* padding, but a padded position looks
# at the real tokens and gets a vector of its own). A pooling that forgets the mask averages those
# vectors in: the same sentence gets a different embedding depending on its neighbours in the batch.
# On the toy batch, the naive mean of A is ([1, 3] + [5, 7] + [100, −100]) / 3 ≈ [35.3, −30]
# instead of [3, 5]. Now with the real model: one sentence alone, then batched with a longer one.

# %%
naive = {
    "mean": lambda h, m: h.mean(dim=1),  # (B, C), padding included: wrong
    "max": lambda h, m: h.max(dim=1).values,  # (B, C), padding included: wrong
}
assert_close(naive["mean"](hidden, mask)[0], [106 / 3, -30], "float64")

sentence = "A man is playing a guitar."
longer = "A man is playing a guitar on the wooden porch of an old house while his dog sleeps."
alone, batched = encoder.tokenizer([sentence]), encoder.tokenizer([sentence, longer])
with torch.inference_mode():
    h_alone, h_batched = encoder.model(**alone), encoder.model(**batched)  # (1, n, C), (2, T, C)
m_alone, m_batched = alone["attention_mask"], batched["attention_mask"]
print(f"{sentence!r}: {int(m_alone.sum())} tokens; batched, padded to {m_batched.shape[1]}")
for mode in ("mean", "max"):
    right = POOLING_FUNCTIONS[mode]
    naive_gap = max_differences(naive[mode](h_batched, m_batched)[0], naive[mode](h_alone, m_alone)[0])[0]
    masked_gap = max_differences(right(h_batched, m_batched)[0], right(h_alone, m_alone)[0])[0]
    print(f"{mode}: alone vs batched, max |difference|: naive {naive_gap:.3f}, masked {masked_gap:.1e}")
    assert naive_gap > TOLERANCES["fp32_model"][0]  # the naive pooling changes the sentence's vector
    assert_close(right(h_batched, m_batched)[0], right(h_alone, m_alone)[0], "fp32_model")

# %% [markdown]
# How far does the naive vector drift? Batch the sentence with partners of growing length and
# measure the cosine between its batched and its lone embedding. Masked pooling stays at 1.

# %%
words = longer.split()
pads, curves = [], {f"{kind} {mode}": [] for kind in ("naive", "masked") for mode in ("mean", "max")}
for k in range(len(sentence.split()), len(words) + 1, 2):
    batch = encoder.tokenizer([sentence, " ".join(words[:k])])
    with torch.inference_mode():
        h = encoder.model(**batch)  # (2, T, C)
    pads.append(int((batch["attention_mask"][0] == 0).sum()))
    for mode in ("mean", "max"):
        for kind, function in (("naive", naive[mode]), ("masked", POOLING_FUNCTIONS[mode])):
            u, u_alone = function(h, batch["attention_mask"])[0], function(h_alone, m_alone)[0]
            curves[f"{kind} {mode}"].append(float(torch.cosine_similarity(u, u_alone, dim=0)))
fig, ax = plt.subplots(figsize=(6.5, 3.8))
styles = (
    dict(marker="o"),
    dict(marker="s"),
    dict(marker="o", ms=10, mfc="none", ls="--"),
    dict(marker="x", ls=":"),
)
for (name, values), style in zip(curves.items(), styles, strict=True):
    ax.plot(pads, values, label=name, **style)
ax.set_xlabel("padding tokens added to the sentence by its batch partner")
ax.set_ylabel("cosine(batched embedding, lone embedding)")
ax.set_title("Naive pooling drifts as padding grows; masked pooling stays at 1")
ax.legend()
save_figure(fig, "06_padding_bug.png")
print({name: np.round(values, 4).tolist() for name, values in curves.items()})
assert min(curves["naive mean"][1:]) < min(curves["masked mean"])  # every padded batch drifts
assert_close(curves["masked mean"], np.ones(len(pads)), "fp32_op")
assert_close(curves["masked max"], np.ones(len(pads)), "fp32_op")

# %% [markdown]
# ## 3. The pooling ablation on STS-dev
#
# The paper trains SBERT once per pooling mode and reports the Spearman correlation between
# cosine similarity and the gold scores on the STS benchmark's dev set (table 6; below). Here we
# take the published model, trained with mean pooling, and swap the pooling at inference time:
# run BERT once per batch, keep the token vectors and the mask, and pool them four ways.
#
# No normalisation is needed: cosine is scale-invariant, $\cos(a\,u, b\,v) = \cos(u, v)$ for
# $a, b > 0$. So normalised or not, the scores are the same, and mean-sqrt-len, which is
# mean × √n, gives exactly mean pooling's cosines. It differs only where length matters: dot
# products, Euclidean distances, or a concatenation with other modes.

# %%
pairs = read_sts(data_file("stsbenchmark/sts-dev.csv"))
pairs = pairs[::7][:200] if FAST else pairs  # FAST: every 7th pair, all genres
gold = np.array([p.score for p in pairs])
distinct = list(dict.fromkeys(s for p in pairs for s in (p.sentence1, p.sentence2)))  # each once
row = {s: i for i, s in enumerate(distinct)}
encoded = encoder.tokenizer.encode(distinct, max_length=encoder.max_seq_length)  # (ids, types) each
vectors = {mode: np.zeros((len(distinct), encoder.model.config.hidden_size)) for mode in MODES}  # (U, C)
with torch.inference_mode():
    for rows in length_sorted_batches([len(ids) for ids, _ in encoded], batch_size=32):
        batch = encoder.tokenizer.pad([encoded[i] for i in rows])
        h = encoder.model(**batch)  # (B, T, C): the token vectors, computed once
        for mode in MODES:
            vectors[mode][rows] = POOLING_FUNCTIONS[mode](h, batch["attention_mask"]).numpy()  # (B, C)
print(f"{len(pairs)} pairs, {len(distinct)} distinct sentences")

# the last batch, pooled by torch and by NumPy, in float64
h64, m = h.double(), batch["attention_mask"]
for mode in MODES:
    assert_close(
        POOLING_FUNCTIONS[mode](h64, m), ref.POOLING_FUNCTIONS[mode](h64.numpy(), m.numpy()), "float64"
    )


def sides(mode: str) -> tuple[np.ndarray, np.ndarray]:
    """The embeddings (N, C) of the first and of the second sentence of every pair."""
    return vectors[mode][[row[p.sentence1] for p in pairs]], vectors[mode][[row[p.sentence2] for p in pairs]]


def cosines(mode: str, normalize: bool = False) -> np.ndarray:
    """cos(u_i, v_i) of every pair under one pooling mode: (N,)."""
    u, v = sides(mode)  # (N, C) each
    if normalize:
        u, v = ref.l2_normalize(u), ref.l2_normalize(v)
    return (u * v).sum(1) / (np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1))


rho = {mode: spearman(cosines(mode), gold) for mode in MODES}
for mode, value in rho.items():
    print(f"STS-dev Spearman, {mode:22s} {value:.4f}")
assert_close(cosines("mean", normalize=True), cosines("mean"), "fp32_op")  # normalising changes nothing
assert_close(cosines("mean_sqrt_len_tokens"), cosines("mean"), "fp32_op")  # √n cancels in the cosine
assert rho["mean"] > max(rho["max"], rho["cls"])  # the pooling the model was trained with wins

dot = {
    mode: spearman((sides(mode)[0] * sides(mode)[1]).sum(1), gold)
    for mode in ("mean", "mean_sqrt_len_tokens")
}
print("with dot products instead of cosines, length matters:", {k: round(v, 4) for k, v in dot.items()})
assert dot["mean"] != dot["mean_sqrt_len_tokens"]

# %% [markdown]
# One mode through the whole `SentenceEncoder`, to be sure the pooling above is the one `encode`
# does: the same BERT and tokenizer with a `PoolingConfig(("max",))`, without normalisation.

# %%
max_encoder = SentenceEncoder(
    encoder.model, encoder.tokenizer, PoolingConfig(("max",)), max_seq_length=encoder.max_seq_length
)
some = distinct[:64]
assert_close(max_encoder.encode(some), vectors["max"][: len(some)], "fp32_model")
print("SentenceEncoder(max pooling).encode agrees with max_pooling above")

# %% [markdown]
# The measured figures on the full dev set (1,500 pairs): mean 0.8672, max 0.8260, [CLS] 0.7972,
# mean-sqrt-len 0.8672 (equal to mean, as promised). Mean pooling is best: the model was trained
# with it, and its token vectors were shaped so that their *average* lands in the right place.
# Max and [CLS] were never trained for, and still rank most pairs right. The paper's table 6
# trains BERT-base on STSb once per pooling mode (regression objective) and reports mean 87.44,
# max 69.92, [CLS] 86.62 (×100): there [CLS], trained for, nearly catches up with mean, while max
# pooling falls far behind even when trained for.

# %%
PAPER_TABLE_6 = {"mean": 0.8744, "max": 0.6992, "cls": 0.8662}  # SBERT-STSb-base, trained per mode
if not FAST:
    measured = {"mean": 0.8672, "max": 0.8260, "cls": 0.7972, "mean_sqrt_len_tokens": 0.8672}
    for mode, quoted in measured.items():  # half a unit of the 4th decimal, plus float rounding
        assert abs(rho[mode] - quoted) <= 0.5e-4 + TOLERANCES["fp32_model"][0], (mode, rho[mode])

labels = {"mean": "mean", "max": "max", "cls": "[CLS]", "mean_sqrt_len_tokens": "mean-sqrt-len"}
x = np.arange(len(MODES))
fig, ax = plt.subplots(figsize=(7.5, 4.5))
ours = [rho[mode] for mode in MODES]
bars = ax.bar(
    x - 0.2, ours, 0.4, label=f"all-MiniLM-L6-v2 (trained with mean), pooling swapped; {len(pairs)} pairs"
)
ax.bar_label(bars, fmt="%.4f")
paper = [PAPER_TABLE_6.get(mode) for mode in MODES]
heights = [v or 0 for v in paper]
bars = ax.bar(
    x + 0.2,
    heights,
    0.4,
    color="none",
    edgecolor="tab:gray",
    hatch="//",
    label="SBERT paper, table 6: trained with that pooling",
)
ax.bar_label(bars, labels=[f"{v:.4f}" if v else "" for v in paper])
for i in np.flatnonzero([v is None for v in paper]):
    ax.text(x[i] + 0.2, 0.61, "not in\nthe paper", ha="center", va="bottom", color="tab:gray")
ax.set_xticks(x, [labels[m] for m in MODES])
ax.set_ylim(0.6, 1.0)
ax.set_ylabel("Spearman ρ, cosine vs gold (STS-dev)")
ax.set_title("Mean pooling wins: the model was trained with it")
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False)
save_figure(fig, "06_pooling_ablation.png")

# %% [markdown]
# ## Exercises
#
# 1. Weighted mean: give token $t$ the weight $t$ (its position, from 1), as sentence-transformers'
#    `weightedmean` does. Write it for torch and for NumPy and check
#    `assert_close(yours(hidden, mask), [[11 / 3, 17 / 3], [10 / 6, 21 / 6]], "float64")` on the
#    toy batch of section 1 (work the numbers out by hand first).
# 2. Concatenate two modes: `np.concatenate([vectors["mean"], vectors["max"]], axis=1)` is what
#    `minisbert.pooling.pool(h, mask, ("mean", "max"))` gives, (N, 2C). Check that on the last
#    batch of section 3 (`assert_close(pool(h, m, ("mean", "max"))[:, : h.shape[-1]], mean_pooling(h, m),
#    "float64")`), then compute the STS-dev Spearman of the concatenation. Is it better than mean
#    alone? (Hint: which half has the larger norm, and so the larger say in the cosine?)
# 3. Make the padding bug hurt the benchmark: replace mean pooling by the naive mean of section 2
#    in the loop of section 3 and compute the Spearman, once with `length_sorted_batches` and once
#    with batches in the file's order. Check: a batch whose sentences all have the same number of
#    tokens has no padding, so there naive and masked must agree (`assert_close`, "fp32_model").
# 4. Score STS-dev with the (negated) Euclidean distance instead of the cosine, for all four
#    modes, once on the raw vectors and once after `reference.pooling.l2_normalize`. Which modes
#    change when you normalise? Check: for unit vectors ‖u − v‖² = 2 − 2 cos(u, v), so the
#    normalised Spearman must equal `rho[mode]` (`assert_close(..., rho[mode], "fp32_model")`).
