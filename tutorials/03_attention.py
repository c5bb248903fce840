# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 03 · Attention: one head by hand, √d, the padding mask, many heads, real attention maps
#
# Self-attention is the one place where the tokens of a sentence talk to each other. This
# tutorial computes one attention head by hand on numbers small enough to print, shows why the
# scores are divided by √d, why the padding mask adds a large *finite* negative number, how the
# 384 features of MiniLM are cut into 12 heads and glued back, and finally what the 6 × 12 heads
# of the real all-MiniLM-L6-v2 look at. Every step is checked against the NumPy reference.
#
# Read first: tutorial 01 (the whole inference path), then `attention`, `additive_attention_mask`
# and `BertSelfAttention` in `minisbert/model.py`, and their twins in `reference/model.py`.
# No data set needed; it runs in a few seconds.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from common import FAST, save_figure

from minisbert import SentenceEncoder
from minisbert.config import preset
from minisbert.model import BertSelfAttention, additive_attention_mask, attention
from minisbert.pretrained import default_model_folder
from reference import model as ref
from reference.compare import assert_close, max_differences
from reference.pretrained import load_config, load_params

encoder = SentenceEncoder.from_pretrained()  # all-MiniLM-L6-v2, in eval mode: no dropout
tokenizer = encoder.tokenizer
params = load_params(default_model_folder())  # the same weights, float64 NumPy arrays
config = load_config(default_model_folder())
no_dropout = torch.nn.Dropout(0.0)  # attention() takes the dropout to apply to the probabilities
np.set_printoptions(precision=3, suppress=True)

# %% [markdown]
# ## 1. One head by hand
#
# Each token $t$ has a vector $x_t$. A head projects it three ways: a *query* $q_t = x_t W_Q$
# (what am I looking for?), a *key* $k_t = x_t W_K$ (what do I offer?) and a *value*
# $v_t = x_t W_V$ (what do I pass on?). Token $t$ scores every token $j$ by $q_t \cdot k_j$, turns
# the scores of its row into weights with a softmax, and takes the weighted mean of the values
# (Vaswani et al. 2017, eq. 1):
#
# $$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d}}\right) V,
# \qquad d = \text{the head size } hs.$$
#
# Four tokens, six features, a head of size 3, in NumPy float64:

# %%
rng = np.random.default_rng(0)
T, C, hs = 4, 6, 3
x = rng.standard_normal((T, C))  # (T, C)
W_q, W_k, W_v = (rng.standard_normal((C, hs)) for _ in range(3))  # (C, hs) each
q, k, v = x @ W_q, x @ W_k, x @ W_v  # (T, hs) each
scores = q @ k.T / math.sqrt(hs)  # (T, T): row t = how well q_t matches every key
e = np.exp(scores - scores.max(axis=1, keepdims=True))  # shift by the row max: exp never overflows
probs = e / e.sum(axis=1, keepdims=True)  # (T, T), each row sums to 1
context = probs @ v  # (T, hs): row t = Σ_j probs[t, j] v_j
print("scores\n", scores, "\nprobs\n", probs, "\ncontext\n", context)
assert np.allclose(probs.sum(axis=1), 1.0) and (probs > 0).all()

# %% [markdown]
# minisbert's `attention` does the same on 4-D tensors (B, nh, T, hs), for every sentence and head
# at once, and adds the padding mask (here all zeros: no padding). `reference.model.attention` is
# the NumPy twin. Both return the context and the probabilities. In float64 the three agree to
# rounding: the "float64" tolerance.

