# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 08 · Backprop by hand: one SBERT training step, derived and checked
#
# SBERT fine-tunes BERT as a *siamese* network: both sentences of a pair go through the same
# encoder, and a loss compares their embeddings u and v. This tutorial takes one batch of STS
# pairs through the regression objective $\frac1B\sum_i(\cos(u_i, v_i) - s_i)^2$ and computes the
# gradient of every weight twice: with PyTorch's autograd, and with the hand-derived backward
# passes of `reference/`, in NumPy, called one by one so that you see the chain. Two links of that
# chain are derived here in full: the loss's own gradient, and LayerNorm's backward, line by
# line. Then one AdamW step both ways, and a short run of `minisbert.training.fit`, with what its
# dev numbers do and do not tell you.
#
# Read first: tutorials 01, 04 (LayerNorm) and 07 (the losses), then `reference/training.py`
# (`regression_step`), `reference/sentence_encoder.py` and the `*_backward` functions of
# `reference/model.py`. Needs the STS benchmark (`stsbenchmark/sts-train.csv` and `sts-dev.csv`
# under `$MINISBERT_DATA`, see `common.py`). Sections 1 to 6 are the same in both modes (6 pairs,
# float64). Section 7 trains: the fast mode (`MINISBERT_FAST=1`) takes 6 optimizer steps on 96
# pairs and measures on 200 dev pairs, a smoke test of the loop (section 7 says what it can and
# cannot show); the full mode trains the paper's whole epoch and measures all 1,500 dev pairs,
# about 5 minutes. Tutorial 09 looks at that run in depth.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from common import FAST, data_file, save_figure

from minisbert import SentenceEncoder
from minisbert.data import TokenizedColumns, read_sts
from minisbert.evaluation import encode_pairs, spearman
from minisbert.losses import CosineSimilarityLoss, cosine_similarity_loss
from minisbert.optimizer import build_optimizer
from minisbert.pretrained import default_model_folder
from minisbert.training import Objective, TrainingConfig, fit
from reference import losses as ref_losses
from reference import model as ref_model
from reference import training as ref_training
from reference.compare import TOLERANCES, assert_close, max_differences
from reference.pretrained import load_config, load_params
from reference.sentence_encoder import sentence_embeddings_backward, sentence_embeddings_forward

train_pairs = read_sts(data_file("stsbenchmark/sts-train.csv"))
dev_pairs = read_sts(data_file("stsbenchmark/sts-dev.csv"))
batch_pairs = train_pairs[100:106]  # B = 6 pairs
scores = np.array([p.score / 5 for p in batch_pairs])  # (B,), gold similarity in [0, 1]

# %% [markdown]
# ## 1. The loss, twice
#
# Both sides in float64, so that any difference is a mistake and not rounding, and in eval mode
# (no dropout), so that both compute the same function. all-MiniLM-L6-v2 mean-pools and then
# normalises its embeddings to unit length. On the NumPy side, `sentence_embeddings_forward` runs
# the encoder, the pooling and the normalisation, and returns a *cache*: what the backward will
# need (inputs, normalised values, attention probabilities, ...).

# %%
encoder = SentenceEncoder.from_pretrained().double().eval()
a = encoder.tokenizer([p.sentence1 for p in batch_pairs])  # input_ids, attention_mask, ...: (B, T)
b = encoder.tokenizer([p.sentence2 for p in batch_pairs])
u_t, v_t = encoder(**a), encoder(**b)  # (B, D) each
u_t.retain_grad(), v_t.retain_grad()  # keep d loss / d u for section 2
loss = cosine_similarity_loss(u_t, v_t, torch.tensor(scores))
loss.backward()
torch_grads = {n.removeprefix("model."): p.grad.numpy() for n, p in encoder.named_parameters()}

