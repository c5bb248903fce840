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
# Run it as a script (`python tutorials/01_sentence_embeddings.py`), or as a notebook with its
# outputs in place (`make notebooks`, then open `tutorials/notebooks/01_sentence_embeddings.ipynb`).
# Figures go to `tutorials/figures/` (or `$MINISBERT_FIGURES`). No data set needed. The tutorials
# after this one take each step apart: 02 WordPiece, 03 attention, 04 the encoder layer, 05 the
# weights, 06 pooling.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from common import save_figure

from minisbert import SentenceEncoder
from minisbert.pooling import l2_normalize, mean_pooling
from minisbert.pretrained import default_model_folder
from reference import model as ref
from reference import pooling as ref_pooling
from reference.compare import assert_close, max_differences
from reference.pretrained import load_config, load_params

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
pieces = encoder.tokenizer.tokenize("Sentence embeddings aren't magic!")
print(pieces)
assert pieces == ["sentence", "em", "##bed", "##ding", "##s", "aren", "'", "t", "magic", "!"]
print(batch["input_ids"].shape, "\n", batch["attention_mask"])
first = encoder.tokenizer.ids_to_tokens(batch["input_ids"][0])
print(first)
assert first[0] == "[CLS]" and "[SEP]" in first and batch["attention_mask"].sum(1).max() == len(first)

# %% [markdown]
# ## 2. Embeddings
#
# Each token starts as the sum of three learned vectors, then LayerNorm (BERT, section 3.2):
# $x_t = \mathrm{LN}(E_{word}[id_t] + E_{pos}[t] + E_{type}[s_t])$.

# %%
with torch.inference_mode():
    x = encoder.model.embeddings(batch["input_ids"], batch["token_type_ids"])  # (B, T, C)
x_ref = ref.embeddings(params, batch["input_ids"].numpy(), batch["token_type_ids"].numpy(), config)
print("embeddings", tuple(x.shape), "max |torch - numpy| =", max_differences(x, x_ref)[0])
assert_close(x, x_ref, "fp32_model")

# %% [markdown]
# ## 3. Self-attention
#
# Every token looks at every other token: $\mathrm{softmax}(QK^\top/\sqrt{d} + M)\,V$, where the
# mask $M$ adds a huge negative number at padding so that its weight is exactly 0. Here is the
# attention of head 0 in the first layer for the first sentence.

# %%
maps = encoder.model.attention_maps(batch["input_ids"], batch["attention_mask"])  # (L, B, nh, T, T)
T = batch["input_ids"].shape[1]
n = int(batch["attention_mask"][0].sum())  # real tokens of the first sentence; the rest is padding
padding_keys = (batch["attention_mask"] == 0)[None, :, None, None, :].expand_as(maps)  # (L, B, nh, T, T)
assert (maps[padding_keys] == 0).all()
assert_close(maps.sum(-1), torch.ones(maps.shape[:-1]), "fp32_op")  # each row is a distribution
print(f"padding keys get exactly zero attention in all {maps.shape[0]} layers and {maps.shape[2]} heads")
fig, ax = plt.subplots(figsize=(6, 5))
image = ax.imshow(maps[0, 0, 0], cmap="viridis", vmin=0)
ax.set_xticks(range(T), first, rotation=90)
ax.set_yticks(range(T), first)
ax.set(xlabel="key (attended to)", ylabel="query (attending)", title="layer 0, head 0: who attends to whom")
ax.axvline(n - 0.5, color="w", ls="--", lw=1)  # the padding columns start here: all zero
fig.colorbar(image, ax=ax, label="attention probability")
save_figure(fig, "01_attention.png")

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
print("last hidden state", tuple(hidden.shape), "max |torch float32 - numpy float64| =",
      max_differences(hidden.numpy()[real], hidden_ref[real])[0])  # fmt: skip
assert_close(hidden.numpy()[real], hidden_ref[real], "fp32_model")

# %% [markdown]
# ## 5. Pooling and normalisation
#
# SBERT's default is MEAN pooling over the real tokens, $u = \sum_t m_t h_t / \sum_t m_t$; this
# model then scales $u$ to unit length, so that a dot product is the cosine similarity.

# %%
with torch.inference_mode():
    u = l2_normalize(mean_pooling(hidden, batch["attention_mask"]))  # (B, C)
u_ref = ref_pooling.l2_normalize(ref_pooling.mean_pooling(hidden_ref, batch["attention_mask"].numpy()))
print("sentence embeddings", tuple(u.shape), "max diff to numpy =", max_differences(u, u_ref)[0])
assert_close(u, u_ref, "fp32_model")
# encode() does these steps, with the same model.py (print(encoder) shows its layers); it pads
# each batch to its own longest sentence, which can change the sums' order and the last digit
assert_close(u, encoder.encode(sentences), "fp32_op")

# %% [markdown]
# ## 6. Similarity
#
# Cosine similarity between the embeddings: sentences about eating are close, the rest apart.

# %%
sim = encoder.similarity(u.numpy(), u.numpy())  # (5, 5)
fig, ax = plt.subplots(figsize=(7.5, 6))
image = ax.imshow(sim, vmin=-1, vmax=1, cmap="RdBu_r")  # diverging: negative blue, 0 white, 1 red
for i in range(len(sentences)):
    for j in range(len(sentences)):
        ax.text(j, i, f"{sim[i, j]:.2f}", ha="center", va="center", color="k")
ax.set_xticks(range(len(sentences)), sentences, rotation=35, ha="right")
ax.set_yticks(range(len(sentences)), sentences)
ax.set_title("cosine similarity of the sentence embeddings")
fig.colorbar(image, ax=ax, label="cosine similarity")
save_figure(fig, "01_similarity.png")
print(np.round(sim, 3))
assert sim[0, 1] > 0.7 and sim[0, 1] == max(sim[0, 1:])  # the two eating sentences are closest
assert_close(np.diag(sim), np.ones(len(sentences)), "fp32_op")

# %% [markdown]
# ## Exercises
#
# 1. Add the sentence "A man is eating pasta." to `sentences`. Which sentence is now closest to
#    it? Check: `encoder.similarity([...])` gives it above 0.7 with the first sentence.
# 2. Pool with [CLS] instead of the mean: `hidden[:, 0]`, then `l2_normalize`. Compare with
#    `reference.pooling.cls_pooling` using `assert_close(..., "fp32_model")`; do the eating
#    sentences stay the closest pair? (Tutorial 06 measures this on the STS benchmark.)
# 3. Find a head of layer 0 whose map puts most of each row's weight on the previous token:
#    `maps[0, 0, h].diagonal(-1)` should be large. Tutorial 03 names one.