# %%
q4, k4, v4 = (torch.from_numpy(a)[None, None] for a in (q, k, v))  # (B=1, nh=1, T, hs)
zero_mask = torch.zeros(1, 1, 1, T, dtype=torch.float64)  # (B, 1, 1, T): nothing masked
context_torch, probs_torch = attention(q4, k4, v4, zero_mask, no_dropout)  # (1, 1, T, hs), (1, 1, T, T)
context_ref, probs_ref = ref.attention(q4.numpy(), k4.numpy(), v4.numpy(), zero_mask.numpy())
results = {
    "torch": (context_torch[0, 0], probs_torch[0, 0]),
    "reference": (context_ref[0, 0], probs_ref[0, 0]),
}
for name, (ctx, p) in results.items():
    diffs = max_differences(ctx, context)[0], max_differences(p, probs)[0]
    print(f"{name:9s} vs by hand: context {diffs[0]:.1e}, probs {diffs[1]:.1e}")
    assert_close(ctx, context, "float64")
    assert_close(p, probs, "float64")

# %% [markdown]
# ## 2. Why divide by √d
#
# If the entries of $q$ and $k$ are independent with mean 0 and variance 1, then
# $q \cdot k = \sum_{i=1}^{d} q_i k_i$ is a sum of $d$ terms of variance 1: its variance is $d$,
# its spread $\sqrt d$. Wide heads make big scores, and a softmax of big scores puts almost all
# the weight on the largest one: the row becomes one-hot. Its gradient, the Jacobian
# $\partial p / \partial s = \mathrm{diag}(p) - p p^\top$, then goes to zero, and the head stops
# learning. Dividing by $\sqrt d$ brings the spread back to 1 whatever the width.
#
# The experiment: random $q, k$ with N(0, 1) entries, 16 keys, many rows, for head sizes from 2 to
# 1024; for each row, the largest probability, the entropy $-\sum_j p_j \log p_j$ (log 16 ≈ 2.77
# for a uniform row, 0 for one-hot) and the size of the Jacobian $\lVert \mathrm{diag}(p) - pp^\top
# \rVert_F$. The scaled probabilities come from minisbert's `attention` (and are checked against
# the reference's), the unscaled ones from a plain softmax of $q k^\top$.

