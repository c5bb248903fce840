# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 11 · Using sentence embeddings: search, paraphrase mining, clustering, a map
#
# The SBERT paper's point (section 1): finding the most similar pair among 10,000 sentences
# takes BERT, which reads the two sentences of a pair together, 50 million forward passes (65
# hours); SBERT embeds each sentence once and compares vectors, in seconds. This tutorial does
# what that buys: semantic search, paraphrase mining, k-means clustering and a 2-D map (PCA),
# the last two written here in a few lines of NumPy, the best way to see what they do.
#
# Read first: tutorial 01 (the inference path) and 06 (pooling), then `minisbert/search.py`.
# Needs the STS benchmark (`$MINISBERT_DATA`, see `common.py`). The corpus is the distinct
# sentences of STS-test: 2,552 in full mode (about 20 seconds on 2 idle cores), 229 with
# `MINISBERT_FAST=1` (under 10 seconds).

# %%
import contextlib
import io
import re
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from common import FAST, data_file, save_figure
from matplotlib.ticker import ScalarFormatter

from minisbert import SentenceEncoder
from minisbert.cli import main as minisbert_cli
from minisbert.data import read_sts
from minisbert.pretrained import default_model_folder
from minisbert.search import paraphrase_mining, semantic_search
from reference.compare import TOLERANCES, assert_close, max_differences
from reference.pooling import l2_normalize

encoder = SentenceEncoder.from_pretrained(default_model_folder())  # all-MiniLM-L6-v2, normalises

# %% [markdown]
# ## 1. A corpus of unit vectors
#
# Every distinct sentence of STS-test (in FAST mode, of every 12th pair) is embedded once. The
# model normalises its output, $\lVert u \rVert = 1$, so the cosine is a plain dot product:
#
# $$\cos(u, v) = \frac{u \cdot v}{\lVert u \rVert\,\lVert v \rVert} = u \cdot v .$$

# %%
pairs = read_sts(data_file("stsbenchmark/sts-test.csv"))
pairs = pairs[::12] if FAST else pairs
corpus = list(dict.fromkeys(s for p in pairs for s in (p.sentence1, p.sentence2)))  # each sentence once
vectors = encoder.encode(corpus)  # (N, D) float32
N, D = vectors.shape
print(f"{len(pairs)} pairs, corpus of {N} distinct sentences, embeddings {vectors.shape} {vectors.dtype}")
assert (N, D) == ((229 if FAST else 2552), 384)
assert_close(np.linalg.norm(vectors, axis=1), np.ones(N), "fp32_op")
unit = l2_normalize(vectors.astype(np.float64))  # the reference's normalisation, in float64
assert_close(vectors[:50] @ vectors[:50].T, unit[:50] @ unit[:50].T, "fp32_op")  # dot = cosine

# %% [markdown]
# ## 2. Semantic search
#
# A query is embedded like any sentence; its hits are the corpus rows of highest cosine. The
# plain way builds the whole $Q \times N$ matrix of scores and sorts each row.
# `semantic_search` never builds it: it takes the queries `query_chunk_size` at a time and the
# corpus `corpus_chunk_size` rows at a time, keeps the top $k$ of each (q, c) block, and merges
# them into a running top $k$ per query. Why? The scores of 1,000 queries against a million
# documents are a 1,000 × 1,000,000 float32 matrix: 4 GB. The default chunks (100 queries ×
# 50,000 rows) hold 20 MB of scores, whatever the corpus size (`tests/test_search.py` measures
# it). The answer cannot depend on the chunk sizes: we check it against the brute force in
# float64 and under three very different chunkings. Look at the second query's best hit:
# "slicing onions" shares no word with "cutting vegetables" but "is".

# %%
queries = ["A man is playing a guitar.", "Someone is cutting vegetables.", "Stock markets fell sharply."]
q_vectors = encoder.encode(queries)  # (Q, D)
hits = semantic_search(q_vectors, vectors, top_k=5)  # per query: [{"corpus_id", "score"}, ...]
for query, found in zip(queries, hits, strict=True):
    print(f"query: {query}")
    for hit in found:
        print(f"  {hit['score']:.4f}  {corpus[hit['corpus_id']]}")

