# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 10 · From nothing: a tiny BERT with its own vocabulary, and what pre-training buys
#
# Every tutorial so far started from all-MiniLM-L6-v2, a model someone else pre-trained on plain
# text and then trained on a vast collection of sentence pairs. Here we start from nothing: a
# WordPiece vocabulary learnt from the STS-B training sentences, a tiny BERT (2 layers, 32 wide)
# with random weights, one epoch of the regression objective of tutorial 09 (at a learning rate
# fifty times higher). Then we put it beside three others on STS-dev: the same model before
# training, a word-overlap baseline that needs no model at all, and the pretrained MiniLM. The
# gap is what pre-training buys.
#
# Read first: tutorial 02 (WordPiece), 06 (pooling) and 09 (fine-tuning), then
# `SentenceEncoder.from_scratch` in `minisbert/sentence_encoder.py`, the presets in
# `minisbert/config.py` and `run` in `minisbert/cli/init.py` (the same steps as
# `minisbert init`; the README runs them from the command line). Needs the STS benchmark
# (`$MINISBERT_DATA`, see `common.py`).
#
# Full mode trains on all 5,749 training pairs (359 steps) and evaluates on all of STS-dev:
# about a minute on 2 cores. Fast mode (`MINISBERT_FAST=1`) trains 16 steps on 256 pairs and
# evaluates on the first 200 dev pairs; its figures run every line but say little.

# %%
import re
import tempfile

import matplotlib.pyplot as plt
import numpy as np
import torch
from common import FAST, claim, data_file, save_figure

from minisbert import SentenceEncoder
from minisbert.config import preset
from minisbert.data import TokenizedColumns, read_sts, read_texts
from minisbert.evaluation import STSEvaluator, pair_scores, spearman
from minisbert.losses import CosineSimilarityLoss
from minisbert.run.recipes import build_recipe
from minisbert.training import Objective, TrainingConfig, fit
from reference import tokenizer as ref_tok
from reference.compare import assert_close, max_differences
from reference.pretrained import load_config, load_params
from reference.sentence_encoder import sentence_embeddings

torch.set_num_threads(1)  # the tiny model's matrices are too small to share out among threads
folder = tempfile.TemporaryDirectory(prefix="minisbert-10-")  # removed in the last cell

# %% [markdown]
# ## 1. A vocabulary learnt from the STS training text
#
# `WordPieceTokenizer.train` (called by `from_scratch`) starts from single characters and merges
# the pairs that occur most often until the vocabulary holds `vocab_size` entries (tutorial 02).
# The STS training set has 11,498 sentences; we ask for 4,000 entries, as `minisbert init` does.
# Frequent words become whole tokens; rarer words are spelt out in pieces. The pretrained
# vocabulary, learnt from far more text, keeps far more words whole: on STS-dev the tiny
# vocabulary cuts more than twice as many word occurrences into pieces. A model then has to
# learn a word's meaning from its pieces, from very few examples.

# %%
texts = read_texts(data_file("stsbenchmark/sts-train.csv"))  # both sides of every pair
tiny = SentenceEncoder.from_scratch(texts, preset("tiny"), 4000, max_seq_length=64, seed=0)
pretrained = SentenceEncoder.from_pretrained()  # all-MiniLM-L6-v2, mean pooling
print(f"{len(texts):,} sentences; vocabularies: tiny {tiny.tokenizer.vocab_size:,}, ", end="")
print(f"pretrained {pretrained.tokenizer.vocab_size:,}")
assert len(texts) == 11498 and tiny.tokenizer.vocab_size == 4000
assert pretrained.tokenizer.vocab_size == 30522

words = ["woman", "guitar", "saxophone", "unbelievable", "zebra"]
for w in words:
    print(f"{w:13s} tiny {tiny.tokenizer.tokenize(w)!s:38s} pretrained {pretrained.tokenizer.tokenize(w)}")
assert tiny.tokenizer.tokenize("guitar") == ["guitar"]  # common in STS: one token
assert len(tiny.tokenizer.tokenize("saxophone")) > len(pretrained.tokenizer.tokenize("saxophone"))