# %%
n_rows = 128 if FAST else 512  # groups of 16 queries and 16 keys: 16 × n_rows rows
T_keys = 16
sizes = [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
gen = torch.Generator().manual_seed(0)
stats = {"unscaled": [], "scaled": []}  # per size: (score spread, max prob, entropy, Jacobian size)


def row_stats(scores: torch.Tensor, p: torch.Tensor) -> tuple[float, float, float, float]:
    """Means over all rows of: spread of the scores, largest probability, entropy, ‖diag(p) − ppᵀ‖."""
    entropy = -(p * torch.log(p.clamp_min(1e-300))).sum(-1)  # (..., T)
    jacobian = torch.diag_embed(p) - p[..., :, None] * p[..., None, :]  # (..., T, T, T)
    return (
        float(scores.std()),
        float(p.max(-1).values.mean()),
        float(entropy.mean()),
        float(jacobian.square().sum((-2, -1)).sqrt().mean()),
    )


for d in sizes:
    q_d, k_d = (torch.randn(n_rows, 1, T_keys, d, generator=gen, dtype=torch.float64) for _ in range(2))
    raw = q_d @ k_d.transpose(-2, -1)  # (n, 1, T, T), unscaled scores
    no_mask = torch.zeros(n_rows, 1, 1, T_keys, dtype=torch.float64)  # (n, 1, 1, T)
    _, p_scaled = attention(q_d, k_d, k_d, no_mask, no_dropout)  # the values do not change the probabilities
    _, p_ref = ref.attention(q_d.numpy(), k_d.numpy(), k_d.numpy(), no_mask.numpy())
    assert_close(p_scaled, p_ref, "float64")
    stats["unscaled"].append(row_stats(raw, torch.softmax(raw, dim=-1)))
    stats["scaled"].append(row_stats(raw / math.sqrt(d), p_scaled))
    (s_u, m_u, _, _), (s_s, m_s, _, _) = stats["unscaled"][-1], stats["scaled"][-1]
    print(f"d={d:5d}  score spread {s_u:6.2f} → {s_s:.2f} scaled;  max prob {m_u:.3f} → {m_s:.3f} scaled")

spread = {name: np.array([s[0] for s in rows]) for name, rows in stats.items()}
max_prob = {name: np.array([s[1] for s in rows]) for name, rows in stats.items()}
jac = {name: np.array([s[3] for s in rows]) for name, rows in stats.items()}
assert np.allclose(spread["unscaled"], np.sqrt(sizes), rtol=0.1)  # spread √d ...
assert np.allclose(spread["scaled"], 1.0, rtol=0.1)  # ... and 1 after the division
d32 = sizes.index(32)  # MiniLM's head size: 384 features / 12 heads
assert max_prob["unscaled"][d32] > 0.7 and max_prob["scaled"].max() < 0.3
assert max_prob["unscaled"][-1] > 0.9  # d = 1024: nearly one-hot
assert jac["unscaled"][-1] < jac["scaled"][-1] / 4  # and the gradient has mostly gone

# %% [markdown]
# At MiniLM's head size, d = 32, unscaled rows already put more than 70% of their weight on one key,
# and at d = 1024 more than 90%; scaled rows stay near 25% at every width. The picture:

# %%
fig, axes = plt.subplots(1, 3, figsize=(14, 4))
titles = ["largest probability in a row", "entropy of a row", "size of the softmax's gradient"]
ylabels = ["max_j p_j (mean over rows)", "−Σ p log p (nats)", "‖diag(p) − ppᵀ‖ (Frobenius)"]
for i, (ax, title, ylabel) in enumerate(zip(axes, titles, ylabels, strict=True), start=1):
    for name, style in (("unscaled", "o-"), ("scaled", "s-")):
        label = "softmax(q·k)" if name == "unscaled" else "softmax(q·k / √d)"
        ax.plot(sizes, [s[i] for s in stats[name]], style, label=label)
    ax.axvline(32, color="gray", ls=":", label="MiniLM head size (32)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("head size d")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
axes[0].axhline(1 / T_keys, color="k", lw=0.8, ls="--", label="uniform, 1/16")
axes[1].axhline(math.log(T_keys), color="k", lw=0.8, ls="--", label="uniform, log 16")
for ax in axes[:2]:
    ax.legend(fontsize=8)
fig.suptitle("Without the 1/√d, wider heads give one-hot rows and a vanishing gradient (16 keys)")
fig.tight_layout()
save_figure(fig, "03_sqrt_d.png")

# %% [markdown]
# ## 3. The padding mask
#
# A batch pads its shorter sentences with `[PAD]` to the longest. No token may attend to padding,
# so the mask adds a very negative number $M_j$ to the score of every padding *key* $j$ before the
# softmax: $p = \mathrm{softmax}(s + M)$ with $M_j = 0$ for a token and $M_j = $ `finfo.min`
# (−3.4·10³⁸ in float32) for padding. `exp` of that underflows to exactly 0.
# `additive_attention_mask` builds it once per batch, shaped (B, 1, 1, T) so that it broadcasts
# over heads and query rows. (It prints −0.0 for tokens: 0 times a negative number; adding it
# changes nothing.) Through all 6 layers and 12 heads, padding keys then get exactly 0, and the
# short sentence's attention is the same, to float32 rounding, as when it is run alone.

# %%
batch = tokenizer(["A man is playing a guitar.", "Hi there."])  # (B=2, T) each
n_short = int(batch["attention_mask"][1].sum())  # real tokens of the short sentence
mask = additive_attention_mask(batch["attention_mask"], torch.float32)  # (B, 1, 1, T)
print(tokenizer.ids_to_tokens(batch["input_ids"][1]))
print("attention_mask", batch["attention_mask"][1].tolist(), "\nadditive mask", mask[1, 0, 0].tolist())
mask_ref = ref.additive_attention_mask(batch["attention_mask"].numpy(), np.float32)  # the same, in NumPy
assert max_differences(mask, mask_ref) == (0.0, 0.0)

maps = encoder.model.attention_maps(**batch)  # (L, B, nh, T, T)
print("largest attention on a padding key, any layer or head:", float(maps[:, 1, :, :, n_short:].max()))
assert (maps[:, 1, :, :, n_short:] == 0).all()  # exactly zero, not merely small
alone = tokenizer(["Hi there."])  # the short sentence with no padding at all
maps_alone = encoder.model.attention_maps(**alone)  # (L, 1, nh, n_short, n_short)
assert_close(maps[:, 1, :, :n_short, :n_short], maps_alone[:, 0], "fp32_model")  # padding changes nothing

# %% [markdown]
# **Why not −∞?** It reads more naturally, and for a row with at least one real key it gives the
# same result. But a row whose keys are *all* masked (an empty slot in a batch, or in a decoder a
# causal mask combined with left padding) becomes $\mathrm{softmax}(-\infty, \dots, -\infty)$: the max shift
# gives $-\infty - (-\infty)$ = NaN. With the finite fill, every score of that row becomes exactly
# `finfo.min` (a score of size 10 is far below the float32 spacing near 10³⁸, so it is absorbed),
# the row is uniform, and the numbers stay finite. And a NaN cannot be masked away afterwards:
# 0 × NaN is NaN, so in training it would reach every gradient.

# %%
keep = torch.tensor([[1, 1, 0], [0, 0, 0]])  # (B, T): the second row has no real token at all
q_m, k_m, v_m = (torch.randn(2, 1, 3, 4, generator=gen) for _ in range(3))  # (B, nh=1, T=3, hs=4)
minus_inf = torch.zeros(2, 1, 1, 3).masked_fill(keep[:, None, None, :] == 0, -math.inf)  # (B, 1, 1, T)
context_inf, probs_inf = attention(q_m, k_m, v_m, minus_inf, no_dropout)
context_fin, probs_fin = attention(q_m, k_m, v_m, additive_attention_mask(keep, torch.float32), no_dropout)
print("-inf fill, all-masked row:\n", probs_inf[1, 0].numpy(), "\nfinite fill:\n", probs_fin[1, 0].numpy())
assert torch.isnan(probs_inf[1]).all() and not torch.isnan(probs_inf[0]).any()
assert torch.equal(probs_inf[0], probs_fin[0])  # with a real key in the row, both fills agree
assert (probs_fin[1] == 1 / 3).all() and torch.isfinite(context_fin).all()
assert torch.finfo(torch.float32).min + 10.0 == torch.finfo(torch.float32).min  # why the row is uniform
assert torch.isnan((context_inf * 0).sum())  # masking the output afterwards does not help

# %% [markdown]
# ## 4. Many heads: split, attend, merge
#
# BERT runs $nh$ heads side by side, each on its own slice of $hs = C / nh$ features (Vaswani et
# al., section 3.2.2): $\mathrm{MultiHead}(x) = [\mathrm{head}_1, \dots, \mathrm{head}_{nh}]$ with
# $\mathrm{head}_h = \mathrm{Attention}(x W_Q^h, x W_K^h, x W_V^h)$. The projections are done once
# for all heads (one C × C matrix each), then the result is cut into heads:
#
#     split_heads:  (B, T, C) --view--> (B, T, nh, hs) --transpose(1, 2)--> (B, nh, T, hs)
#     merge_heads:  (B, nh, T, hs) --transpose(1, 2)--> (B, T, nh, hs) --reshape--> (B, T, C)
#
# Head h reads features h·hs … (h+1)·hs − 1. To see it, split the numbers 0..63 laid out as one
# sentence of 2 tokens of 32 features, with the "tiny" preset's 4 heads of 8:

# %%
tiny = BertSelfAttention(preset("tiny"))  # C = 32, nh = 4, hs = 8
x_small = torch.arange(2 * 32.0).view(1, 2, 32)  # (B=1, T=2, C=32)
split = tiny.split_heads(x_small)  # (B=1, nh=4, T=2, hs=8)
print("split", tuple(split.shape), "\nhead 1, both tokens:\n", split[0, 1].numpy())
for h in range(4):
    assert torch.equal(split[0, h], x_small[0, :, h * 8 : (h + 1) * 8])  # head h = its feature slice
merged = tiny.merge_heads(split)  # (B=1, T=2, C=32)
assert torch.equal(merged, x_small) and torch.equal(tiny.split_heads(merged), split)  # exact inverses
assert max_differences(split, ref.split_heads(x_small.numpy(), 4)) == (0.0, 0.0)
assert max_differences(merged, ref.merge_heads(split.numpy())) == (0.0, 0.0)
assert not split.is_contiguous()  # the transpose only changed the strides: no number moved
context_like = split.contiguous()  # (B, nh, T, hs) laid out head after head, as attention returns it
try:
    context_like.transpose(1, 2).view(1, 2, 32)  # (B, T, nh, hs) is not in (B, T, C) order in memory
    raise AssertionError("view of a transposed tensor should fail")  # so merge_heads uses reshape
except RuntimeError as err:
    print("view instead of reshape:", str(err)[:70], "...")

# %% [markdown]
# Now the real layer 0 of MiniLM (12 heads of 32). The heads are truly independent: computing
# each head by hand in NumPy on its own slices of $W_Q, W_K, W_V$ (rows h·32 … h·32+31 of the
# torch weights, which are stored (out, in)) and putting the 12 results side by side gives what
# `BertSelfAttention` returns, and what the reference's `self_attention` returns. torch runs in
# float32 here, so the comparison uses the "fp32_model" tolerance.

# %%
self_attn = encoder.model.encoder.layer[0].attention.self
with torch.inference_mode():
    x_emb = encoder.model.embeddings(batch["input_ids"], batch["token_type_ids"])  # (B, T, C)
    out_torch = self_attn(x_emb, mask)  # (B, T, C), the heads merged
x64, mask64 = x_emb.double().numpy(), ref.additive_attention_mask(batch["attention_mask"].numpy())
nh, hs = self_attn.num_heads, config.hidden_size // self_attn.num_heads
prefix = "encoder.layer.0.attention.self."
heads = []
for h in range(nh):
    rows = slice(h * hs, (h + 1) * hs)
    q_h, k_h, v_h = (
        x64 @ params[f"{prefix}{name}.weight"][rows].T + params[f"{prefix}{name}.bias"][rows]  # (B, T, hs)
        for name in ("query", "key", "value")
    )
    context_h, _ = ref.attention(q_h[:, None], k_h[:, None], v_h[:, None], mask64)  # (B, 1, T, hs)
    heads.append(context_h[:, 0])
by_hand = np.concatenate(heads, axis=-1)  # (B, T, nh·hs) = (B, T, C)
out_ref = ref.self_attention(params, prefix, x64, mask64, config)  # (B, T, C)
print("torch vs 12 heads by hand:", max_differences(out_torch, by_hand)[0])
assert_close(out_ref, by_hand, "float64")
assert_close(out_torch, by_hand, "fp32_model")

# %% [markdown]
# ## 5. What the real heads look at
#
# `model.attention_maps(...)` runs the model once and returns every layer's probabilities,
# (L, B, nh, T, T): row t of map [l, b, h] is how token t spreads its attention in head h of layer
# l. First a check that the NumPy encoder, run in float64 on the same weights, gives the same maps
# (its cache keeps each layer's probabilities). Then a grid: the 6 layers, 4 of the 12 heads, for
# the first sentence.

# %%
sentences = [
    "The cat sat on the mat because it was tired.",
    "A man is playing a guitar.",
    "Two dogs are running through a field of snow.",
    "She didn't say where she had left the keys.",
    "The stock market fell sharply on Monday after the announcement.",
    "A woman is slicing an onion.",
]
many = tokenizer(sentences)  # (B, T) each
maps = encoder.model.attention_maps(**many)  # (L, B, nh, T, T)
_, cache = ref.encoder_forward(params, many["input_ids"].numpy(), many["attention_mask"].numpy(), config)
maps_ref = np.stack([layer.attention.attention.probs for layer in cache.layers])  # (L, B, nh, T, T)
print("attention maps", tuple(maps.shape), "max |torch − numpy| =", max_differences(maps, maps_ref)[0])
assert_close(maps, maps_ref, "fp32_model")

n = int(many["attention_mask"][0].sum())  # real tokens of the first sentence
tokens = tokenizer.ids_to_tokens(many["input_ids"][0, :n])
first = maps[:, 0, :, :n, :n]  # (L, nh, n, n), padding cut off
previous = float(first[0, 2].diagonal(-1).mean())  # layer 0, head 2: weight on the token just before
following = float(first[1, 8].diagonal(1).mean())  # layer 1, head 8: weight on the token just after
on_cat = float(first[5, 11][:, tokens.index("cat")].mean())  # layer 5, head 11: weight on "cat"
print(f"layer 0 head 2 on the previous token {previous:.2f}, layer 1 head 8 on the next {following:.2f}")
print(f"layer 5 head 11 on 'cat' {on_cat:.2f}")
assert previous > 0.9 and following > 0.5 and on_cat > 0.5

L, show_heads = first.shape[0], [0, 2, 8, 11]
fig, axes = plt.subplots(L, len(show_heads), figsize=(2.6 * len(show_heads) + 1, 2.6 * L))
fig.subplots_adjust(left=0.1, right=0.86, top=0.94, bottom=0.07, hspace=0.25, wspace=0.08)
for l in range(L):
    for c, h in enumerate(show_heads):
        ax = axes[l, c]
        image = ax.imshow(first[l, h], vmin=0, vmax=1, cmap="viridis")
        ax.set_title(f"layer {l}, head {h}", fontsize=9)
        ax.set_xticks(range(n) if l == L - 1 else [], tokens if l == L - 1 else [], rotation=90, fontsize=7)
        ax.set_yticks(range(n) if c == 0 else [], tokens if c == 0 else [], fontsize=7)
for ax in axes[:, 0]:
    ax.set_ylabel("query (attends from)", fontsize=8)
for ax in axes[-1]:
    ax.set_xlabel("key (attends to)", fontsize=8)
fig.colorbar(image, cax=fig.add_axes([0.89, 0.35, 0.02, 0.3]), label="attention probability")
fig.suptitle(
    f'"{sentences[0]}"\nlayer 0 head 2 reads the previous token, layer 1 head 8 the next; '
    "layers 1–4 lean on [CLS]",
    fontsize=10,
)
save_figure(fig, "03_attention_maps.png")

# %% [markdown]
# Many heads park most of their attention on `[CLS]`, a known habit of BERT-like models (Clark et
# al. 2019, "What does BERT look at?", found the same with `[SEP]` in BERT-base). A few heads do
# something positional instead: in the grid, layer 0 head 2 puts almost all its weight on the
# token just before, layer 1 head 8 on the token just after (the bright diagonals beside the main
# one). And in the last layer a head can gather around a content word: layer 5 head 11 sends most
# of every row to *cat*, the subject (and what *it* refers to).
#
# Over all six sentences, averaged over heads and real query tokens, split by the key each row
# attends to, layers 1 to 4 send more than half of their attention to `[CLS]`. The reference's
# cache also holds each head's value vectors $v_j$, and they explain the habit: what a row takes
# from key $j$ is $p_j v_j$, and in layers 1 to 4 the values of `[CLS]` are more than ten times
# shorter than those of the words. Attending to `[CLS]` is how a head with nothing to gather puts
# its weight somewhere without changing the token (a "no-op", as Kobayashi et al. 2020 put it).

# %%
ids, real = many["input_ids"], many["attention_mask"].bool()  # (B, T) each
is_cls, is_sep = ids == tokenizer.cls_token_id, ids == tokenizer.sep_token_id  # (B, T) each
word = real & ~is_cls & ~is_sep
kinds = {
    "[CLS]": (maps * is_cls[None, :, None, None, :]).sum(-1),  # (L, B, nh, T)
    "[SEP]": (maps * is_sep[None, :, None, None, :]).sum(-1),
    "itself (a word)": torch.diagonal(maps, dim1=-2, dim2=-1) * word[None, :, None, :],
}
kinds["other words"] = 1 - sum(kinds.values())
rows = real[None, :, None, :].expand_as(kinds["[CLS]"])  # the real query rows
share = {name: np.array([float(part[l][rows[l]].mean()) for l in range(L)]) for name, part in kinds.items()}
values = [np.linalg.norm(layer.attention.attention.v, axis=-1) for layer in cache.layers]  # (B, nh, T) each


def heads_of(token_mask: torch.Tensor) -> np.ndarray:
    """(B, T) → (B, nh, T): the same tokens picked in every head."""
    return np.broadcast_to(token_mask.numpy()[:, None, :], values[0].shape)


value_norm = {
    "[CLS]": np.array([v[heads_of(is_cls)].mean() for v in values]),
    "words": np.array([v[heads_of(word)].mean() for v in values]),
}
for l in range(L):
    print(
        f"layer {l}: " + ", ".join(f"{name} {share[name][l]:.2f}" for name in share),
        f"| ‖v‖ [CLS] {value_norm['[CLS]'][l]:.2f}, words {value_norm['words'][l]:.2f}",
    )
assert (kinds["other words"] > -1e-6).all()  # the four parts split each row's weight of 1
assert (share["[CLS]"][1:5] > 0.5).all() and share["[CLS]"][0] < 0.5  # layers 1-4: over half on [CLS]
assert (value_norm["[CLS]"][1:5] < value_norm["words"][1:5] / 10).all()  # ... whose values are tiny
assert (value_norm["[CLS]"] < value_norm["words"] / 3).all()  # and short in every layer

fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4), width_ratios=[3, 2])
bottom = np.zeros(L)
for name, color in zip(share, ["tab:red", "tab:purple", "tab:gray", "tab:blue"], strict=True):
    ax.bar(range(L), share[name], bottom=bottom, color=color, label=name)
    bottom += share[name]