ids = lambda found: [[h["corpus_id"] for h in f] for f in found]  # noqa: E731
cosines = lambda found: [[h["score"] for h in f] for f in found]  # noqa: E731
scores = l2_normalize(q_vectors.astype(np.float64)) @ unit.T  # (Q, N), the whole matrix, float64
brute = [np.argsort(-row, kind="stable")[:5].tolist() for row in scores]  # (Q, 5)
assert ids(hits) == brute
assert_close(cosines(hits), np.sort(scores, axis=1)[:, ::-1][:, :5], "fp32_op")
for q_chunk, c_chunk in [(1, 7), (2, 100), (3, N)]:  # the same ids; scores to the last bits of float32
    chunked = semantic_search(q_vectors, vectors, 5, query_chunk_size=q_chunk, corpus_chunk_size=c_chunk)
    assert ids(chunked) == brute
    assert_close(cosines(chunked), cosines(hits), "fp32_op")
print("same hits as brute force, and with chunks (1, 7), (2, 100), (3, N)")
words = lambda text: set(re.findall(r"\w+", text.lower()))  # noqa: E731
shared = words(queries[1]) & words(corpus[hits[1][0]["corpus_id"]])
print(f"query 2 and its best hit share only {shared}: found by meaning, not by words")
assert shared == {"is"}
full_matrix, one_block = 1000 * 1_000_000 * 4, 100 * 50_000 * 4  # bytes of float32 scores
print(f"whole matrix {full_matrix / 1e9:.0f} GB, one chunk of scores {one_block / 1e6:.0f} MB")
assert (full_matrix, one_block) == (4 * 10**9, 20 * 10**6)

# %% [markdown]
# ## 3. Paraphrase mining
#
# Which pairs of the corpus are closest? All $N(N-1)/2$ pairs is 3.3 million for $N = 2{,}552$.
# `paraphrase_mining` asks each sentence for its `top_k` nearest others (chunked search with the
# sentence itself left out), pools those pairs, and sorts them. It can miss a pair that no
# sentence holds in its top $k$, but never one of the best $k$ pairs overall: a sentence of the
# $m$-th best pair has at most $m - 1$ better partners. We check both: the same pairs as the
# brute force per row, and the best $k$ cosines of the whole matrix. Two pairs whose cosines
# differ by less than float32 rounding may come in either order.

# %%
TOP_K = 5
mined = paraphrase_mining(vectors, top_k=TOP_K)  # [(cos, i, j), ...], i < j, best first
square = unit @ unit.T  # (N, N) float64
np.fill_diagonal(square, -np.inf)
neighbours = np.argsort(-square, axis=1, kind="stable")[:, :TOP_K]  # (N, TOP_K) per row
candidates = {(min(i, j), max(i, j)) for i, row in enumerate(neighbours.tolist()) for j in row}
atol = TOLERANCES["fp32_op"][0]
true = np.array([square[i, j] for _, i, j in mined])  # float64 cosines in the mined order
assert {p[1:] for p in mined} == candidates  # the same pairs as the brute force...
assert np.all(np.diff(true) <= atol)  # ...in order, up to float32 near-ties (< atol apart) swapping
assert_close([p[0] for p in mined], true, "fp32_op")
upper = np.triu_indices(N, k=1)
best = np.sort(square[upper])[::-1][:TOP_K]  # the best cosines of all N(N-1)/2 pairs
assert_close(true[:TOP_K], best, "fp32_op")  # mining found the best TOP_K pairs of all
print(f"{len(mined)} candidate pairs from {N * (N - 1) // 2:,}; the top {TOP_K}:")
for score, i, j in mined[:TOP_K]:
    print(f"  {score:.4f}  {corpus[i]!r}  ~  {corpus[j]!r}")

# %% [markdown]
# The mining knows nothing of the STS pairs. How many of its 50 best are gold pairs of STS-test
# scored at least 4 ("mostly equivalent")? 50 pairs drawn at random would hold almost none. In
# full mode 15 are (no gold pair among the 50 scores lower). The other 35 are no STS pair, and
# still paraphrases (cosine above 0.98): one caption written twice, "a" for "the", an extra
# space, in two different STS pairs. Mining finds what nobody paired: near-duplicates too.

