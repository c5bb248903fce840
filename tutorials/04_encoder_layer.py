# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 04 · The encoder layer: embeddings, residual + LayerNorm, GELU, the feed-forward, layer by layer
#
# Tutorial 03 took attention apart. This one builds the rest of BERT around it: the input
# embeddings, the post-LN residual blocks that wrap every sub-layer, the GELU non-linearity (exact
# and its tanh approximation), and the feed-forward block. Then it runs the six layers of the
# real all-MiniLM-L6-v2 one at a time, watches the token vectors pass through them, and measures,
# layer by layer, how far torch's float32 drifts from the NumPy reference's float64.
#
# Read first: tutorials 01 and 03, then `BertEmbeddings`, `BertAddNorm`, `activation`,
# `BertIntermediate` and `BertLayer` in `minisbert/model.py`, and `embeddings`, `add_norm`,
# `gelu`, `intermediate` and `layer` in `reference/model.py`. No data set needed; it runs in a few
# seconds.

# %%
import copy

import matplotlib.pyplot as plt
import numpy as np
import torch
from common import save_figure

from minisbert import SentenceEncoder
from minisbert.model import activation, additive_attention_mask
from minisbert.pretrained import default_model_folder
from reference import model as ref
from reference.compare import TOLERANCES, assert_close, max_differences
from reference.pretrained import load_config, load_params

encoder = SentenceEncoder.from_pretrained()  # all-MiniLM-L6-v2, in eval mode: no dropout
model, tokenizer = encoder.model, encoder.tokenizer
params = load_params(default_model_folder())  # the same weights, float64 NumPy arrays
config = load_config(default_model_folder())
sentences = [
    "The cat sat on the mat because the mat was warm.",
    "A man is playing a guitar.",
    "Two dogs are running through a field of snow.",
    "A woman is slicing an onion.",
]
batch = tokenizer(sentences)  # input_ids, attention_mask, token_type_ids: (B, T) each
ids, types, keep = batch["input_ids"], batch["token_type_ids"], batch["attention_mask"]
real = keep.bool()  # (B, T): the real tokens, padding excluded
np.set_printoptions(precision=3, suppress=True)

# %% [markdown]
# ## 1. Embeddings
#
# Attention by itself does not know the order of the tokens: permute them and every token gets
# the same mix. So BERT adds a learnt vector for each *position* to the vector of each *word*, and
# one for the *segment* (sentence A or B of a pair; always A for Sentence-BERT), then normalises
# (Devlin et al. 2019, section 3.2, figure 2):
#
# $$x_t = \mathrm{LN}\big(E_\text{word}[\mathit{id}_t] + E_\text{pos}[t] + E_\text{type}[s_t]\big),
# \qquad \mathrm{LN}(z) = \gamma \odot \frac{z - \mu(z)}{\sqrt{\sigma^2(z) + \varepsilon}} + \beta,$$
#
# with $\mu, \sigma^2$ the mean and (biased) variance of the C = 384 features of one token. The
# three tables are `model.embeddings.word_embeddings` (30,522 × 384), `position_embeddings`
# (512 × 384) and `token_type_embeddings` (2 × 384). Written out, the sum and the LayerNorm give
# what `model.embeddings` gives (to the last bit if both add the three in the same order; float32
# addition is not associative, so another order may differ there); the reference gives it in
# float64.

# %%
emb = model.embeddings
T = ids.shape[1]
with torch.inference_mode():
    word = emb.word_embeddings(ids)  # (B, T, C)
    position = emb.position_embeddings(torch.arange(T))  # (T, C), the same for every sentence
    segment = emb.token_type_embeddings(types)  # (B, T, C)
    by_hand = emb.LayerNorm(word + position + segment)  # (B, T, C), broadcast over B
    x = emb(ids, types)  # (B, T, C)
x_ref = ref.embeddings(params, ids.numpy(), types.numpy(), config)  # (B, T, C), float64
tokens = tokenizer.ids_to_tokens(ids[0])
for t in range(5):
    print(
        f"{tokens[t]:>6s}  ‖word‖ {word[0, t].norm():.2f}  ‖position {t}‖ {position[t].norm():.2f}  "
        f"‖type‖ {segment[0, t].norm():.2f}  →  ‖x‖ {x[0, t].norm():.2f}"
    )
print("embeddings: torch vs numpy", max_differences(x, x_ref))
assert_close(by_hand, x, "fp32_op")  # equal, up to the order of the three float32 additions
assert_close(x, x_ref, "fp32_op")

