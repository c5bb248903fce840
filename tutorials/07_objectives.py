# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 07 · The four objectives: classification, regression, triplet, MNRL
#
# A loss says how the embeddings should move. Sentence-BERT trains with three objectives
# (section 3 of the paper): a softmax classifier over (u, v, |u−v|), a regression of cos(u, v)
# onto the gold score, and a triplet loss. Today's models, all-MiniLM-L6-v2 among them, train
# with a fourth: the multiple negatives ranking loss (MNRL), where the other sentences of the batch
# are the negatives. This tutorial draws each loss's gradient on 2-D points you can check by
# hand, then computes all four on real embeddings of STS and SICK sentences, checks every
# gradient against the hand-derived NumPy backward passes, and shows what the triplet margin and
# the MNRL scale do.
#
# Read first: tutorials 01 and 06, then `minisbert/losses.py` and `reference/losses.py` (each
# loss has a `*_forward` and a `*_backward` there). Needs the data sets (STS benchmark and SICK,
# from `$MINISBERT_DATA`, see `common.py`). Runs in seconds in both modes; the full mode measures
# the margin on all 1,109 SICK triplets instead of the 96 of the test split.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from common import FAST, data_file, save_figure

from minisbert import SentenceEncoder, losses
from minisbert.data import SICK_LABELS, read_sick, read_sts, sick_triplets, split_sick
from minisbert.evaluation import encode_columns, pair_scores
from minisbert.losses import SoftmaxLoss, multiple_negatives_ranking_loss, softmax_loss, triplet_loss
from reference import losses as ref
from reference.compare import assert_close, max_differences


def check(name: str, inputs: dict, **constants):
    """Run the loss `name` twice, in float64: `minisbert.losses.<name>` with torch autograd, and
    `reference.losses.<name>_forward` then `<name>_backward`, the NumPy mirror with hand-derived
    gradients. `inputs` are the arrays to differentiate, `constants` the rest (labels, scores,
    margin, scale), both by argument name: the two files use the same names. Asserts that the
    losses and every gradient agree; returns (loss, {input name: d loss / d input})."""
    xs = {k: torch.tensor(x, dtype=torch.float64, requires_grad=True) for k, x in inputs.items()}
    consts = {k: torch.as_tensor(c) if isinstance(c, np.ndarray) else c for k, c in constants.items()}
    loss = getattr(losses, name)(**xs, **consts)  # minisbert, torch
    loss.backward()  # autograd fills x.grad
    ref_loss, cache = getattr(ref, f"{name}_forward")(**inputs, **constants)  # NumPy
    ref_grads = getattr(ref, f"{name}_backward")(cache)  # derived by hand
    assert_close(loss.item(), ref_loss, "float64")
    grads = {k: x.grad.numpy() for k, x in xs.items()}
    for k in grads:
        assert_close(grads[k], ref_grads[k], "float64")
    worst = max(max_differences(grads[k], ref_grads[k])[0] for k in grads)
    print(f"{name}: loss {loss.item():.4f}; d/d({', '.join(grads)}) vs NumPy: max |diff| {worst:.1e}")
    return loss.item(), grads


# %% [markdown]
# ## 1. Classification: a softmax over (u, v, |u−v|)
#
# SBERT's first objective (eq. 1 of the paper) concatenates u, v and |u−v| and feeds them to a
# classifier with its own trainable weights $W \in \mathbb{R}^{K \times 3D}$:
#
# $$o = \mathrm{softmax}\big(W\,(u, v, |u-v|) + b\big), \qquad \mathcal{L} = -\log o_{y}.$$
#
# The embeddings only move through W, so where they go depends on what W has learnt. Here we set
# W by hand to say "entailment = small |u−v|, contradiction = large": row 0 weighs |u−v| by −2,
# row 2 by +2, row 1 (neutral) is zero. Pair A is labelled ENTAILMENT, pair B CONTRADICTION.
# A pair with u = v has |u−v| = 0, so all three logits are 0 and the loss is log 3 ≈ 1.0986.

