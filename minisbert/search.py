"""Using sentence embeddings: semantic search and paraphrase mining, in chunks.

Source: Reimers & Gurevych, "Sentence-BERT" (EMNLP 2019), section 1: finding the most similar
pair among 10,000 sentences takes BERT about 50 million forward passes (65 hours), while SBERT
embeds each sentence once and compares the vectors by cosine similarity, in about 5 seconds:
SBERT is made for "large-scale semantic similarity comparison, clustering, and information
retrieval via semantic search". The two functions here return what sentence-transformers'
`util.semantic_search` and `util.paraphrase_mining_embeddings` return on the same embeddings
(tests/test_search.py checks it), written independently.

    semantic_search(queries, corpus, top_k=10)   → per query [{"corpus_id": j, "score": cos}, ...]
    paraphrase_mining(embeddings, top_k=100)     → [(cos, i, j), ...] with i < j

Memory stays flat however large the corpus: the Q × N matrix of scores is never built. Each
block of q queries meets the corpus c rows at a time; each (q, c) block of scores is reduced to
its top k at once and merged into a running top k per query. The largest tensors are (q, c) and
(c, D), whatever N. NumPy inputs (a memory-mapped `np.load(..., mmap_mode="r")` too) are read one
chunk at a time, so a million stored vectors are never copied whole.

Ordering is deterministic: by score descending, then by corpus id (or pair) ascending, so equal
vectors come out in index order. `torch.topk` alone does not promise which of equal scores it keeps.

Shapes: Q queries, N corpus vectors, D embedding size, k top_k, q query chunk, c corpus chunk.
"""

from __future__ import annotations

import numpy as np
import torch

Embeddings = np.ndarray | torch.Tensor  # (N, D) floating point
NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}


# ---------------------------------------------------------------------------------------------
# checking the inputs, reading chunks


def check_embeddings(x: Embeddings, name: str, allow_vector: bool = False) -> Embeddings:
    """`x` as an (N, D) matrix of floats, or a ValueError/TypeError saying what is wrong.
    With `allow_vector`, one vector (D,) is taken as a matrix of one row."""
    if not isinstance(x, (np.ndarray, torch.Tensor)):
        raise TypeError(f"{name} must be a NumPy array or a torch tensor (N, D), got {type(x).__name__}")
    if allow_vector and x.ndim == 1:
        x = x[None]  # (1, D)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a matrix (N, D) of embeddings, got shape {tuple(x.shape)}")
    floating = x.is_floating_point() if isinstance(x, torch.Tensor) else np.issubdtype(x.dtype, np.floating)
    if not floating:
        raise TypeError(f"{name} must hold floating-point numbers, got dtype {x.dtype}")
    if x.shape[1] == 0:
        raise ValueError(f"{name} has no dimensions: shape {tuple(x.shape)}")
    return x


def check_count(value: int, name: str) -> int:
    """A positive integer (top_k, a chunk size, max_pairs), or a ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def compute_dtype(*xs: Embeddings) -> torch.dtype:
    """float64 if any input is float64, else float32 (half precision is widened: rounding a score
    to 11 bits would turn close scores into ties)."""
    wide = any(x.dtype == (torch.float64 if isinstance(x, torch.Tensor) else np.float64) for x in xs)
    return torch.float64 if wide else torch.float32


def unit_rows(x: Embeddings, start: int, stop: int, dtype: torch.dtype, name: str) -> torch.Tensor:
    """Rows start..stop-1 of `x` as a new tensor of unit vectors, x / max(‖x‖, 1e-12): (c, D),
    as `pooling.l2_normalize` computes them. A zero vector stays zero (its cosine with anything
    is 0); a row holding NaN or infinity (its norm is not finite) is an error."""
    if isinstance(x, np.ndarray):
        rows = torch.from_numpy(np.array(x[start:stop], dtype=NUMPY_DTYPES[dtype]))  # (c, D), a copy
    else:
        rows = x[start:stop].to(dtype)  # (c, D)
    norms = rows.norm(dim=1, keepdim=True)  # (c, 1); checking these is much cheaper than every value
    finite = torch.isfinite(norms).squeeze(1)  # (c,)
    if not finite.all():
        bad = start + int((~finite).nonzero()[0])
        raise ValueError(f"{name} row {bad} holds NaN or infinity (or numbers too large to square)")
    return rows / norms.clamp(min=1e-12)  # (c, D)


# ---------------------------------------------------------------------------------------------
# top k, deterministically


def by_score_then_id(values: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row of (values, ids) reordered by value descending, equal values by id ascending."""
    order = torch.argsort(ids, dim=1)  # (R, k), ids of a row are distinct
    values, ids = values.gather(1, order), ids.gather(1, order)
    order = torch.argsort(values, dim=1, descending=True, stable=True)  # keeps id order among ties
    return values.gather(1, order), ids.gather(1, order)