# %%
gold = {frozenset((p.sentence1, p.sentence2)): p.score for p in pairs}
top_pairs = [frozenset((corpus[i], corpus[j])) for _, i, j in mined[:50]]
hits_gold = sum(gold.get(pair, 0) >= 4 for pair in top_pairs)
any_gold = sum(pair in gold for pair in top_pairs)
base_rate = sum(score >= 4 for score in gold.values()) / (N * (N - 1) / 2)
print(f"{hits_gold} of the 50 best mined pairs are gold pairs scored ≥ 4; by chance: {50 * base_rate:.3f}")
print(f"gold pairs at any score: {any_gold} of 50; lowest cosine of the 50: {mined[49][0]:.4f}")
assert hits_gold == (24 if FAST else 15) and hits_gold > 100 * 50 * base_rate
if not FAST:
    assert any_gold == hits_gold and mined[49][0] > 0.98
    assert N * (N - 1) // 2 == 3_255_076  # "3.3 million" pairs

# %% [markdown]
# ## 4. Clustering with k-means
#
# Take the sentences about four topics, chosen by keyword (a sentence matching two topics is left
# out), and forget the topics. Can k-means find them again from the embeddings alone? k-means
# looks for $k$ centres $c_1 \dots c_k$ and an assignment $a(i)$ minimising
#
# $$J = \sum_i \lVert x_i - c_{a(i)} \rVert^2 ,$$
#
# alternating two steps that each can only lower $J$: assign each point to its nearest centre,
# then move each centre to the mean of its points. It starts from k-means++ (each new centre
# drawn with probability proportional to the squared distance to the nearest centre so far).
# The steps only go downhill, so where they stop depends on the start: we run 10 seeds and keep
# the lowest $J$, as every k-means library does.

# %%
TOPICS = {
    "animals": r"\b(dogs?|cats?|puppy|kitten)\b",
    "food": r"\b(onion|potato(es)?|cooking|slicing|meat|eggs?|food)\b",
    "violence": r"\b(killed|kills|bomb|attack|shooting|police)\b",
    "markets": r"\b(stocks?|shares|market|percent|economy)\b",
}
K = len(TOPICS)
found = [[bool(re.search(rx, s, re.I)) for rx in TOPICS.values()] for s in corpus]  # (N, K)
rows = [i for i, f in enumerate(found) if sum(f) == 1]  # sentences of exactly one topic
topic = np.array([found[i].index(True) for i in rows])  # (n,) topic ids
X = vectors[rows].astype(np.float64)  # (n, D)
print({name: int((topic == t).sum()) for t, name in enumerate(TOPICS)})


def kmeans(x: np.ndarray, k: int, seed: int, iterations: int = 20) -> tuple:
    """Lloyd's k-means from k-means++: (assignment (n,), centres (k, D), J at each iteration)."""
    rng = np.random.default_rng(seed)
    centres = x[[rng.integers(len(x))]]  # (1, D)
    while len(centres) < k:
        d2 = ((x[:, None] - centres[None]) ** 2).sum(-1).min(1)  # (n,) to the nearest centre
        centres = np.vstack([centres, x[rng.choice(len(x), p=d2 / d2.sum())]])
    objective = []
    for _ in range(iterations):
        d2 = ((x[:, None] - centres[None]) ** 2).sum(-1)  # (n, k)
        assign = d2.argmin(1)  # (n,) step 1: the nearest centre
        objective.append(d2[np.arange(len(x)), assign].sum())
        centres = np.stack([x[assign == c].mean(0) if (assign == c).any() else centres[c] for c in range(k)])
    return assign, centres, np.array(objective)  # step 2 above: each centre to its points' mean


runs = [kmeans(X, K, seed) for seed in range(10)]
assert all(np.all(np.diff(run[2]) <= TOLERANCES["float64"][0]) for run in runs)  # J never goes up
assign, centres, J = min(runs, key=lambda run: run[2][-1])  # the lowest final J
print("final J per seed:", [round(float(run[2][-1]), 2) for run in runs])
nearest = ((X[:, None] - centres[None]) ** 2).sum(-1).argmin(1)
assert np.array_equal(nearest, assign)  # converged: each point is at its nearest centre
assert_close(centres, [X[assign == c].mean(0) for c in range(K)], "float64")  # at the means
topic_means = np.stack([X[topic == t].mean(0) for t in range(K)])  # (K, D)
J_topics = ((X - topic_means[topic]) ** 2).sum()  # J of the keyword grouping itself
print(f"best J {J[-1]:.2f}; J of the keyword topics {J_topics:.2f}")
assert J[-1] <= J_topics + TOLERANCES["float64"][1] * J_topics  # k-means finds a split at least as tight