# %%
W = np.array([[0, 0, 0, 0, -2, -2], [0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 2, 2]], dtype=float)  # (K, 3D)
b = np.zeros(3)  # (K,)
u2 = np.array([[1.0, 1.0], [-1.0, -0.5]])  # (B, D) = (2, 2): pair A, pair B
v2 = np.array([[1.5, 0.0], [-1.3, -0.8]])  # (B, D)
labels2 = np.array([SICK_LABELS.index("ENTAILMENT"), SICK_LABELS.index("CONTRADICTION")])  # (B,)
_, g_cls = check("softmax_loss", {"u": u2, "v": v2, "weight": W, "bias": b}, labels=labels2)
same, W_t, b_t = torch.tensor(u2), torch.tensor(W), torch.tensor(b)
assert_close(softmax_loss(same, same, torch.tensor(labels2), W_t, b_t), math.log(3), "float64")  # u = v

head = SoftmaxLoss(dim=2, num_labels=3).double()  # the module holds W and b: training updates them
with torch.no_grad():
    head.classifier.weight.copy_(W_t)
    head.classifier.bias.zero_()
module_loss = head(torch.tensor(u2), torch.tensor(v2), torch.tensor(labels2))
assert_close(module_loss, ref.softmax_loss(u2, v2, labels2, W, b), "float64")

# %% [markdown]
# ## 2. Regression: cos(u, v) onto the gold score
#
# $$\mathcal{L} = \frac1B \sum_i \big(\cos(u_i, v_i) - s_i\big)^2$$
#
# By hand, for pair A, u = (1, 0), v = (0, 1), gold s = 1 in a batch of B = 2: cos = 0, so
# ∂L/∂cos = 2 (0 − 1) / 2 = −1, and ∂cos/∂u = v/(‖u‖‖v‖) − cos · u/‖u‖² = (0, 1): the gradient
# on u is (0, −1), and a descent step moves u *towards* v. Pair B, u = (−2, 0), v = (−1, −1),
# has cos = 1/√2 but gold 0: they are pushed apart. The loss is (1 + 1/2)/2 = 0.75.
# The cosine does not see the length of u, so its gradient is always perpendicular to u: u·∇u = 0.

# %%
u2r = np.array([[1.0, 0.0], [-2.0, 0.0]])  # (B, D)
v2r = np.array([[0.0, 1.0], [-1.0, -1.0]])  # (B, D)
gold2 = np.array([1.0, 0.0])  # (B,), the gold score in [0, 1]
loss, g_reg = check("cosine_similarity_loss", {"u": u2r, "v": v2r}, scores=gold2)
assert_close(loss, 0.75, "float64")
assert_close(g_reg["u"][0], [0.0, -1.0], "float64")  # worked out above
assert_close((g_reg["u"] * u2r).sum(-1), np.zeros(2), "float64")  # perpendicular to u
assert_close((g_reg["v"] * v2r).sum(-1), np.zeros(2), "float64")  # and to v

# %% [markdown]
# ## 3. Triplet: the positive closer than the negative, by a margin
#
# $$\mathcal{L} = \frac1B\sum_i \max\big(\lVert a_i - p_i\rVert - \lVert a_i - n_i\rVert
#   + \varepsilon,\ 0\big), \qquad \varepsilon = 1 \text{ in the paper.}$$
#
# Triplet 1: a = (0, 0), p = (1.2, 0.9) at distance 1.5, n = (0.8, −0.6) at distance 1. The
# hinge is 1.5 − 1 + 1 = 1.5 > 0: *active*. The gradient of ‖a − p‖ is the unit vector
# (a − p)/‖a − p‖, so with weight 1/B = 1/2 the anchor gets 0.5·(−0.8, −0.6) − 0.5·(−0.8, 0.6) =
# (0, −0.6): it moves up, towards p and away from n. Triplet 2 has its negative 2.5 away and its
# positive 0.5 away: 0.5 − 2.5 + 1 < 0, *inactive*, and it gets no gradient at all. Loss 1.5/2 = 0.75.

# %%
a2 = np.array([[0.0, 0.0], [-2.5, 0.0]])  # (B, D)
p2 = np.array([[1.2, 0.9], [-2.5, 0.5]])  # (B, D)
n2 = np.array([[0.8, -0.6], [-2.5, -2.5]])  # (B, D)
loss, g_tri = check("triplet_loss", {"anchor": a2, "positive": p2, "negative": n2}, margin=1.0)
assert_close(loss, 0.75, "float64")
assert_close(g_tri["anchor"][0], [0.0, -0.6], "float64")
assert all((g[1] == 0).all() for g in g_tri.values())  # the inactive triplet: exactly zero