params, config = load_params(default_model_folder()), load_config(default_model_folder())
modes, normalize = encoder.pooling.modes, encoder.normalize
assert modes == ("mean",) and normalize
np_a, np_b = ({k: x.numpy() for k, x in batch.items()} for batch in (a, b))
u, cache_u = sentence_embeddings_forward(
    params, np_a["input_ids"], np_a["attention_mask"], config, modes, normalize, np_a["token_type_ids"]
)  # (B, D)
v, cache_v = sentence_embeddings_forward(
    params, np_b["input_ids"], np_b["attention_mask"], config, modes, normalize, np_b["token_type_ids"]
)  # (B, D)
np_loss, loss_cache = ref_losses.cosine_similarity_loss_forward(u, v, scores)
print(f"loss: torch {loss.item():.12f}  numpy {np_loss:.12f}")
assert_close(u_t, u, "float64")
assert_close(loss, np_loss, "float64")

# %% [markdown]
# ## 2. The first link, by hand: the loss's gradient
#
# The chain starts at the loss. With $c_i = u_i \cdot v_i / (\lVert u_i\rVert \lVert v_i\rVert)$,
#
# $$\frac{\partial \mathcal{L}}{\partial c_i} = \frac{2 (c_i - s_i)}{B}, \qquad
#   \frac{\partial c_i}{\partial u_i} = \frac{v_i}{\lVert u_i\rVert \lVert v_i\rVert}
#   - c_i \frac{u_i}{\lVert u_i\rVert^2}$$
#
# (the quotient rule, with $\partial (u \cdot v)/\partial u = v$ and $\partial \lVert u\rVert /
# \partial u = u / \lVert u\rVert$), and the same with u and v swapped. Pair i's loss depends on
# $u_i$ and $v_i$ only, so each row gets its own gradient. Written out in NumPy, then checked
# against `reference.losses` and against autograd's gradients `u_t.grad` and `v_t.grad` (kept by
# `retain_grad` in section 1). Here $s_i$ is pair i's gold score divided by 5, in [0, 1]. The
# embeddings of all-MiniLM-L6-v2 are normalised, so $\lVert u_i\rVert = \lVert v_i\rVert = 1$ here, but the
# general form is kept: it is what a model without normalisation needs.


# %%
def cosine_gradients_by_hand(u, v, scores):
    """d loss / d u and d loss / d v of the regression loss: (B, D), (B, D), (B,) → (B, D) each."""
    # BEGIN EXERCISE cosine_backward
    nu, nv = np.linalg.norm(u, axis=1), np.linalg.norm(v, axis=1)  # (B,) each
    c = (u * v).sum(1) / (nu * nv)  # (B,)
    dc = 2 * (c - scores) / len(c)  # (B,): d loss / d c_i
    du = dc[:, None] * (v / (nu * nv)[:, None] - c[:, None] * u / (nu**2)[:, None])  # (B, D)
    dv = dc[:, None] * (u / (nu * nv)[:, None] - c[:, None] * v / (nv**2)[:, None])  # (B, D)
    return du, dv
    # END EXERCISE cosine_backward


du, dv = cosine_gradients_by_hand(u, v, scores)  # (B, D) each
ref_grads = ref_losses.cosine_similarity_loss_backward(loss_cache)  # {"u": (B, D), "v": (B, D)}
assert_close(du, ref_grads["u"], "float64")
assert_close(dv, ref_grads["v"], "float64")
assert_close(du, u_t.grad, "float64")
assert_close(dv, v_t.grad, "float64")
print(f"d loss / d u by hand vs autograd: max |diff| = {max_differences(du, u_t.grad)[0]:.1e}")

# %% [markdown]
# ## 3. Back through the encoder, and the two sentences add up
#
# From there each sentence's gradient runs back through the steps of its forward, in reverse:
# `l2_normalize_backward`, `mean_pooling_backward` (each token gets 1/n of it), then per layer,
# from the last to the first, `add_norm_backward` → `intermediate_backward` → `add_norm_backward`
# → `self_attention_backward`, and finally `embeddings_backward`, which scatters each token's
# gradient into the rows of the embedding tables it read. `sentence_embeddings_backward` makes
# those calls. The encoder is *one* set of weights used twice (siamese), so each weight's
# gradient is the **sum** of what the u side and the v side send back. That sum, compared with
# autograd for all 101 weight tensors:

# %%
grads_u = sentence_embeddings_backward(du, cache_u)  # {weight name: gradient} from the u side
grads_v = sentence_embeddings_backward(dv, cache_v)  # and from the v side
np_grads = {name: grads_u[name] + grads_v[name] for name in grads_u}  # shared weights: add
assert set(np_grads) == set(torch_grads) and len(torch_grads) == 101
for name in torch_grads:
    assert_close(np_grads[name], torch_grads[name], "float64")
gaps = {name: max_differences(np_grads[name], torch_grads[name])[0] for name in torch_grads}
worst = max(gaps, key=gaps.get)
print(f"{len(torch_grads)} weights; largest |numpy − torch| {gaps[worst]:.1e} ({worst})")

step_loss, step_grads = ref_training.regression_step(params, config, np_a, np_b, scores, modes, normalize)
assert step_loss == np_loss and all((step_grads[n] == np_grads[n]).all() for n in np_grads)  # the same calls

# %% [markdown]
# `reference.training.regression_step` is exactly these calls in one function: the tests and
# the assignment use it.
#
# ## 4. A gradient that is exactly zero: the attention key bias
#
# A key is $k_j = W_K x_j + b_K$, and query i scores key j with $q_i \cdot k_j / \sqrt{d}$
# $= q_i \cdot W_K x_j / \sqrt{d} + q_i \cdot b_K / \sqrt{d}$. The second term is the same for
# every j: it adds one constant to the whole row of scores, and a softmax does not change when a
# constant is added to a whole row ($e^{s_j + c} / \sum_k e^{s_k + c} = e^{s_j} / \sum_k e^{s_k}$).
# So the loss does not depend on $b_K$ at all, and its gradient is zero: both libraries compute
# rounding noise there, far below the float64 tolerance. The query bias has no such luck:
# $b_Q \cdot k_j$ differs from key to key.

# %%
row = np.random.default_rng(0).normal(size=7)  # one row of attention scores
assert_close(ref_model.softmax(row + 3.7), ref_model.softmax(row), "float64")
key_biases = [f"encoder.layer.{i}.attention.self.key.bias" for i in range(config.num_hidden_layers)]
for grads in (torch_grads, np_grads):
    for key_bias in key_biases:
        assert_close(grads[key_bias], np.zeros(config.hidden_size), "float64")
noise = max(np.abs(grads[k]).max() for grads in (torch_grads, np_grads) for k in key_biases)
query = np.abs(np_grads["encoder.layer.0.attention.self.query.bias"]).max()
print(f"key biases: largest |gradient| {noise:.1e} (rounding); query bias of layer 0: {query:.1e}")
assert query > TOLERANCES["float64"][0]  # a real gradient, far above the noise

# %% [markdown]
# ## 5. LayerNorm's backward, derived line by line
#
# `layer_norm_backward` runs 13 times per sentence in the backward above (once in the embeddings, twice per
# layer). Its forward normalises each token vector over its C features:
#
# $$\mu = \tfrac1C \textstyle\sum_c x_c, \quad \sigma^2 = \tfrac1C \sum_c (x_c - \mu)^2, \quad
#   r = (\sigma^2 + \epsilon)^{-1/2}, \quad \hat x = (x - \mu)\, r, \quad y = \hat x \odot w + b.$$
#
# To go back, walk the forward in reverse, one line at a time: each line sends its output's
# gradient to its inputs, times its local derivative. A value used by two later lines (x feeds μ
# and x − μ; x − μ feeds σ² and x̂) collects the sum of both.
#
# We try it on the real input of the first LayerNorm, with the real weights. That input is the
# *embedding sums* of the u batch: for each token, the row of the word table for its id, plus the
# row of the position table for its place, plus the row of the token-type table for its segment.
# `embedding_sums` computes them; the check below it confirms that LayerNorm of those sums is
# what the reference's embeddings layer returns. The upstream gradient dy is random: any dy will
# do to compare the backward with the reference and autograd.

# %%
assert sum(name.endswith("LayerNorm.weight") for name in params) == 1 + 2 * config.num_hidden_layers == 13