# %% [markdown]
# The claim that attention alone ignores order, checked: shuffle the tokens of the first sentence
# and, without positions ($E_\text{word} + E_\text{type}$ only), layer 0's self-attention returns
# the same vectors, shuffled the same way. With positions (each token takes the position of its
# new place), it does not.

# %%
n0 = int(keep[0].sum())  # the first sentence, without its padding
shuffle = torch.randperm(n0, generator=torch.Generator().manual_seed(0))
no_mask = torch.zeros(1, 1, 1, n0)  # (1, 1, 1, T): nothing to mask
self_attn = model.encoder.layer[0].attention.self
with torch.inference_mode():
    plain = (word + segment)[:1, :n0]  # (1, T, C), no position
    assert_close(self_attn(plain[:, shuffle], no_mask), self_attn(plain, no_mask)[:, shuffle], "fp32_layer")
    in_order = emb(ids[:1, :n0], types[:1, :n0])  # (1, T, C), with positions
    shuffled = emb(ids[:1, :n0][:, shuffle], types[:1, :n0])  # (1, T, C), the tokens in new places
    moved = max_differences(self_attn(shuffled, no_mask), self_attn(in_order, no_mask)[:, shuffle])[0]
print(f"with positions, shuffling the tokens changes attention's output by up to {moved:.2f}")
assert moved > 0.1

# %% [markdown]
# Two things to see. Position 0, where `[CLS]` always sits, has a vector about five times longer
# than the other positions: the model marks the start strongly. And the same word at two places
# starts as the same row of $E_\text{word}$ but leaves the embeddings as two different vectors:
# the two *mat*s of the first sentence.

# %%
position_norms = np.linalg.norm(params["embeddings.position_embeddings.weight"], axis=1)  # (512,)
print(f"‖E_pos[0]‖ = {position_norms[0]:.2f}, median of the others {np.median(position_norms[1:]):.2f}")
assert position_norms[0] > 4 * np.median(position_norms[1:])
first, second = [t for t, token in enumerate(tokens) if token == "mat"]
same_word = torch.equal(word[0, first], word[0, second])
cosine = float(torch.cosine_similarity(x[0, first], x[0, second], dim=0))
print(
    f"'mat' at {first} and {second}: same word vector {same_word}, cosine after the embeddings {cosine:.3f}"
)
assert same_word and cosine < 0.99

# %% [markdown]
# ## 2. The residual blocks: post-LN
#
# Every sub-layer (attention, then the feed-forward) is wrapped the same way: project its output
# back to C features, add the input (the *residual*), then LayerNorm. BERT puts the norm *after*
# the sum ("post-LN", as in Vaswani et al. 2017, section 3.1):
#
# $$x_1 = \mathrm{LN}\big(x + \mathrm{Attn}(x)\,W_O + b_O\big), \qquad
#   x_2 = \mathrm{LN}\big(x_1 + \mathrm{FFN}(x_1)\big).$$
#
# (GPT-2 and most later models use "pre-LN", $x + f(\mathrm{LN}(x))$, which keeps an
# un-normalised path from input to output.) In minisbert this is `BertAddNorm(x, residual)`, used
# twice per layer; in the reference, `add_norm(params, prefix, x, residual, config)`. A property to
# check: after the LayerNorm, undoing $\gamma$ and $\beta$ leaves every real token with mean 0 and
# variance 1 across its features.

# %%
layer0 = model.encoder.layer[0]
mask = additive_attention_mask(keep, x.dtype)  # (B, 1, 1, T)
mask_ref = ref.additive_attention_mask(keep.numpy())  # (B, 1, 1, T), float64
with torch.inference_mode():
    a = layer0.attention.self(x, mask)  # (B, T, C), the 12 heads merged
    x1 = layer0.attention.output(a, residual=x)  # (B, T, C) = LN(x + a W_O + b_O)
x1_ref = ref.add_norm(
    params, "encoder.layer.0.attention.output.", a.double().numpy(), x.double().numpy(), config
)
print("attention add & norm: torch vs numpy", max_differences(x1, x1_ref))
assert_close(x1, x1_ref, "fp32_layer")  # the output projection, a product over 384 terms

norm = layer0.attention.output.LayerNorm
z = ((x1 - norm.bias) / norm.weight)[real]  # (tokens, C): the LayerNorm's output before γ and β
print(f"per token after LN: largest |mean| {z.mean(-1).abs().max():.1e}, largest |var − 1| "
      f"{(z.var(-1, unbiased=False) - 1).abs().max():.1e}")  # fmt: skip
assert_close(z.mean(-1), torch.zeros(len(z)), "fp32_op")
assert_close(z.var(-1, unbiased=False), torch.ones(len(z)), "fp32_op")