# %% [markdown]
# ## 4. MNRL: the other positives of the batch are the negatives
#
# Each anchor must pick its own positive out of all B positives, a cross-entropy over scaled
# cosines (Henderson et al. 2017; van den Oord et al. 2018):
#
# $$\mathcal{L} = -\frac1B\sum_i \log \frac{\exp(s\,\cos(a_i, p_i))}{\sum_j \exp(s\,\cos(a_i, p_j))},
# \qquad s = 20.$$
#
# Three pairs on the unit circle: anchors at 0°, 60°, 200°, positives at 30°, 100°, 180°. Anchor 1
# (60°) is closer to positive 0 (30°) than to its own (100°): the gradient pushes them apart.
# Anchors 0 and 2 pick their own positives already, by a wide margin: at scale 20 their rows give
# almost no gradient (less than a millionth of anchor 1's), so all the push goes to the one
# mistake. The embeddings are normalised first, so every gradient is tangent to the circle
# (a·∇a = 0). By hand: two orthogonal pairs with a = p give the scores [[s, 0], [0, s]] and the
# loss log(1 + e^(−s)).


# %%
def on_circle(degrees):
    rad = np.radians(degrees)
    return np.stack([np.cos(rad), np.sin(rad)], axis=1)  # (B, 2)


a2m, p2m = on_circle([0, 60, 200]), on_circle([30, 100, 180])  # (B, D) each
_, g_mnrl = check("multiple_negatives_ranking_loss", {"anchors": a2m, "positives": p2m}, scale=20.0)
assert_close((g_mnrl["anchors"] * a2m).sum(-1), np.zeros(3), "float64")  # tangent
eye = torch.eye(2, dtype=torch.float64)
assert_close(multiple_negatives_ranking_loss(eye, eye, scale=20.0), math.log1p(math.exp(-20.0)), "float64")
size = np.linalg.norm(g_mnrl["anchors"], axis=1)  # (B,)
print("|gradient| on anchors 0, 1, 2:", [f"{x:.1e}" for x in size])
assert size[0] < 1e-6 * size[1] and size[2] < 1e-6 * size[1]

# %% [markdown]
# The four pictures: each arrow is −gradient, the direction one step of gradient descent moves
# that embedding (scaled per panel so that the longest arrow is readable).

# %%
panels = [
    ("classification: A pulled together, B pushed apart", {"u": u2, "v": v2}, g_cls, "AB"),
    ("regression: rotate towards the gold cosine", {"u": u2r, "v": v2r}, g_reg, "AB"),
    ("triplet: a to p, away from n; 2 is inactive", dict(anchor=a2, positive=p2, negative=n2), g_tri, "12"),
    ("MNRL (scale 20): only anchor 1's mistake moves", {"anchors": a2m, "positives": p2m}, g_mnrl, "012"),
]
colours = {"u": "C0", "v": "C1", "anchor": "C0", "positive": "C2", "negative": "C3"}
colours |= {"anchors": "C0", "positives": "C2"}
fig, axes = plt.subplots(2, 2, figsize=(11, 10))
for ax, (title, points, grads, names) in zip(axes.flat, panels, strict=True):
    longest = max(np.linalg.norm(grads[key], axis=1).max() for key in points)
    for key, x in points.items():
        step = -grads[key] / longest * 0.8  # (B, 2): the longest arrow of the panel is 0.8 long
        ax.scatter(*x.T, s=60, color=colours[key], label=key, zorder=3)
        ax.quiver(*x.T, *step.T, angles="xy", scale_units="xy", scale=1, color=colours[key], width=0.006)
        for i, name in enumerate(names):
            ax.annotate(f"{key[0]}{name}", x[i], textcoords="offset points", xytext=(6, 6), fontsize=9)
    if "MNRL" in title or "regression" in title:  # these two only see directions: draw them
        for x in np.concatenate(list(points.values())):
            ax.plot([0, x[0]], [0, x[1]], color="grey", lw=0.6, ls=":")
    ax.set(title=title, xlabel="dimension 1", ylabel="dimension 2", aspect="equal")
    ax.margins(0.25)
    ax.legend(loc="lower right", fontsize=8)
fig.suptitle("arrows: −gradient of each loss on 2-D embeddings (where a descent step moves them)")
fig.tight_layout()
save_figure(fig, "07_objectives_2d.png")