# the reference tokenizer, reading the same vocab.txt, splits every sentence the same way
tiny.save_pretrained(f"{folder.name}/random")
vocab = ref_tok.read_vocab(f"{folder.name}/random/vocab.txt")
dev_text = read_texts(data_file("stsbenchmark/sts-dev.csv"))[: 200 if FAST else None]
assert all(ref_tok.tokenize(s, vocab) == tiny.tokenizer.tokenize(s) for s in dev_text)

# how many word occurrences of STS-dev does each vocabulary split into several pieces?
dev_words = [w for s in dev_text for w in ref_tok.pre_tokenize(ref_tok.normalize(s)) if w.isalpha()]
split = {
    name: np.mean([len(enc.tokenizer.tokenize(w)) > 1 for w in dev_words])
    for name, enc in (("tiny", tiny), ("pretrained", pretrained))
}
print(f"dev words split into pieces: tiny {split['tiny']:.1%}, pretrained {split['pretrained']:.1%}")
assert split["tiny"] > 2 * split["pretrained"]

# %% [markdown]
# ## 2. The tiny config against all-MiniLM-L6-v2's
#
# Same architecture, other sizes: 2 layers instead of 6, hidden size 32 instead of 384, 4 heads
# instead of 12. A BERT's weights fall in three groups: the word-embedding table ($V \times C$),
# the other embeddings (positions, token types, LayerNorm), and the encoder layers
# ($4C^2$ for attention and $2 \cdot wC^2$ for a feed-forward $w$ times wider: $12\,C^2$ a layer
# in MiniLM with $w = 4$, $8\,C^2$ in the tiny model with $w = 2$).
# In the tiny model the word table is almost everything (87% of its 147,264 weights, against 52%
# in MiniLM): whatever it knows lives mostly in its token vectors.


# %%
def parameter_groups(encoder) -> dict[str, int]:
    groups = {"word embeddings": 0, "other embeddings": 0, "encoder layers": 0}
    for name, p in encoder.model.named_parameters():
        key = "word embeddings" if "word_embeddings" in name else name.split(".")[0]
        groups[{"embeddings": "other embeddings", "encoder": "encoder layers"}.get(key, key)] += p.numel()
    return groups


counts = {"tiny": parameter_groups(tiny), "MiniLM": parameter_groups(pretrained)}
for name, groups in counts.items():
    total = sum(groups.values())
    print(f"{name:7s} total {total:>10,}: " + ", ".join(f"{k} {v:,}" for k, v in groups.items()))
for name, enc, sizes in (("tiny", tiny, (2, 32, 4)), ("MiniLM", pretrained, (6, 384, 12))):
    c = enc.model.config
    assert (c.num_hidden_layers, c.hidden_size, c.num_attention_heads) == sizes
    width = c.intermediate_size // c.hidden_size  # 2 in tiny, 4 in MiniLM
    approx = c.num_hidden_layers * (4 + 2 * width) * c.hidden_size**2  # (4 + 2·width) C² a layer
    assert abs(counts[name]["encoder layers"] / approx - 1) < 0.05  # the biases and LayerNorms
assert sum(counts["tiny"].values()) == 147264 == sum(p.numel() for p in tiny.parameters())
share = {name: groups["word embeddings"] / sum(groups.values()) for name, groups in counts.items()}
print(f"word-embedding share: tiny {share['tiny']:.0%}, MiniLM {share['MiniLM']:.0%}")
assert counts["tiny"]["word embeddings"] == 4000 * 32 and round(share["tiny"], 2) == 0.87
assert round(share["MiniLM"], 2) == 0.52
assert sum(counts["MiniLM"].values()) > 150 * sum(counts["tiny"].values())