# %% [markdown]
# How well do the clusters match the topics? The *purity* gives each cluster its most common
# topic and counts the sentences that carry it: 1 for a perfect match, about the share of the
# largest topic for a random split. In full mode it is 0.994 (three sentences of 466 in another
# topic's cluster); seed 0 alone reaches only 0.798, stuck with the two news topics merged.

# %%
confusion_of = lambda a: np.bincount(a * K + topic, minlength=K * K).reshape(K, K)  # noqa: E731
confusion = confusion_of(assign)  # (cluster, topic) counts
purity = confusion.max(1).sum() / len(X)
purity_seed_0 = confusion_of(runs[0][0]).max(1).sum() / len(X)
chance = np.bincount(topic).max() / len(X)
print(confusion)
print(f"purity {purity:.3f}, seed 0 alone {purity_seed_0:.3f}; a random split: about {chance:.3f}")
assert round(purity, 3) == (1.0 if FAST else 0.994) and purity > chance
if not FAST:
    assert (len(X), len(X) - confusion.max(1).sum(), round(purity_seed_0, 3)) == (466, 3, 0.798)

# %% [markdown]
# ## 5. A 2-D map: PCA by SVD
#
# 384 dimensions do not fit on paper. PCA finds the directions of largest variance: centre the
# data, $\tilde X = X - \bar x$, take its SVD $\tilde X = U S V^\top$; the rows of $V^\top$ are
# the principal directions, the projection is $\tilde X V_{:, :2}$, and direction $r$ explains
# the share $S_r^2 / \sum_s S_s^2$ of the variance. The same as the eigenvectors of the
# covariance matrix, whose eigenvalues are $S_r^2/(n-1)$: we check that.

# %%
centred = X - X.mean(0)  # (n, D)
U, S, Vt = np.linalg.svd(centred, full_matrices=False)  # (n, r), (r,), (r, D)
xy = centred @ Vt[:2].T  # (n, 2)
explained = S**2 / (S**2).sum()
eigenvalues = np.linalg.eigvalsh(np.cov(centred, rowvar=False))[::-1]  # (D,) largest first
assert_close(S**2 / (len(X) - 1), eigenvalues[: len(S)], "float64")
assert_close(xy, U[:, :2] * S[:2], "float64")  # the same projection, read off U
print(f"variance explained: PC1 {explained[0]:.3f}, PC2 {explained[1]:.3f}, both {explained[:2].sum():.3f}")
print("top 10 S²/(n-1) vs eigenvalues:", max_differences(S[:10] ** 2 / (len(X) - 1), eigenvalues[:10]))

fig, axes = plt.subplots(1, 3, figsize=(16, 4.8), gridspec_kw={"wspace": 0.25})  # J, topics, clusters
steps = np.arange(1, len(J) + 1)
for seed, run in enumerate(runs):
    axes[0].plot(steps, run[2], color="tab:gray", lw=1, label="other seeds" if seed == 0 else None)
axes[0].plot(steps, J, marker="o", color="tab:blue", label="the seed kept (lowest J)")
axes[0].axhline(J_topics, color="tab:red", ls="--", label="J of the keyword topics")
axes[0].set(
    xlabel="k-means iteration", ylabel="objective J (sum of squared distances, log scale)", yscale="log"
)
axes[0].yaxis.set_minor_formatter(ScalarFormatter())  # plain numbers on the log axis
axes[0].set_title("k-means, 10 seeds: J never goes up,\nbut where it stops depends on the start")
axes[0].legend(fontsize=8)
c_xy = (centres - X.mean(0)) @ Vt[:2].T  # (k, 2) the centres on the same map
mostly = confusion.argmax(1)  # (K,) each cluster's most common topic
assert sorted(mostly) == list(range(K))  # one cluster per topic: colour each cluster as its topic
for t, name in enumerate(TOPICS):
    axes[1].scatter(*xy[topic == t].T, s=14, alpha=0.8, color=f"C{t}", label=name)
    label = f"cluster {t}: mostly {list(TOPICS)[mostly[t]]}"
    axes[2].scatter(*xy[assign == t].T, s=14, alpha=0.8, color=f"C{mostly[t]}", label=label)