# %% [markdown]
# ## 5. The four losses on real embeddings, against NumPy
#
# Now 384-dimensional embeddings from all-MiniLM-L6-v2 (unit length: the model normalises):
# 16 STS-dev pairs for regression (gold score / 5), 16 SICK test pairs for classification (with a
# fresh, untrained head, so the loss sits near log 3), 16 SICK test triplets (an anchor, a sentence
# it entails, one that contradicts it) for the triplet loss, and for MNRL 16 of those with distinct
# anchors and positives, the contradictions as extra hard negatives. The encoder is frozen here:
# the gradients stop at the embeddings. Tutorial 08 follows them back into the weights.

# %%
encoder = SentenceEncoder.from_pretrained()
sts = read_sts(data_file("stsbenchmark/sts-dev.csv"))[:16]
sick = read_sick(data_file("sick/SICK.txt"))
sick_test = split_sick(sick)["test"][:16]
triplets = sick_triplets(sick)  # {"train": 926, "dev": 87, "test": 96 triplets}
test_triplets = triplets["test"]
assert [len(triplets[k]) for k in ("train", "dev", "test")] == [926, 87, 96]
mnrl_rows, seen = [], set()
for i, t in enumerate(test_triplets):  # MNRL needs distinct anchors and positives: a repeat
    if len(mnrl_rows) < 16 and t.anchor not in seen and t.positive not in seen:  # is a false negative
        mnrl_rows.append(i)
        seen |= {t.anchor, t.positive}


def embed(*columns):
    """Embeddings (N, D) of each column of sentences, as float64 (each distinct sentence once)."""
    return [x.astype(np.float64) for x in encode_columns(encoder, [list(c) for c in columns], 32)]


def embed_triplets(triplets):
    return embed([t.anchor for t in triplets], [t.positive for t in triplets], [t.negative for t in triplets])


u, v = embed([p.sentence1 for p in sts], [p.sentence2 for p in sts])  # (16, 384) each
gold = np.array([p.score / 5 for p in sts])  # (16,)
_, g = check("cosine_similarity_loss", {"u": u, "v": v}, scores=gold)
assert_close((g["u"] * u).sum(-1), np.zeros(len(u)), "float64")  # still perpendicular to u

u, v = embed([p.sentence1 for p in sick_test], [p.sentence2 for p in sick_test])  # (16, 384) each
labels = np.array([p.label for p in sick_test])  # (16,)
torch.manual_seed(0)
head = SoftmaxLoss(dim=u.shape[1], num_labels=len(SICK_LABELS)).double()  # untrained W (3, 3·384)
W, b = head.classifier.weight.detach().numpy(), head.classifier.bias.detach().numpy()
loss, _ = check("softmax_loss", {"u": u, "v": v, "weight": W, "bias": b}, labels=labels)
print(f"  an untrained head: loss {loss:.4f}, log 3 = {math.log(3):.4f}")
assert abs(loss - math.log(3)) < 0.01  # W is small at initialisation: the logits are nearly equal

a_t, p_t, n_t = embed_triplets(test_triplets)  # (96, 384) each
check("triplet_loss", {"anchor": a_t[:16], "positive": p_t[:16], "negative": n_t[:16]}, margin=1.0)

a_m, p_m, n_m = a_t[mnrl_rows], p_t[mnrl_rows], n_t[mnrl_rows]  # (16, 384) each
check("multiple_negatives_ranking_loss", {"anchors": a_m, "positives": p_m, "negatives": n_m}, scale=20.0)

# %% [markdown]
# ## 6. What the margin does: which triplets are active
#
# Write the *slack* of a triplet as $\delta_i = \lVert a_i - n_i\rVert - \lVert a_i - p_i\rVert$,
# how much closer the positive is. The loss is $\frac1B\sum_i \max(\varepsilon - \delta_i, 0)$: a
# triplet is active (has a gradient) exactly when $\delta_i < \varepsilon$. With ε = 0 the active
# triplets are the mistakes, so the active share at ε = 0 is 1 − triplet accuracy (0.740 on the
# SICK test split: 25 of 96 wrong). But these embeddings have unit length, so every distance is at
# most 2 and δ lies in [−2, 2]; SICK's hard triplets all have δ < 1, so at the paper's ε = 1 every
# one of them is active, and at sentence-transformers' default ε = 5 the hinge can never switch
# off: the loss is just ε − mean δ, a straight line.