# %% [markdown]
# ## 3. Random weights already rank pairs, and so does word overlap
#
# A random BERT knows nothing, yet its mean-pooled embeddings give a Spearman far above 0. Each
# token id has its own fixed random row in the word-embedding table; two layers with residual
# connections keep much of it; mean pooling (tutorial 06) averages over the tokens. Two sentences
# that share many tokens share much of their average: the model acts as a *bag of token
# embeddings*,
#
# $$u = \frac{1}{T}\sum_{t=1}^{T} E_{x_t}, \qquad \cos(u, v) \text{ grows with the tokens } a
#   \text{ and } b \text{ share.}$$
#
# We compute that bag directly from the table, with no layer at all, and set beside it a baseline
# that needs no model: the Jaccard index of the two sentences' word sets, $|A \cap B| / |A \cup B|$.
# On all of STS-dev the bag scores about what the random BERT scores (the layers add nothing
# learnt), and word overlap scores more: exact shared words are a strong signal on STS-B.
# (On the first 200 pairs, the fast mode's, the bag falls behind: those are short captions.)

# %%
dev_pairs = read_sts(data_file("stsbenchmark/sts-dev.csv"))
dev = STSEvaluator(dev_pairs[:200] if FAST else dev_pairs)  # mean pooling, cosine, Spearman
gold = np.array([p.score for p in dev.pairs])  # (N,), from 0 to 5
side_a, side_b = [p.sentence1 for p in dev.pairs], [p.sentence2 for p in dev.pairs]


def word_set(s: str) -> set[str]:
    return {w for w in ref_tok.pre_tokenize(ref_tok.normalize(s)) if re.search(r"\w", w)}


def jaccard(a: str, b: str) -> float:
    return len(word_set(a) & word_set(b)) / len(word_set(a) | word_set(b))


overlap = np.array([jaccard(p.sentence1, p.sentence2) for p in dev.pairs])  # (N,)


def bag_of_embeddings(encoder, sentences: list[str]) -> np.ndarray:
    """The mean of the word-embedding rows of each sentence's tokens, no layer at all: (N, C)."""
    batch = encoder.tokenizer(sentences)
    table = encoder.model.embeddings.word_embeddings.weight.detach()  # (V, C)
    mask = batch["attention_mask"].unsqueeze(-1).float()  # (N, T, 1)
    return ((table[batch["input_ids"]] * mask).sum(1) / mask.sum(1)).numpy()  # (N, C)


bag = pair_scores(bag_of_embeddings(tiny, side_a), bag_of_embeddings(tiny, side_b))["cosine"]  # (N,)
rho = {"word overlap": spearman(overlap, gold), "tiny, random": dev(tiny)["spearman_cosine"]}
rho_bag = spearman(bag, gold)
print(f"dev Spearman: word overlap {rho['word overlap']:.3f}, tiny BERT with random weights ", end="")
print(f"{rho['tiny, random']:.3f}, its bag of token embeddings alone {rho_bag:.3f}")
assert rho["tiny, random"] > 0.3 and rho["word overlap"] > 0.3  # both far above 0
if not FAST:
    assert abs(rho_bag - rho["tiny, random"]) < 0.05  # the random layers change little
    assert rho["word overlap"] > rho["tiny, random"] + 0.1
else:  # the short captions of the first 200 pairs
    assert rho_bag < rho["tiny, random"]

# %% [markdown]
# ## 4. Training it on STS-B regression
#
# The objective is tutorial 09's, $\mathcal{L} = \frac1B\sum_i(\cos(u_i, v_i) - s_i/5)^2$, with
# its recipe: one epoch, batch 16, 10% warm-up then linear decay. Only the learning rate differs:
# 1e-3, fifty times 09's 2e-5. Random weights are far from any good solution, and with so few
# weights large steps stay stable. The loss of each batch drops fast in the first few dozen steps
# (the warm-up); over the epoch, the mean loss of the last quarter is less than half that of the
# first. Dev Spearman rises at every evaluation, fastest at the start.

# %%
if not FAST:  # the recipe reads sts-train.csv and tokenizes it with the tiny vocabulary
    objective = build_recipe("regression", data_file("stsbenchmark/sts-train.csv"), tiny).objective