def embedding_sums(params, input_ids, token_type_ids):
    """word[ids] + position[0..T-1] + token_type[segments], the input of the embeddings' LayerNorm:
    (B, T) → (B, T, C)."""
    # BEGIN EXERCISE embeddings
    e, T = "embeddings.", input_ids.shape[1]
    return (
        params[e + "word_embeddings.weight"][input_ids]  # (B, T, C)
        + params[e + "position_embeddings.weight"][:T]  # (T, C)
        + params[e + "token_type_embeddings.weight"][token_type_ids]  # (B, T, C)
    )
    # END EXERCISE embeddings


x = embedding_sums(params, np_a["input_ids"], np_a["token_type_ids"])  # (B, T, C)
e = "embeddings."
w, bias, eps = params[e + "LayerNorm.weight"], params[e + "LayerNorm.bias"], config.layer_norm_eps
embeddings_out, _ = ref_model.embeddings_forward(params, np_a["input_ids"], np_a["token_type_ids"], config)
assert_close(ref_model.layer_norm(x, w, bias, eps), embeddings_out, "float64")  # (B, T, C) both
dy = np.random.default_rng(0).normal(size=x.shape)  # (B, T, C): a random stand-in for d loss / d y
C = x.shape[-1]

# BEGIN EXERCISE layer_norm
# forward, one operation a line
mu = x.mean(-1, keepdims=True)  # (B, T, 1)
xc = x - mu  # (B, T, C)
var = (xc**2).mean(-1, keepdims=True)  # (B, T, 1)
r = 1 / np.sqrt(var + eps)  # (B, T, 1)
xhat = xc * r  # (B, T, C)
y = xhat * w + bias  # (B, T, C)

# backward, the same lines bottom-up
dbias = dy.sum((0, 1))  # (C,): y = ... + b
dw = (dy * xhat).sum((0, 1))  # (C,): y = x̂ w + ...
dxhat = dy * w  # (B, T, C)
dxc = dxhat * r  # (B, T, C): x̂ = xc · r, through xc ...
dr = (dxhat * xc).sum(-1, keepdims=True)  # (B, T, 1): ... and through r
dvar = dr * -0.5 * (var + eps) ** -1.5  # (B, T, 1): r = (σ² + ε)^(−1/2)
dxc += dvar * 2 * xc / C  # (B, T, C): σ² = mean(xc²), xc's second use
dx = dxc.copy()  # (B, T, C): xc = x − μ, through x ...
dmu = -dxc.sum(-1, keepdims=True)  # (B, T, 1): ... and through μ
dx += dmu / C  # (B, T, C): μ = mean(x), x's second use

y_ref, ln_cache = ref_model.layer_norm_forward(x, w, bias, eps)
dx_ref, dw_ref, db_ref = ref_model.layer_norm_backward(dy, ln_cache)
assert_close(y, y_ref, "float64")
for mine, theirs in ((dx, dx_ref), (dw, dw_ref), (dbias, db_ref)):
    assert_close(mine, theirs, "float64")

x_t, w_t, b_t = (torch.tensor(t, requires_grad=True) for t in (x, w, bias))
F.layer_norm(x_t, (C,), w_t, b_t, eps).backward(torch.tensor(dy))
for mine, theirs in ((dx, x_t.grad), (dw, w_t.grad), (dbias, b_t.grad)):
    assert_close(mine, theirs, "float64")

h = 1e-6  # central difference on one input element: (f(x + h) − f(x − h)) / 2h, f = Σ dy · y
bump = np.zeros_like(x)
bump[0, 1, 5] = h
f = lambda x: (dy * ref_model.layer_norm(x, w, bias, eps)).sum()  # noqa: E731
assert_close((f(x + bump) - f(x - bump)) / (2 * h), dx[0, 1, 5], "finite_difference")
print(
    "LayerNorm dx by hand vs reference / autograd:",
    f"{max_differences(dx, dx_ref)[0]:.1e} / {max_differences(dx, x_t.grad)[0]:.1e}",
)
# END EXERCISE layer_norm

