# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 01 · From a sentence to a vector: the inference path of Sentence-BERT
#
# Sentence-BERT (Reimers & Gurevych, 2019) embeds a sentence by running it through BERT and
# pooling the token vectors into one. This tutorial follows one batch through every step with
# the real all-MiniLM-L6-v2 weights, and checks each step against the NumPy reference in
# `reference/`, which writes the same math plainly in float64.
#
# Run it as a script (`python tutorials/01_sentence_embeddings.py`) or open it as a notebook with
# jupytext. Figures go to `tutorials/figures/` (or `$MINISBERT_FIGURES`).

# %%
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from minisbert import SentenceEncoder  # noqa: E402
from minisbert.model import additive_attention_mask, attention  # noqa: E402
from minisbert.pooling import l2_normalize, mean_pooling  # noqa: E402
from minisbert.pretrained import default_model_folder  # noqa: E402
from reference import model as ref  # noqa: E402
from reference import pooling as ref_pooling  # noqa: E402
from reference.pretrained import load_config, load_params  # noqa: E402

FIGURES = Path(os.environ.get("MINISBERT_FIGURES", Path(__file__).resolve().parent / "figures"))
FIGURES.mkdir(parents=True, exist_ok=True)

encoder = SentenceEncoder.from_pretrained()  # the embedded all-MiniLM-L6-v2
params = load_params(default_model_folder())  # the same weights as float64 NumPy arrays
config = load_config(default_model_folder())
sentences = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
]

# %% [markdown]
# ## 1. Tokens
#
# BERT reads WordPiece tokens: the text is lowercased, accents are stripped, it is split on spaces
# and punctuation, and each word becomes the longest pieces found in a 30,522-token vocabulary.
# `[CLS]` opens each sentence and `[SEP]` closes it; shorter sentences are padded with `[PAD]`
# (id 0) to the longest in the batch, and the attention mask marks the real tokens.

# %%
batch = encoder.tokenizer(sentences)
print(encoder.tokenizer.tokenize("Sentence embeddings aren't magic!"))
print(batch["input_ids"].shape, "\n", batch["attention_mask"])

# %% [markdown]
# ## 2. Embeddings
#
# Each token starts as the sum of three learned vectors, then LayerNorm (BERT, section 3.2):
# $x_t = \mathrm{LN}(E_{word}[id_t] + E_{pos}[t] + E_{type}[s_t])$.

# %%
with torch.inference_mode():
    x = encoder.model.embeddings(batch["input_ids"], batch["token_type_ids"])  # (B, T, C)
x_ref = ref.embeddings(params, batch["input_ids"].numpy(), batch["token_type_ids"].numpy(), config)
print("embeddings", tuple(x.shape), "max |torch - numpy| =", np.abs(x.numpy() - x_ref).max())
assert np.abs(x.numpy() - x_ref).max() < 1e-5

# %% [markdown]
# ## 3. Self-attention
#
# Every token looks at every other token: $\mathrm{softmax}(QK^\top/\sqrt{d} + M)\,V$, where the
# mask $M$ adds a huge negative number at padding so that its weight is exactly 0. Here is the
# attention of head 0 in the first layer for the first sentence.

# %%
self_attn = encoder.model.encoder.layer[0].attention.self
mask = additive_attention_mask(batch["attention_mask"], x.dtype)  # (B, 1, 1, T)
with torch.inference_mode():
    q, k, v = (self_attn.split_heads(proj(x)) for proj in (self_attn.query, self_attn.key, self_attn.value))
    _, probs = attention(q, k, v, mask, self_attn.dropout)  # (B, nh, T, T)
n = int(batch["attention_mask"][0].sum())
tokens = encoder.tokenizer.tokenizer.id_to_token
labels = [tokens(int(i)) for i in batch["input_ids"][0, :n]]
fig, ax = plt.subplots(figsize=(5, 4.5))
ax.imshow(probs[0, 0, :n, :n], cmap="viridis")
ax.set_xticks(range(n), labels, rotation=90)
ax.set_yticks(range(n), labels)
ax.set_title("layer 0, head 0: who attends to whom")
fig.tight_layout()
fig.savefig(FIGURES / "01_attention.png", dpi=120)
print("padding gets exactly zero attention:", float(probs[0, :, :, n:].abs().max()) == 0.0)

# %% [markdown]
# ## 4. The whole encoder, against NumPy
#
# Six such layers (attention, then a GELU feed-forward, each followed by residual + LayerNorm)
# give the last hidden state, one 384-dimensional vector per token.

# %%
with torch.inference_mode():
    hidden = encoder.model(**batch)  # (B, T, C)
hidden_ref = ref.encoder(params, batch["input_ids"].numpy(), batch["attention_mask"].numpy(), config)
real = batch["attention_mask"].bool().numpy()
diff = np.abs(hidden.numpy()[real] - hidden_ref[real]).max()
print("last hidden state", tuple(hidden.shape), "max |torch float32 - numpy float64| =", diff)
assert diff < 1e-4

# %% [markdown]
# ## 5. Pooling and normalisation
#
# SBERT's default is MEAN pooling over the real tokens, $u = \sum_t m_t h_t / \sum_t m_t$; this
# model then scales $u$ to unit length, so that a dot product is the cosine similarity.

# %%
with torch.inference_mode():
    u = l2_normalize(mean_pooling(hidden, batch["attention_mask"]))  # (B, C)
u_ref = ref_pooling.l2_normalize(ref_pooling.mean_pooling(hidden_ref, batch["attention_mask"].numpy()))
print("sentence embeddings", tuple(u.shape), "max diff to numpy =", np.abs(u.numpy() - u_ref).max())
assert np.abs(u.numpy() - u_ref).max() < 1e-5
assert np.abs(u.numpy() - encoder.encode(sentences)).max() < 1e-6  # encode() does exactly this

# %% [markdown]
# ## 6. Similarity
#
# Cosine similarity between the embeddings: sentences about eating are close, the rest apart.

# %%
sim = encoder.similarity(u.numpy(), u.numpy())
fig, ax = plt.subplots(figsize=(6, 5))
ax.imshow(sim, vmin=0, vmax=1, cmap="magma")
for i in range(len(sentences)):
    for j in range(len(sentences)):
        ax.text(j, i, f"{sim[i, j]:.2f}", ha="center", va="center", color="w" if sim[i, j] < 0.6 else "k")
ax.set_xticks(range(len(sentences)), [s[:18] for s in sentences], rotation=45, ha="right")
ax.set_yticks(range(len(sentences)), [s[:18] for s in sentences])
ax.set_title("cosine similarity")
fig.tight_layout()
fig.savefig(FIGURES / "01_similarity.png", dpi=120)
print(np.round(sim, 3))
assert sim[0, 1] > sim[0, 2]