else:  # a slice of the same data, built as the recipe builds it (see 09)
    pairs = read_sts(data_file("stsbenchmark/sts-train.csv"))[:256]
    columns = [[p.sentence1 for p in pairs], [p.sentence2 for p in pairs]]
    data = TokenizedColumns(tiny.tokenizer, columns, [p.score / 5 for p in pairs], tiny.max_seq_length)
    objective = Objective("regression", data, CosineSimilarityLoss())
config = TrainingConfig(lr=1e-3, eval_every=8 if FAST else 90)
assert config.lr == 50 * TrainingConfig().lr and len(objective.data) == (256 if FAST else 5749)
log = fit(tiny, [objective], config, evaluator=dev, show_progress=False)

losses = np.array([e["loss"]["regression"] for e in log["train"]])  # (S,)
dev_steps = [0] + [e["step"] for e in log["eval"]]
dev_rho = [rho["tiny, random"]] + [e["spearman_cosine"] for e in log["eval"]]
rho["tiny, trained"] = dev_rho[-1]
print(f"{len(losses)} steps; dev Spearman:", " ".join(f"{r:.3f}" for r in dev_rho))
assert len(losses) == (16 if FAST else 359)

fig, (ax, ax_dev) = plt.subplots(1, 2, figsize=(11, 4))
ax.plot(range(1, len(losses) + 1), losses, lw=0.8)
ax.set(xlabel="step", ylabel="regression loss (MSE)", title="training loss per batch")
ax_dev.plot(dev_steps, dev_rho, "o-", label="tiny BERT")
ax_dev.axhline(rho["word overlap"], color="grey", ls="--", label="word overlap (no model)")
ax_dev.legend(loc="lower right")
ax_dev.set(xlabel="step", ylabel="Spearman ρ on STS-dev", title="dev Spearman during training")
fig.suptitle(claim("the tiny BERT from random weights: the loss falls, dev Spearman climbs to word overlap"))
fig.tight_layout()
save_figure(fig, "10_training.png")
quarter = len(losses) // 4
print(f"mean loss, first quarter {losses[:quarter].mean():.4f} → last {losses[-quarter:].mean():.4f}")
if not FAST:
    assert losses[-quarter:].mean() < 0.6 * losses[:quarter].mean()  # about half
    gain = np.diff(dev_rho)  # the change between evaluations
    assert np.all(gain > 0) and gain[0] == gain.max()
    assert rho["tiny, trained"] > rho["tiny, random"] + 0.1

# %% [markdown]
# ## 5. Four models side by side
#
# Beside them, the pretrained MiniLM with mean pooling, never fine-tuned on STS (tutorial 06
# measured it: 0.8672). One epoch lifts the tiny BERT from its random start to about where word
# overlap stands (within 0.03), no further: with 5,749 pairs it learns which tokens to match,
# not what they mean. The pretrained model, without a single STS example, is more than 0.15
# above both. Fine-tuning it on STS (tutorial 09) adds a little more on top.
#
# (The vocabulary trainer breaks ties between pairs of equal count differently from run to run,
# so a few tokens of the vocabulary, and with them the tiny model's figures, can change a little
# between runs: the asserts leave room for that.)

# %%
rho["MiniLM, pretrained"] = dev(pretrained)["spearman_cosine"]
for k, v in rho.items():
    print(f"{k:20s} {v:.4f}")
if not FAST:
    assert abs(rho["MiniLM, pretrained"] - 0.8672) < 5e-4
    assert abs(rho["tiny, trained"] - rho["word overlap"]) < 0.03
    assert rho["MiniLM, pretrained"] > max(rho["tiny, trained"], rho["word overlap"]) + 0.15

fig, ax = plt.subplots(figsize=(8, 4))
names = list(rho)
bars = ax.bar(names, [rho[n] for n in names], color=["grey", "tab:blue", "tab:orange", "tab:green"])
ax.bar_label(bars, fmt="%.3f")
ax.axhline(rho["word overlap"], color="grey", ls="--", lw=0.8)
ax.set(ylabel="Spearman ρ on STS-dev", ylim=(0, 1))
ax.set_title(claim("one epoch from nothing reaches word overlap; pre-training goes far beyond"))
fig.tight_layout()
save_figure(fig, "10_comparison.png")