# %% [markdown]
# `reference/model.py` folds the eight backward lines that lead to dx into one formula.
# Substituting them into each other (with $g = dy \odot w$):
#
# $$dx = r \left(g - \overline{g} - \hat x\, \overline{g \hat x}\right),$$
#
# where the bars are means over the C features. Without the two mean terms it would be the
# backward of a plain scaling by r; they are there because μ and r depend on every $x_c$. A
# consequence you can check: each token's dx sums to zero over its features (shifting x by a
# constant does not change y, so no gradient points that way).

# %%
# BEGIN EXERCISE layer_norm
assert_close(dx.sum(-1), np.zeros(dx.shape[:2]), "float64")
# END EXERCISE layer_norm

# %% [markdown]
# ## 6. One AdamW step, twice
#
# AdamW keeps a running mean m and mean square v of each gradient, and moves each weight by
# $-\mathrm{lr}\cdot\hat m/(\sqrt{\hat v}+\epsilon)$, after shrinking it by $1-\mathrm{lr}\cdot\lambda$
# (decoupled weight decay), except biases and LayerNorm weights, which BERT does not decay. On
# the torch side `build_optimizer` is the optimizer `fit` uses (fused AdamW, the same parameter
# groups); on the NumPy side `adamw_step` writes it out.

# %%
optimizer = build_optimizer(encoder, [], TrainingConfig(lr=1e-3, weight_decay=0.01))
optimizer.step()  # uses the gradients of section 1
new_params, _ = ref_training.adamw_step(
    params, np_grads, ref_training.adamw_init(params), lr=1e-3, weight_decay=0.01
)
for name, p in encoder.model.named_parameters():
    assert_close(p, new_params[name], "float64")  # all 101, decayed and not
gaps = {name: max_differences(p, new_params[name])[0] for name, p in encoder.model.named_parameters()}
name = "encoder.layer.3.intermediate.dense.weight"
moved = np.abs(new_params[name] - params[name]).max()
print(f"after one step: largest |numpy − torch| {max(gaps.values()):.1e}; {name} moved by up to {moved:.1e}")

# %% [markdown]
# ## 7. A fine-tuning run with `fit`, and what its dev numbers say
#
# Now in float32 and with dropout, as training really runs, with the paper's settings (batch
# 16, lr 2e-5, 10% warm-up). We measure on sts-dev before and after, two ways: the loss itself
# (the mean squared error of cos against gold / 5, on pairs the model never trained on), and
# Spearman's rank correlation, the benchmark's metric. They answer different questions. The
# squared error splits exactly into $(\text{mean error})^2 + \text{variance of the error}$. A
# shift of *all* cosines up or down changes the first term, and the ranking, hence Spearman, not
# at all. all-MiniLM-L6-v2's cosines sit above gold / 5 on average (an *offset*), and the first
# steps mostly remove it: the dev loss falls at once; the ranking takes the whole epoch.
#
# So the two modes show different things. **Fast mode** (6 steps on 96 pairs, 200 dev pairs) is a
# smoke test of the loop: the dev loss and the offset must fall, and Spearman barely moves, in
# either direction (a few noisy steps on a model that is already good; the first of the 6 even has
# learning rate 0, where the warm-up starts). **Full mode** trains the whole epoch (5,749 pairs,
# 359 steps, about 5 minutes) and measures all 1,500 dev pairs: there the variance falls too, and
# Spearman rises.

# %%
encoder = SentenceEncoder.from_pretrained()
n_train, n_dev = (96, 200) if FAST else (len(train_pairs), len(dev_pairs))
train, dev = train_pairs[:n_train], dev_pairs[:n_dev]
first, second = [p.sentence1 for p in train], [p.sentence2 for p in train]
data = TokenizedColumns(encoder.tokenizer, [first, second], [p.score / 5 for p in train])
gold = np.array([p.score / 5 for p in dev])  # (N,)