# %%
def slack_of(a, p, n):
    return np.linalg.norm(a - n, axis=1) - np.linalg.norm(a - p, axis=1)  # (N,)


a, p, n = a_t, p_t, n_t  # the 96 test triplets, and in full mode the 1,013 others too
if not FAST:
    more = embed_triplets(triplets["train"] + triplets["dev"])  # (1013, 384) each
    a, p, n = (np.concatenate([x, y]) for x, y in zip((a_t, p_t, n_t), more, strict=True))
slack, test_slack = slack_of(a, p, n), slack_of(a_t, p_t, n_t)  # (N,), (96,)
assert len(slack) == (96 if FAST else 1109)
# triplet accuracy as `evaluate_triplets` computes it (higher score = closer), on the same embeddings
accuracy = (pair_scores(a_t, p_t)["euclidean"] > pair_scores(a_t, n_t)["euclidean"]).mean()
print(f"test triplets: accuracy {accuracy:.3f}; active at ε = 0: {(test_slack < 0).mean():.3f}")
assert round(accuracy, 3) == 0.740 and (test_slack < 0).sum() == 25
assert_close((test_slack < 0).mean(), 1 - accuracy, "float64")
print(f"{len(slack)} triplets: slack from {slack.min():.3f} to {slack.max():.3f}")
assert np.abs(slack).max() <= 2.0  # unit vectors: every distance is at most 2
assert slack.max() < 1.0  # so at ε = 1 every triplet is active

margins = np.linspace(0, 2.5, 101)
A, P, N = (torch.tensor(x) for x in (a, p, n))
margin_loss = np.array([triplet_loss(A, P, N, margin=m).item() for m in margins])
active = np.array([(slack < m).mean() for m in margins])
assert_close(margin_loss, [np.maximum(m - slack, 0).mean() for m in margins], "float64")
straight = margins >= slack.max()
assert_close(margin_loss[straight], margins[straight] - slack.mean(), "float64")  # the hinge never acts

A.requires_grad_(True)
triplet_loss(A, P, N, margin=0.2).backward()
inactive = slack >= 0.2  # (N,)
print(f"at ε = 0.2: {int((~inactive).sum())} active, {int(inactive.sum())} inactive triplets")
assert (A.grad[inactive] == 0).all() and (A.grad[~inactive].norm(dim=1) > 0).all()

fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4))
ax.hist(slack, bins=30, color="C0")
ax.axvline(0, color="k", ls="--", label="ε = 0: left of it, a mistake")
ax.axvline(1, color="C3", label="ε = 1 (paper): left of it, active")
ax.set(xlabel="slack δ = ‖a−n‖ − ‖a−p‖", ylabel="triplets", title=f"{len(slack)} SICK triplets: slack")
ax.legend(fontsize=8)
ax2.plot(margins, active, color="C0")
ax2.axvline(slack.max(), color="grey", ls=":", label="right of it: loss = ε − mean δ")
ax2.set(xlabel="margin ε", ylabel="share of active triplets", ylim=(0, 1.05))
ax2.set_title("a larger margin: more active triplets, then all")
ax2.legend(loc="lower right", fontsize=8)
ax3 = ax2.twinx()
ax3.plot(margins, margin_loss, color="C3")
ax3.set_ylabel("mean triplet loss", color="C3")
fig.tight_layout()
save_figure(fig, "07_margin.png")

# %% [markdown]
# ## 7. What the MNRL scale does
#
# MNRL turns one anchor's cosine row into probabilities, $\mathrm{softmax}(s \cdot \cos(a_i, p_j))_j$.
# Two candidates' probabilities differ by the factor $e^{s(c_j - c_k)}$, and cosines lie in
# [−1, 1], so at s = 1 that factor is at most $e^2$: the softmax is nearly uniform, the loss stays
# high even when every anchor ranks its own positive first, and it keeps pushing forever. At
# s = 50 it is almost one-hot: rows that are right have no gradient left, and all the push goes to
# the mistakes. Scale 20 (temperature 0.05) sits between. The row shown is the anchor of the MNRL
# batch of section 5 whose closest wrong positive comes nearest to its own. Every anchor of this
# batch ranks its own positive first, so the ranking is the same at every scale: only the loss changes.