# %% [markdown]
# ## 6. The check against reference/
#
# The trained tiny model is saved like any model folder; the NumPy reference reads its weights
# and computes the same sentence embeddings in float64.

# %%
tiny.save_pretrained(f"{folder.name}/trained")
params, cfg = load_params(f"{folder.name}/trained"), load_config(f"{folder.name}/trained")
batch = tiny.tokenizer(dev_text[:8])
ours = tiny.encode(dev_text[:8])  # (8, 32)
theirs = sentence_embeddings(params, batch["input_ids"].numpy(), batch["attention_mask"].numpy(), cfg)
print("tiny vs reference:", max_differences(ours, theirs))
assert_close(ours, theirs, "fp32_model")

# %% [markdown]
# ## 7. What pre-training buys: word vectors that mean something
#
# The trained tiny model only draws level with word overlap: from 5,749 scored pairs it can
# learn little about what words *mean*. The pretrained model saw so much text that its
# word-embedding table alone places a word near its plural and its synonyms. We look at the
# nearest neighbours (cosine) of a few words in each table, and at where the plural ranks
# (1 = the closest of all 4,000 or 30,522 rows). Every one of these words is a single token in
# both vocabularies, so the comparison is fair. In MiniLM the plural is the nearest of all, every
# time; in the tiny table it is lost among the other tokens (beyond rank 20).


# %%
def neighbours(encoder, word: str) -> list[str]:
    """Every token of the vocabulary, nearest to `word` first (the word itself left out)."""
    table = torch.nn.functional.normalize(encoder.model.embeddings.word_embeddings.weight.detach(), dim=1)
    (i,) = encoder.tokenizer([word])["input_ids"][0, 1:-1].tolist()  # one token: [CLS] word [SEP]
    return encoder.tokenizer.ids_to_tokens((table @ table[i]).argsort(descending=True)[1:].tolist())


plurals = {"man": "men", "dog": "dogs", "car": "cars", "woman": "women", "child": "children"}
ranks = {}
for name, enc in (("tiny, trained", tiny), ("MiniLM", pretrained)):
    for w, pl in plurals.items():
        near = neighbours(enc, w)
        ranks[name, w] = near.index(pl) + 1
        print(f"{name:13s} {w:6s} nearest: {' '.join(near[:5]):45s} rank of '{pl}': {ranks[name, w]}")
assert all(ranks["MiniLM", w] == 1 for w in plurals)  # the plural is the nearest token
assert all(ranks["tiny, trained", w] > 20 for w in plurals)  # lost among the other tokens

# %% [markdown]
# ## Exercises
#
# 1. Learn a vocabulary of 1,000 entries instead of 4,000 (`from_scratch(texts, preset("tiny"),
#    1000, ...)`) and recompute `split` of section 1 with it. Predict first: more or fewer words in
#    pieces? Check: `assert split_1000 > split["tiny"]`. How many weights does the model lose?
# 2. Is what training taught the tiny model in its table or in its layers? Recompute the bag of
#    token embeddings of section 3 with the *trained* table
#    (`spearman(pair_scores(bag_of_embeddings(tiny, side_a), bag_of_embeddings(tiny, side_b))
#    ["cosine"], gold)`) and compare it with `rho_bag` and with `rho["tiny, trained"]`.
# 3. Do the same for the pretrained model: the bag of its word embeddings, with no layer at all.
#    Does it beat the trained tiny BERT? Check your guess with an `assert`.
# 4. Train the tiny model for 3 epochs (`TrainingConfig(lr=1e-3, epochs=3)`, about three times
#    section 4's time). Does dev Spearman keep rising, and does it pass word overlap clearly?

# %%
folder.cleanup()  # the model folders were only for this tutorial
