# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 02 · Training Sentence-BERT, by hand and by minisbert
#
# SBERT fine-tunes BERT as a *siamese* network: both sentences of a pair go through the same
# encoder, and a loss compares their embeddings u and v. Here we take one batch of STS pairs, compute
# the regression loss $\frac1B\sum_i(\cos(u_i, v_i) - s_i)^2$ and every weight's gradient twice:
# with PyTorch's autograd and with the hand-derived backward passes of `reference/`, in NumPy.
# Then one AdamW step both ways, and finally a short run of `minisbert.training.fit`.
#
# Set `MINISBERT_FAST=1` for a quick run (the tests do); figures go to `tutorials/figures/`.

# %%
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from minisbert import SentenceEncoder  # noqa: E402
from minisbert.data import TokenizedColumns, data_path, read_sts  # noqa: E402
from minisbert.evaluation import evaluate_sts  # noqa: E402
from minisbert.losses import CosineSimilarityLoss, cosine_similarity_loss  # noqa: E402
from minisbert.pretrained import default_model_folder  # noqa: E402
from minisbert.training import Objective, TrainingConfig, fit  # noqa: E402
from reference import training as ref_training  # noqa: E402
from reference.pretrained import load_config, load_params  # noqa: E402

FAST = os.environ.get("MINISBERT_FAST") == "1"
FIGURES = Path(os.environ.get("MINISBERT_FIGURES", Path(__file__).resolve().parent / "figures"))
FIGURES.mkdir(parents=True, exist_ok=True)
DATA = Path(os.environ.get("MINISBERT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))

train_pairs = read_sts(data_path(DATA / "stsbenchmark" / "sts-train.csv"))
dev_pairs = read_sts(data_path(DATA / "stsbenchmark" / "sts-dev.csv"))
batch_pairs = train_pairs[100:106]
scores = np.array([p.score / 5 for p in batch_pairs])  # gold similarity in [0, 1]

# %% [markdown]
# ## 1. The loss, twice
#
# Both sides in float64 so that any difference is a mistake, not rounding. all-MiniLM-L6-v2
# normalises its embeddings, so u and v have unit length before the cosine.

# %%
encoder = SentenceEncoder.from_pretrained().double().eval()  # eval: no dropout, same function twice
a = encoder.tokenizer([p.sentence1 for p in batch_pairs])
b = encoder.tokenizer([p.sentence2 for p in batch_pairs])
loss = cosine_similarity_loss(encoder(**a), encoder(**b), torch.tensor(scores))
loss.backward()
torch_grads = {
    n.removeprefix("model."): p.grad.numpy() for n, p in encoder.named_parameters() if p.grad is not None
}

params, config = load_params(default_model_folder()), load_config(default_model_folder())
np_loss, np_grads = ref_training.regression_step(
    params,
    config,
    {k: v.numpy() for k, v in a.items()},
    {k: v.numpy() for k, v in b.items()},
    scores,
    normalize=True,
)
print(f"loss: torch {loss.item():.12f}  numpy {np_loss:.12f}")
assert abs(loss.item() - np_loss) < 1e-12

# %% [markdown]
# ## 2. Every gradient, twice
#
# `regression_step` runs the encoder forward for u and for v, the loss backward, and each
# sentence's gradient back through normalisation, mean pooling, six layers (LayerNorm, feed-forward,
# attention) and the embedding tables. The encoder is shared, so each weight gets the *sum* of what
# the two sentences send back.

# %%
relative = {
    k: np.abs(np_grads[k] - torch_grads[k]).max() / np.abs(torch_grads[k]).max()
    for k in torch_grads
    if not k.endswith("key.bias")
}
worst = max(relative, key=relative.get)
print(f"{len(torch_grads)} weights; largest relative difference {relative[worst]:.1e} ({worst})")
assert relative[worst] < 1e-8

# %% [markdown]
# The weights left out above are the attention *key* biases. Their gradient is exactly zero: the key
# bias adds q·b to every score of a row, and a softmax does not change when a constant is added to a
# whole row. Both libraries compute rounding noise there:

# %%
key_bias = "encoder.layer.0.attention.self.key.bias"
for side, grads in (("torch", torch_grads), ("numpy", np_grads)):
    print(f"{side}: max |grad {key_bias}| = {np.abs(grads[key_bias]).max():.1e}")

# %% [markdown]
# ## 3. One AdamW step, twice
#
# AdamW keeps a running mean m and mean square v of each gradient, and moves each weight by
# $-\mathrm{lr}\cdot\hat m/(\sqrt{\hat v}+\epsilon)$, after shrinking it by $1-\mathrm{lr}\cdot\lambda$
# (decoupled weight decay).

# %%
new_params, _ = ref_training.adamw_step(
    params, np_grads, ref_training.adamw_init(params), lr=1e-3, weight_decay=0.0
)
torch.optim.AdamW(encoder.parameters(), lr=1e-3, weight_decay=0.0, foreach=False).step()
name = "encoder.layer.3.intermediate.dense.weight"
after = dict(encoder.model.named_parameters())[name].detach().numpy()
print(f"{name} after one step: max |numpy − torch| = {np.abs(new_params[name] - after).max():.1e}")
assert np.abs(new_params[name] - after).max() < 1e-12

# %% [markdown]
# ## 4. A short fine-tuning run with `fit`
#
# Now in float32 and with dropout, as training really runs: the SBERT paper's settings (batch 16,
# lr 2e-5, 10% warm-up), on sts-train, evaluated on sts-dev before and after. The full epoch (about
# 3 minutes) raises sts-dev Spearman; the fast mode's 20 steps are too few to say anything.

# %%
encoder = SentenceEncoder.from_pretrained()
n_train, n_dev = (320, 200) if FAST else (len(train_pairs), len(dev_pairs))
train, dev = train_pairs[:n_train], dev_pairs[:n_dev]
data = TokenizedColumns(
    encoder.tokenizer,
    [[p.sentence1 for p in train], [p.sentence2 for p in train]],
    [p.score / 5 for p in train],
)
before = evaluate_sts(encoder, dev)["spearman_cosine"]
log = fit(
    encoder, [Objective("regression", data, CosineSimilarityLoss())], TrainingConfig(), show_progress=False
)
after = evaluate_sts(encoder, dev)["spearman_cosine"]
print(f"sts-dev Spearman ({n_dev} pairs): {before:.4f} → {after:.4f} after {len(log['train'])} steps")

steps = [e["step"] for e in log["train"]]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
ax1.plot(steps, [e["loss"]["regression"] for e in log["train"]], lw=0.8)
ax1.set(xlabel="step", ylabel="loss", title="regression loss per batch")
ax2.plot(steps, [e["lr"] for e in log["train"]])
ax2.set(xlabel="step", ylabel="learning rate", title="warm-up, then linear decay")
fig.tight_layout()
fig.savefig(FIGURES / "02_training.png", dpi=110)