# %%
mnrl_cos = a_m @ p_m.T  # (B, B): cosines of unit vectors, anchors × in-batch positives
B = len(mnrl_cos)
wrong = np.where(np.eye(B, dtype=bool), -np.inf, mnrl_cos)  # (B, B), own positives masked out
row = int(np.argmin(np.diag(mnrl_cos) - wrong.max(1)))  # the closest call
A, P = torch.tensor(a_m), torch.tensor(p_m)
scales = [1, 5, 20, 50]
right, batch_loss = [], []
fig, axes = plt.subplots(1, 4, figsize=(15, 3.6), sharey=True)
for ax, s in zip(axes, scales, strict=True):
    probs = torch.softmax(s * torch.tensor(mnrl_cos[row]), dim=0).numpy()  # (B,)
    j, k = np.argsort(mnrl_cos[row])[[-1, 0]]  # the most and the least similar candidate
    assert_close(probs[j] / probs[k], math.exp(s * (mnrl_cos[row, j] - mnrl_cos[row, k])), "float64")
    assert probs.max() / probs.min() <= math.exp(2 * s)  # cosines differ by 2 at most
    right.append(probs[row])
    batch_loss.append(multiple_negatives_ranking_loss(A, P, scale=float(s)).item())
    assert_close(batch_loss[-1], ref.multiple_negatives_ranking_loss(a_m, p_m, float(s)), "float64")
    ax.bar(range(B), probs, color=["C3" if i == row else "C0" for i in range(B)])
    ax.axhline(1 / B, color="grey", ls=":", label="uniform 1/B")
    ax.set(title=f"scale {s}: p(own positive) = {probs[row]:.3f}", xlabel="candidate positive j")
    ax.set_xticks(range(0, B, 3))
axes[0].set_ylabel(f"softmax(scale · cos(a_{row}, p_j))")
axes[0].legend(fontsize=8)
fig.suptitle(f"one anchor's row over the {B} in-batch positives (red: its own): the scale sharpens it")
fig.tight_layout()
save_figure(fig, "07_scale.png")
for s, p_right, loss in zip(scales, right, batch_loss, strict=True):
    print(f"scale {s:2d}: p(own positive) of row {row} = {p_right:.4f}, batch MNRL loss = {loss:.4f}")
print(f"log B = {math.log(B):.4f}, the loss of a uniform softmax")
assert (np.argmax(mnrl_cos, axis=1) == np.arange(B)).all()  # every anchor ranks its positive first
assert np.all(np.diff(right) > 0) and np.all(np.diff(batch_loss) < 0)
assert right[0] < 0.1 and right[-1] > 0.999 and batch_loss[0] > 2.0

# %% [markdown]
# ## Exercises
#
# 1. Hard negatives in 2-D: give the MNRL example of section 4 negatives at 45°, 80° and 190°
#    (one close to each anchor): add `"negatives": on_circle([45, 80, 190])` to the inputs of its
#    `check` call, which asserts your gradients against NumPy, and draw the arrows. Which anchors
#    move now, and why?
# 2. Other concatenations: run `check("softmax_loss", ...)` on the SICK batch of section 5 with
#    `concatenation=("u", "v", "|u-v|", "u*v")` (W is then (3, 4·384)). Then see why the paper's
#    table 6 finds (u, v) alone far worse: with `SoftmaxLoss(384, 3, ("u", "v"))` the logits are
#    W₁u + W₂v + b, so the pair (−u, −v), exactly as similar as (u, v), gets the logits
#    2b − logits(u, v). Assert that with `head.logits` and `assert_close(..., "float64")`.
# 3. Cosine-distance triplets: for unit vectors ‖a − p‖² = 2 − 2 cos(a, p), so the Euclidean and
#    cosine triplet accuracies must be equal: assert, with `from minisbert.evaluation import
#    evaluate_triplets`, that `evaluate_triplets(encoder, test_triplets, d)["accuracy"]` is
#    `accuracy` for d = "euclidean" and d = "cosine". Are the losses
#    at ε = 1 equal too (`triplet_loss(..., distance="cosine")`)? Explain.
# 4. The scale's floor: for the two orthogonal pairs of section 4 (anchors = positives = the rows
#    of a 2 × 2 identity) the ranking is perfect, yet the loss is log(1 + e^(−s)). Compute it with
#    `multiple_negatives_ranking_loss` at s = 1, 5, 20, 50, assert it equals
#    `math.log1p(math.exp(-s))` ("float64"), and find the smallest integer s at which it is below 1e-6.