# %% [markdown]
# ## 3. GELU, exact and tanh
#
# The feed-forward's non-linearity is GELU (Hendrycks & Gimpel 2016): the input times the
# probability that a standard normal variable is below it,
#
# $$\mathrm{GELU}(x) = x\,\Phi(x) = \tfrac12 x\big(1 + \mathrm{erf}(x/\sqrt2)\big)
#   \approx \tfrac12 x\Big(1 + \tanh\big(\sqrt{2/\pi}\,(x + 0.044715\,x^3)\big)\Big).$$
#
# Like ReLU it passes large positive inputs and silences large negative ones, but smoothly, with a
# small negative dip. The tanh form is the cheaper approximation proposed in the same paper
# (GPT-2 uses it). A checkpoint names the one it was trained with in `config.json` (`"gelu"`
# exact, `"gelu_new"` tanh), and `minisbert.model.activation(name)` returns it. First both
# against the reference, in float64:

# %%
grid = np.linspace(-6, 6, 12001)  # step 0.001
exact = activation("gelu")(torch.from_numpy(grid)).numpy()  # float64
approx = activation("gelu_new")(torch.from_numpy(grid)).numpy()
assert_close(exact, ref.gelu(grid), "float64")
assert_close(approx, ref.gelu_tanh(grid), "float64")

gap = exact - approx  # (12001,)
worst = int(np.abs(gap).argmax())
print(f"largest |exact − tanh| = {abs(gap[worst]):.2e} at x = {grid[worst]:.2f}")
print(f"GELU's dip: minimum {exact.min():.4f} at x = {grid[exact.argmin()]:.2f}")
assert abs(abs(gap[worst]) - 4.73e-4) < 5e-6 and abs(abs(grid[worst]) - 2.70) < 0.01
assert_close(gap, gap[::-1], "float64")  # the gap is even: both satisfy g(x) − g(−x) = x
assert abs(exact.min() - -0.170) < 5e-4 and abs(grid[exact.argmin()] - -0.75) < 0.01
assert int(abs(gap[worst]) / TOLERANCES["fp32_model"][0]) == 47  # atol of a whole fp32 model

# %% [markdown]
# The two forms differ by at most 4.73·10⁻⁴, at x ≈ ±2.70 (the gap is even because both forms
# satisfy $g(x) - g(-x) = x$). That is tiny, but 47 times the "fp32_model" tolerance: whether it
# shows in a whole model's output when a checkpoint is run with the wrong one is tutorial 05's
# exercise 4.

# %%
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4))
ax.plot(grid, np.maximum(grid, 0), color="lightgray", lw=3, label="ReLU, max(x, 0)")
ax.plot(grid, exact, label="GELU exact, x Φ(x)")
ax.plot(grid, approx, "--", label="GELU tanh approximation")
ax.set_xlim(-4, 4)
ax.set_ylim(-0.5, 4)
ax.set_xlabel("x")
ax.set_ylabel("activation")
ax.set_title("GELU: a smooth ReLU with a dip of −0.17 at x ≈ −0.75")
ax.legend()
ax2.plot(grid, gap)
ax2.plot(grid[[worst, -1 - worst]], gap[[worst, -1 - worst]], "o", color="tab:red")
ax2.annotate(
    f"{gap[worst]:.2e} at x = ±{abs(grid[worst]):.2f}",
    (grid[worst], gap[worst]),
    xytext=(-1.5, 0.9 * gap[worst]),
)
ax2.axhline(0, color="k", lw=0.5)
ax2.set_xlabel("x")
ax2.set_ylabel("exact − tanh")
ax2.set_title("their difference: at most 4.7e-4")
fig.tight_layout()
save_figure(fig, "04_gelu.png")

# %% [markdown]
# ## 4. The feed-forward block
#
# After attention has mixed the tokens, each token is processed alone by a two-layer network that
# widens C = 384 to I = 1536 features and back (Vaswani et al., eq. 2, with GELU for ReLU):
#
# $$\mathrm{FFN}(x) = \mathrm{GELU}(x W_1^\top + b_1)\,W_2^\top + b_2 .$$
#
# The first half is `BertIntermediate` (`intermediate.dense` in the checkpoint) and the reference's
# `intermediate`; the second half, $W_2$, is the `dense` of the layer's second `BertAddNorm`
# (`layer.output`), which adds the residual and normalises. Most of the 1536 units are off for a
# given token: in layer 0 about three quarters get a negative input, which GELU sends to
# [−0.17, 0).