def top_k_per_row(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k largest scores of each row (R, c) and their columns, both (R, k), largest first;
    among equal scores the smaller column wins and comes first.
    Example: [[0.5, 0.9, 0.5, 0.1]], k = 2 → values [[0.9, 0.5]], columns [[1, 0]]."""
    # torch.topk is fast but keeps any of several equal scores at the cut: take one more to see
    # whether the best score left out equals the last one kept
    values, columns = torch.topk(scores, min(k + 1, scores.shape[1]), dim=1)  # (R, k + 1)
    if values.shape[1] > k:
        tie_at_cut = values[:, k] == values[:, k - 1]  # (R,)
        values, columns = values[:, :k], columns[:, :k]  # (R, k)
        if tie_at_cut.any():  # rare (repeated or zero vectors): sort those rows whole, stably
            rows = tie_at_cut.nonzero().squeeze(1)
            sorted_values, sorted_columns = torch.sort(scores[rows], dim=1, descending=True, stable=True)
            values[rows], columns[rows] = sorted_values[:, :k], sorted_columns[:, :k]
    return by_score_then_id(values, columns)


def merge_top_k(
    values: torch.Tensor, ids: torch.Tensor, new_values: torch.Tensor, new_ids: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The top k of two ordered lists per row, where every new id is larger than every old one:
    a stable sort of the concatenation keeps the order of ids among equal values. (R, ≤ k) each."""
    values = torch.cat([values, new_values], dim=1)  # (R, k + k')
    ids = torch.cat([ids, new_ids], dim=1)  # (R, k + k')
    order = torch.argsort(values, dim=1, descending=True, stable=True)[:, :k]  # (R, k)
    return values.gather(1, order), ids.gather(1, order)


def nearest(
    queries: torch.Tensor,
    corpus: Embeddings,
    k: int,
    corpus_chunk_size: int,
    dtype: torch.dtype,
    self_start: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine scores and ids (q, k) of the k nearest corpus rows to each unit query (q, D), the
    corpus read `corpus_chunk_size` rows at a time. With `self_start`, query r is corpus row
    self_start + r and never its own neighbour (its score is set to -inf)."""
    values = torch.empty(len(queries), 0, dtype=dtype, device=queries.device)  # (q, 0)
    ids = torch.empty(len(queries), 0, dtype=torch.long, device=queries.device)  # (q, 0)
    for start in range(0, len(corpus), corpus_chunk_size):
        stop = min(start + corpus_chunk_size, len(corpus))
        chunk = unit_rows(corpus, start, stop, dtype, "corpus").to(queries.device)  # (c, D)
        scores = queries @ chunk.T  # (q, c) cosine similarities
        if self_start is not None:
            rows = torch.arange(len(queries), device=scores.device)  # (q,)
            own = rows + self_start - start  # (q,) each query's own column in this chunk
            inside = (own >= 0) & (own < stop - start)
            scores[rows[inside], own[inside]] = float("-inf")
        chunk_values, chunk_columns = top_k_per_row(scores, min(k, stop - start))  # (q, ≤ k)
        values, ids = merge_top_k(values, ids, chunk_values, chunk_columns + start, k)
    return values, ids


# ---------------------------------------------------------------------------------------------
# semantic search


def semantic_search(
    queries: Embeddings,
    corpus: Embeddings,
    top_k: int = 10,
    query_chunk_size: int = 100,
    corpus_chunk_size: int = 50_000,
) -> list[list[dict[str, int | float]]]:
    """For each query (Q, D) — or one query (D,) — the `top_k` corpus rows (N, D) of highest cosine
    similarity, as [{"corpus_id": j, "score": cos(query, corpus[j])}, ...], highest first, equal
    scores by corpus id. Fewer than top_k when the corpus is smaller.

    Example: query (3, 4), corpus [(4, 3), (0, 5), (6, 8)], top_k 2 →
    [[{"corpus_id": 2, "score": 1.0}, {"corpus_id": 0, "score": 0.96}]]  (24/25 = 0.96).
    Memory: (query_chunk_size × corpus_chunk_size) scores at a time."""
    queries = check_embeddings(queries, "queries", allow_vector=True)
    corpus = check_embeddings(corpus, "corpus")
    if queries.shape[1] != corpus.shape[1]:
        raise ValueError(f"queries have {queries.shape[1]} dimensions but the corpus has {corpus.shape[1]}")
    top_k = check_count(top_k, "top_k")
    query_chunk_size = check_count(query_chunk_size, "query_chunk_size")
    corpus_chunk_size = check_count(corpus_chunk_size, "corpus_chunk_size")
    dtype = compute_dtype(queries, corpus)
    k = min(top_k, len(corpus))
    results = []
    for start in range(0, len(queries), query_chunk_size):
        stop = min(start + query_chunk_size, len(queries))
        block = unit_rows(queries, start, stop, dtype, "queries")  # (q, D)
        values, ids = nearest(block, corpus, k, corpus_chunk_size, dtype)  # (q, k) each
        for row_values, row_ids in zip(values.tolist(), ids.tolist(), strict=True):
            results.append([{"corpus_id": j, "score": s} for s, j in zip(row_values, row_ids, strict=True)])
    return results


# ---------------------------------------------------------------------------------------------
# paraphrase mining


def neighbour_pairs(values: torch.Tensor, ids: torch.Tensor, first_row: int, n: int) -> tuple:
    """The pairs (score, key) found by rows first_row.. from their neighbours (q, k): each pair as
    (min(i, j), max(i, j)), keyed i·n + j; flattened row by row, so a pair two rows both found
    comes first from the smaller row."""
    rows = torch.arange(first_row, first_row + len(ids), device=ids.device)[:, None].expand_as(ids)
    low, high = torch.minimum(rows, ids), torch.maximum(rows, ids)  # (q, k)
    return values.reshape(-1), (low * n + high).reshape(-1)  # (q·k,) each


def best_unique_pairs(
    scores: torch.Tensor, keys: torch.Tensor, max_pairs: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The `max_pairs` best distinct pairs, by score descending then key ascending; a pair listed
    twice keeps its first score (a cosine computed twice may differ in its last bit)."""
    unique, inverse = torch.unique(keys, return_inverse=True)  # (U,), sorted by key
    positions = torch.arange(len(keys), device=keys.device)  # (P,)
    first = torch.full_like(unique, len(keys)).scatter_reduce(0, inverse, positions, reduce="amin")  # (U,)
    scores = scores[first]  # (U,) in key order
    order = torch.argsort(scores, descending=True, stable=True)[:max_pairs]  # equal scores: key order
    return scores[order], unique[order]


def paraphrase_mining(
    embeddings: Embeddings,
    top_k: int = 100,
    max_pairs: int = 500_000,
    query_chunk_size: int = 1000,
    corpus_chunk_size: int = 20_000,
) -> list[tuple[float, int, int]]:
    """The most similar pairs among N sentences (N, D): each sentence's `top_k` nearest others
    give candidate pairs; the best `max_pairs` distinct ones are returned as (cos, i, j) with
    i < j, highest first, equal scores by (i, j).

    Example: (3, 4), (4, 3), (0, 5), top_k 1 → each finds one neighbour: 0 ↔ 1 (0.96), 1 → 0,
    2 → 0 (20/25 = 0.8): [(0.96, 0, 1), (0.8, 0, 2)]. The pair (1, 2), at 0.6, is nobody's first.
    Memory: (query_chunk_size × corpus_chunk_size) scores, and about max_pairs + q·k pairs."""
    embeddings = check_embeddings(embeddings, "embeddings")
    top_k = check_count(top_k, "top_k")
    max_pairs = check_count(max_pairs, "max_pairs")
    query_chunk_size = check_count(query_chunk_size, "query_chunk_size")
    corpus_chunk_size = check_count(corpus_chunk_size, "corpus_chunk_size")
    n, dtype = len(embeddings), compute_dtype(embeddings)
    k = min(top_k, n - 1)  # a sentence has n - 1 others
    best_scores = torch.empty(0, dtype=dtype)  # (P,) the running best pairs
    best_keys = torch.empty(0, dtype=torch.long)  # (P,)
    for start in range(0, n if k > 0 else 0, query_chunk_size):
        stop = min(start + query_chunk_size, n)
        block = unit_rows(embeddings, start, stop, dtype, "embeddings")  # (q, D)
        values, ids = nearest(block, embeddings, k, corpus_chunk_size, dtype, self_start=start)  # (q, k)
        scores, keys = neighbour_pairs(values.cpu(), ids.cpu(), start, n)  # (q·k,)
        best_scores, best_keys = best_unique_pairs(
            torch.cat([best_scores, scores]), torch.cat([best_keys, keys]), max_pairs
        )
    pairs = zip(best_scores.tolist(), (best_keys // n).tolist(), (best_keys % n).tolist(), strict=True)
    return [(score, i, j) for score, i, j in pairs]