ax.set_xticks(range(L), [f"layer {l}" for l in range(L)])
ax.set_ylabel("share of attention (mean over heads, tokens)")
ax.set_title("where the attention goes: over half to [CLS] in layers 1–4")
ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, title="key", title_fontsize=8)
for name, color in (("[CLS]", "tab:red"), ("words", "tab:blue")):
    ax2.plot(range(L), value_norm[name], "o-", color=color, label=f"value vectors of {name}")
ax2.set_yscale("log")
ax2.set_yticks([0.1, 0.3, 1, 3, 10], ["0.1", "0.3", "1", "3", "10"])
ax2.minorticks_off()
ax2.set_xticks(range(L), [f"layer {l}" for l in range(L)])
ax2.set_ylabel("mean length ‖v‖ in a head (log scale)")
ax2.set_title("what it brings back: [CLS]'s values are tiny")
ax2.legend(fontsize=8)
fig.tight_layout()
save_figure(fig, "03_attention_targets.png")

# %% [markdown]
# ## Exercises
#
# 1. Predict from the trend of section 2 the average largest probability of an unscaled row at
#    d = 4096, then measure it by adding 4096 to `sizes`. Check: it must be larger than the value
#    at 1024 and the scaled one must still be below 0.3.
# 2. Write `safe_softmax(scores)` that uses −∞ for padding but returns a row of zeros (not NaN)
#    when every key of the row is masked. Check it against minisbert's probabilities on the rows
#    of section 3 that have a real key: `assert_close(yours[0], probs_fin[0], "fp32_op")`, and
#    `assert not torch.isnan(yours).any()`.
# 3. Is layer 0 head 2 a previous-token head for every sentence, or only for the cat? For each
#    sentence b of section 5, take its real tokens only (`n = int(many["attention_mask"][b].sum())`)
#    and the mean of `maps[0, b, 2, :n, :n].diagonal(-1)`. Check that all six are above 0.9. Then
#    try to break it with repeated words ("the the the the") or a 100-word sentence: does the head
#    find the previous token by its content or by its position?
# 4. Write `merge_heads` with `x.permute(0, 2, 1, 3).flatten(2)` and check it against
#    `BertSelfAttention.merge_heads` on `split` with `torch.equal`.