# %%
with torch.inference_mode():
    pre = layer0.intermediate.dense(x1)  # (B, T, I), before GELU
    h = layer0.intermediate(x1)  # (B, T, I) = GELU(x1 W1ᵀ + b1)
    x2 = layer0.output(h, residual=x1)  # (B, T, C) = LN(x1 + h W2ᵀ + b2)
    assert torch.equal(x2, layer0(x, mask))  # these steps are all of BertLayer
h_ref = ref.intermediate(params, "encoder.layer.0.", x1.double().numpy(), config)  # (B, T, I)
x2_ref = ref.add_norm(params, "encoder.layer.0.output.", h.double().numpy(), x1.double().numpy(), config)
print(
    "intermediate: torch vs numpy",
    max_differences(h, h_ref),
    "\noutput add & norm",
    max_differences(x2, x2_ref),
)
assert_close(h, h_ref, "fp32_layer")  # a product over 384 terms: see reference/compare.py
assert_close(x2, x2_ref, "fp32_layer")
off = float((pre[real] < 0).float().mean())
print(f"layer 0: {off:.0%} of the intermediate units get a negative input; inputs range over "
      f"[{pre[real].min():.1f}, {pre[real].max():.1f}]")  # fmt: skip
assert 0.7 < off < 0.8

# %% [markdown]
# ## 5. Layer by layer, on the real weights
#
# The encoder is that layer six times. Run it one layer at a time: the embeddings, then each
# `model.encoder.layer[i]` with the additive mask; beside it, `reference.model.layer` in float64.
# For every layer we record the length of the token vectors, how big each sub-layer's update is
# next to the residual it is added to ($\lVert \mathrm{Attn}(x) W_O + b_O\rVert / \lVert x\rVert$
# and the same for the FFN), and the largest difference between torch and NumPy. A copy of the
# model in float64 shows where that difference comes from.

# %%
model64 = copy.deepcopy(model).double()  # the same weights, as float64
update = {"attention": [], "feed-forward": []}  # per layer: mean ‖update‖ / ‖residual‖ over real tokens
with torch.inference_mode():
    hidden, hidden64, hidden_ref = [x], [model64.embeddings(ids, types)], [x_ref]  # each (B, T, C)
    mask64 = additive_attention_mask(keep, torch.float64)  # (B, 1, 1, T)
    for i, layer in enumerate(model.encoder.layer):
        h_in = hidden[-1]  # (B, T, C)
        a_out = layer.attention.output.dense(layer.attention.self(h_in, mask))  # (B, T, C)
        mid = layer.attention(h_in, mask)  # (B, T, C), after the first add & norm
        f_out = layer.output.dense(layer.intermediate(mid))  # (B, T, C)
        update["attention"].append(float((a_out[real].norm(dim=-1) / h_in[real].norm(dim=-1)).mean()))
        update["feed-forward"].append(float((f_out[real].norm(dim=-1) / mid[real].norm(dim=-1)).mean()))
        hidden.append(layer(h_in, mask))  # (B, T, C)
        hidden64.append(model64.encoder.layer[i](hidden64[-1], mask64))
        hidden_ref.append(ref.layer(params, i, hidden_ref[-1], mask_ref, config))  # float64
    assert torch.equal(hidden[-1], model(**batch))  # the model is exactly this loop

# Compared on the real tokens: the padding rows are computed too (each padding position attends
# to the real keys) but nothing reads them, and their rounding differs more from CPU to CPU.
names = ["embeddings"] + [f"layer {i}" for i in range(len(model.encoder.layer))]
on_real = list(zip(names, [h[real] for h in hidden], [h[real] for h in hidden64],
                   [r[real.numpy()] for r in hidden_ref], strict=True))  # fmt: skip
fp32_diff = [max_differences(h, r)[0] for _, h, _, r in on_real]
fp64_diff = [max_differences(h64, r)[0] for _, _, h64, r in on_real]
norms = [np.linalg.norm(r, axis=-1) for *_, r in on_real]  # (tokens,) per layer
for (name, *_), d32, d64, n in zip(on_real, fp32_diff, fp64_diff, norms, strict=True):
    print(f"{name:10s}  ‖x‖ mean {n.mean():5.2f}  |fp32 torch − numpy| {d32:.1e}  |fp64 ...| {d64:.1e}")
for _, h, h64, r in on_real:  # each (tokens, C)
    assert_close(h, r, "fp32_model")  # float32: rounding only, through all six layers
    assert_close(h64, r, "float64")  # float64: the same math, to the last digits