def dev_numbers(encoder) -> dict:
    first, second = [p.sentence1 for p in dev], [p.sentence2 for p in dev]
    u, v = encode_pairs(encoder, first, second, batch_size=32)  # (N, D) each, unit length
    err = (u.astype(np.float64) * v).sum(1) - gold  # (N,): cos − gold / 5
    numbers = {"loss": (err**2).mean(), "offset": err.mean(), "variance": err.var()}
    assert_close(numbers["loss"], numbers["offset"] ** 2 + numbers["variance"], "float64")
    return numbers | {"spearman": spearman(err + gold, gold), "errors": err}


before = dev_numbers(encoder)
objective = Objective("regression", data, CosineSimilarityLoss())
log = fit(encoder, [objective], TrainingConfig(), show_progress=False)  # the paper's settings
after = dev_numbers(encoder)
print(f"{len(log['train'])} steps on {n_train} pairs; sts-dev, {n_dev} pairs:")
for key in ("loss", "offset", "variance", "spearman"):
    print(f"  {key:9s} {before[key]:.4f} → {after[key]:.4f}")
assert log["train"][0]["lr"] == 0.0  # the warm-up starts at 0
assert after["loss"] < before["loss"] and 0 < after["offset"] < before["offset"]
if FAST:
    assert abs(after["spearman"] - before["spearman"]) < 0.005  # 6 steps barely move the ranking
else:
    assert after["variance"] < before["variance"] and after["spearman"] > before["spearman"]

steps = [entry["step"] for entry in log["train"]]
marker = "o" if FAST else None  # 6 steps: show each one
fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 4))
ax1.plot(steps, [entry["loss"]["regression"] for entry in log["train"]], marker=marker, lw=0.8)
ax1.set(xlabel="step", ylabel="loss of the batch", title="regression loss per training batch")
ax2.plot(steps, [entry["lr"] * 1e5 for entry in log["train"]], marker=marker)
ax2.set(xlabel="step", ylabel="learning rate (× 1e-5)", title="10% warm-up from 0, then linear decay")
bins = np.linspace(-0.45, 0.45, 37)
for numbers, label, colour in ((before, "before", "C7"), (after, "after", "C3")):
    label = f"{label}: mean {numbers['offset']:+.3f}"
    ax3.hist(numbers["errors"], bins=bins, color=colour, alpha=0.5, label=label)
    ax3.axvline(numbers["offset"], color=colour, lw=2)
ax3.axvline(0, color="k", lw=0.8, ls=":")
ax3.set(xlabel="cos(u, v) − gold / 5", ylabel="dev pairs", title=f"sts-dev, {n_dev} pairs: errors shift to 0")
ax3.legend(fontsize=8)
fig.tight_layout()
save_figure(fig, "08_training.png")

# %% [markdown]
# ## Exercises
#
# 1. Mean pooling's backward by hand: with n real tokens, $u = \frac1n \sum_t m_t h_t$, so
#    $\partial \mathcal{L}/\partial h_t = m_t\, du / n$. Write it in NumPy for `cache_u` of section 1
#    (`cache_u.hidden`, `cache_u.attention_mask`) and an upstream gradient of shape (B, C), and
#    check it against `reference.pooling.mean_pooling_backward(dout, hidden, mask)` ("float64").
# 2. Derive the backward of `l2_normalize` ($\hat x = x / \lVert x\rVert$) line by line as in
#    section 5, and check it against `reference.pooling.l2_normalize_backward` and autograd. Then
#    explain why the result is perpendicular to $\hat x$ (assert it).
# 3. A finite difference through the whole encoder: bump one element of
#    `params["encoder.layer.5.output.dense.bias"]` by ±1e-6, recompute the loss with
#    `ref_training.regression_step`, and compare the central difference with `np_grads`
#    (`assert_close(..., "finite_difference")`). Then bump a key bias: what do you get, and why?
# 4. The classification objective: with `head = SoftmaxLoss(384, 3).double()`, run
#    `ref_training.classification_step` (the head's weights as `params["classifier.weight"]` and
#    `params["classifier.bias"]`) on the batch of section 1 with SICK-style labels, and check its
#    gradients against autograd on `head(encoder(**a), encoder(**b), labels)`, "float64".