axes[2].scatter(*c_xy.T, marker="X", s=120, color="black", label="centres")
for ax, what in ((axes[1], "the keyword topics (hidden from k-means)"), (axes[2], "the k-means clusters")):
    ax.set(xlabel=f"PC1 ({explained[0]:.1%} of variance)", ylabel=f"PC2 ({explained[1]:.1%})")
    ax.set_title(f"PCA map of {len(X)} sentences:\n{what}")
    ax.legend(fontsize=8, markerscale=1.5)
save_figure(fig, "11_kmeans_pca.png")

# %% [markdown]
# What to see (full mode): food and animals (captions) lie apart; violence and markets (news)
# overlap on the map, yet k-means, working in 384 dimensions, kept them apart. The map is a
# shadow: in full mode its two axes hold 17.9% of the variance. Giving each sentence the topic
# of the nearest topic mean is right for 99.4% of them in 384 dimensions, 93.6% on the map.

# %%
accuracy = {}
for name, points in (("384-D", X), ("2-D map", xy)):
    means = np.stack([points[topic == t].mean(0) for t in range(K)])  # (K, d) the topic means
    accuracy[name] = float((((points[:, None] - means[None]) ** 2).sum(-1).argmin(1) == topic).mean())
print({name: round(value, 3) for name, value in accuracy.items()})
assert accuracy["2-D map"] < accuracy["384-D"]
assert round(explained[:2].sum(), 3) == (0.279 if FAST else 0.179)
if not FAST:
    assert (round(accuracy["384-D"], 3), round(accuracy["2-D map"], 3)) == (0.994, 0.936)

# %% [markdown]
# ## 6. The same search from the command line
#
# `minisbert search --corpus FILE "query"` does section 2 for a text file of one sentence a line.
# It caches the corpus embeddings in a `.npy` file and reuses them while the file and the model
# stay the same. Here on the first 30 topic sentences, with the cache in a temporary folder.

# %%
with tempfile.TemporaryDirectory() as tmp:
    corpus_file = Path(tmp) / "topics.txt"
    corpus_file.write_text("\n".join(corpus[i] for i in rows[:30]) + "\n", encoding="utf-8")
    args = ["search", "--corpus", str(corpus_file), queries[1], "--top-k", "3", "--cache", f"{tmp}/v.npy"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert minisbert_cli(args) == 0
print(out.getvalue())
first = semantic_search(q_vectors[1], X[:30], top_k=3)[0]
line = re.compile(r"^ *\d+ +-?\d\.\d{4}  (.*)  \(line \d+\)$")  # rank, score, sentence, line number
printed = [line.match(text)[1] for text in out.getvalue().splitlines()[1:]]
assert printed == [corpus[rows[h["corpus_id"]]] for h in first]  # the hits of semantic_search

# %% [markdown]
# ## Exercises
#
# 1. Spherical k-means: normalise the centres after each update and assign by the largest dot
#    product. Check that $\sum_i x_i \cdot c_{a(i)}$ never goes *down* (assert it as `J` is
#    asserted above), and compare its purity, best of 10 seeds, with 0.994.
# 2. Mine with `top_k=1`: how many pairs does it return, and which of the best pairs above does
#    it lose? Check that its first pair is still `mined[0]` (why is that one safe?), and that every pair
#    it returns is in the brute-force set built the same way (`[:, :1]` instead of `[:, :TOP_K]`).
# 3. Search the STS-dev sentences for the three queries of section 2 and check your hits against
#    the brute force (`np.argsort(-row, kind="stable")[:5]` on the float64 cosines).
# 4. The elbow: run the best-of-10 k-means for k = 2 to 8 and plot the final J against k. Check
#    that it goes down as k grows (`assert np.all(np.diff(best_J) < 0)`); where does it bend?