mean_norms = np.array([n.mean() for n in norms])
assert ((8 < mean_norms) & (mean_norms < 13)).all()  # post-LN keeps the vectors at one scale
assert max(fp32_diff) < 1e-5 and max(fp64_diff) < 1e-13  # the orders of magnitude quoted below
assert fp32_diff[-1] < 3 * fp32_diff[1]  # the rounding does not compound: layer 5 ends near layer 0
assert max(update["attention"]) < 1 and min(update["feed-forward"]) > 0.5
assert (np.array(update["attention"]) < np.array(update["feed-forward"])).all()  # in every layer

# %% [markdown]
# What the numbers say, and the figure shows:
#
# - The average token vector keeps about the same length, between 8 and 13, through all six layers:
#   each LayerNorm brings the vectors back to a fixed scale (then $\gamma$ sets it), so nothing
#   grows or vanishes from layer to layer.
# - Attention's update is smaller than the residual it is added to (under 1 in every layer), the
#   feed-forward's is larger in every layer and of the same size as the residual (above 0.5):
#   each layer changes the token a good deal, but keeps a lot of what came in.
# - torch in float32 stays within a few 10⁻⁶ of the float64 reference from the embeddings to the
#   last layer, inside the "fp32_model" tolerance (10⁻⁵). The same torch model in float64 agrees
#   to better than 10⁻¹³. So the small gap is float32 rounding, not a different computation, and
#   it does not compound: after six layers it is about where the first layer left it (within 3×).
#   How large exactly depends on your CPU's kernels, so the tolerance was chosen over several kinds
#   of CPU (`reference/compare.py`); and only real tokens are compared, since nothing reads the
#   padding positions and their rounding differs more from CPU to CPU.

# %%
fig, axes = plt.subplots(1, 3, figsize=(15, 4))
axes[0].boxplot(norms, showfliers=False, showmeans=True)  # box: quartiles, line: median, ▲: mean
axes[0].set_xticks(range(1, len(names) + 1), names, rotation=45, ha="right")
axes[0].set_ylabel("‖x_t‖ of a real token")
axes[0].set_title("token length stays at one scale (▲ mean)")
for name, marker in (("attention", "o-"), ("feed-forward", "s-")):
    axes[1].plot(names[1:], update[name], marker, label=name)
axes[1].set_ylim(0, None)
axes[1].tick_params(axis="x", rotation=45)
axes[1].set_ylabel("‖sub-layer output‖ / ‖residual‖ (mean)")
axes[1].set_title("attention changes a token less than the FFN")
axes[1].legend()
axes[2].semilogy(names, fp32_diff, "o-", label="torch float32 − NumPy float64")
axes[2].semilogy(names, fp64_diff, "s-", label="torch float64 − NumPy float64")
axes[2].axhline(TOLERANCES["fp32_model"][0], color="tab:blue", ls="--", lw=1, label='"fp32_model" tolerance')
axes[2].axhline(TOLERANCES["float64"][0], color="tab:orange", ls="--", lw=1, label='"float64" tolerance')
axes[2].tick_params(axis="x", rotation=45)
axes[2].set_ylim(1e-16, 1e-4)
axes[2].set_ylabel("largest |difference| (log scale)")
axes[2].set_title("torch vs the NumPy reference, per layer")
axes[2].legend(fontsize=8)
fig.suptitle("all-MiniLM-L6-v2, layer by layer, on four sentences")
fig.tight_layout()
save_figure(fig, "04_layers.png")

# %% [markdown]
# ## Exercises
#
# 1. Give the first sentence the token type of a second segment (`types = torch.ones_like(ids)`)
#    and run `model.embeddings`. Compute the same with `ref.embeddings` and check them against each
#    other with `assert_close(..., "fp32_op")`. Which of the three tables did you change?
# 2. The largest gap between GELU and ReLU: find where $|x\Phi(x) - \max(x, 0)|$ peaks. (Hint: it
#    is even too, and for x < 0 it is just |GELU|.) Check your answer on `grid` with `ref.gelu` and
#    `ref.relu`: the peak is 0.170 at x ≈ ±0.75.
# 3. Run section 5 with the NumPy reference in float32 (`{k: v.astype(np.float32) for k, v in
#    params.items()}` and `x_ref.astype(np.float32)`, mask included). Is its distance to float64,
#    layer by layer, like torch's? Check each layer with `assert_close(..., "fp32_model")`.
# 4. Pre-LN: write `x + attn(LN(x))`, `x + ffn(LN(x))` with the same weights for layer 0 and
#    compare the length of its output vectors with post-LN's. Why can pre-LN's grow from layer to
#    layer, and post-LN's not? Check: your pre-LN output is *not* close to `hidden[1]`
#    (`max_differences(...)[0] > 1`): the weights were trained for post-LN.
