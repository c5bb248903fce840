"""Semantic search and paraphrase mining (minisbert/search.py) and the `minisbert search` command:
known answers worked by hand, the same results as brute force and as sentence-transformers'
utilities on real embeddings, bad inputs, memory that does not grow with the corpus, and the
command's embedding cache (reused, and invalidated when the corpus or the model changes)."""

from __future__ import annotations

import re
import tracemalloc

import numpy as np
import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from minisbert.cli import main
from minisbert.data import read_sts
from minisbert.search import paraphrase_mining, semantic_search
from reference.compare import TOLERANCES, assert_close

ATOL = TOLERANCES["fp32_op"][0]  # one float32 matmul against another, or against float64


@pytest.fixture(autouse=True)
def one_thread():
    """Small chunks make thousands of small tensor operations. On a busy 2-core machine, waking a
    second thread for each costs far more than the operation (measured: 10 s instead of 0.6 s for
    one paraphrase mining here), so these tests run on one thread; the results do not depend on it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def ids(hits: list[dict]) -> list[int]:
    return [h["corpus_id"] for h in hits]


def scores(hits: list[dict]) -> list[float]:
    return [h["score"] for h in hits]


def ranked(hits: list[dict]) -> list[tuple[int, float]]:
    return [(h["corpus_id"], h["score"]) for h in hits]


def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def brute_force_search(queries, corpus, top_k: int) -> list[list[dict]]:
    """The whole (Q, N) cosine matrix in float64, each row sorted by score, then by id."""
    matrix = unit(queries) @ unit(corpus).T  # (Q, N)
    results = []
    for row in matrix:
        order = np.lexsort((np.arange(len(row)), -row))[:top_k]
        results.append([{"corpus_id": int(j), "score": float(row[j])} for j in order])
    return results


def brute_force_pairs(embeddings, top_k: int, max_pairs: int) -> list[tuple[float, int, int]]:
    """Each sentence's top_k others from the full (N, N) matrix, the pairs deduplicated and sorted."""
    matrix = unit(embeddings) @ unit(embeddings).T  # (N, N)
    np.fill_diagonal(matrix, -np.inf)
    pairs = set()
    for i, row in enumerate(matrix):
        for j in np.lexsort((np.arange(len(row)), -row))[: min(top_k, len(row) - 1)]:
            pairs.add((min(i, int(j)), max(i, int(j))))
    ranked = sorted(pairs, key=lambda p: (-matrix[p], p))[:max_pairs]
    return [(float(matrix[p]), *p) for p in ranked]


def by_pair(pairs: list) -> list[tuple[tuple[int, int], float]]:
    return [((i, j), score) for score, i, j in pairs]


def assert_same_ranking(ours: list, theirs: list, true_score) -> None:
    """The same items in the same order with the same scores, to float32 rounding. Two items whose
    true scores are that close may come in either order: a near-tie decided by the last bit of
    a float32 sum (which depends on how the matrix product was blocked), or an exact tie, which
    minisbert orders by id and sentence-transformers in the order of its heap."""
    assert len(ours) == len(theirs)
    assert_close([s for _, s in ours], [s for _, s in theirs], "fp32_op")
    assert len({key for key, _ in ours}) == len(ours), "an item listed twice"
    for (mine, _), (other, _) in zip(ours, theirs, strict=True):
        assert mine == other or abs(true_score(mine) - true_score(other)) <= ATOL, (mine, other)


# ---------------------------------------------------------------------------------------------
# known answers, worked by hand


@pytest.mark.parametrize("query_chunk_size, corpus_chunk_size", [(100, 50_000), (1, 2), (1, 3)])
def test_semantic_search_known_answer(query_chunk_size, corpus_chunk_size):
    """Query (3, 4) against (4, 3), (0, 5), (6, 8), (-4, 3), (3, 4); |each| = 5 (or 10):
    cosines 24/25 = 0.96, 20/25 = 0.8, 50/50 = 1, (-12 + 12)/25 = 0 and 25/25 = 1.
    Ranked: ids 2 and 4 (1.0, equal: the smaller id first), 0 (0.96), 1 (0.8), 3 (0.0)."""
    corpus = np.array([[4, 3], [0, 5], [6, 8], [-4, 3], [3, 4]], dtype=np.float32)
    found = semantic_search(
        np.array([[3, 4]], dtype=np.float32),
        corpus,
        top_k=3,
        query_chunk_size=query_chunk_size,
        corpus_chunk_size=corpus_chunk_size,
    )
    assert ids(found[0]) == [2, 4, 0]
    assert_close(scores(found[0]), [1.0, 1.0, 0.96], "fp32_op")
    everything = semantic_search(np.array([3.0, 4.0]), corpus, top_k=10, corpus_chunk_size=corpus_chunk_size)
    assert ids(everything[0]) == [2, 4, 0, 1, 3]  # top_k larger than the corpus: all of it
    assert_close(scores(everything[0]), [1.0, 1.0, 0.96, 0.8, 0.0], "fp32_op")


@pytest.mark.parametrize("corpus_chunk_size", [1, 3, 4, 7, 100])
def test_equal_vectors_come_out_in_index_order(corpus_chunk_size):
    """Ten copies of one direction (scaled differently) tie exactly at cosine 1: the smallest ids
    win and come first, whichever chunk they are in. A zero query has cosine 0 with everything."""
    corpus = np.zeros((14, 3), dtype=np.float32)
    corpus[[0, 5, 13]] = [[0, 1, 0], [0, 0, 1], [1, 1, 0]]
    copies = [1, 2, 3, 4, 6, 7, 8, 9, 10, 11]
    corpus[copies] = np.arange(1, 11, dtype=np.float32)[:, None] * np.array([1, 0, 0], dtype=np.float32)
    queries = np.array([[2, 0, 0], [0, 0, 0]], dtype=np.float32)
    found = semantic_search(queries, corpus, top_k=4, query_chunk_size=1, corpus_chunk_size=corpus_chunk_size)
    assert ids(found[0]) == [1, 2, 3, 4] and scores(found[0]) == [1.0] * 4
    assert ids(found[1]) == [0, 1, 2, 3] and scores(found[1]) == [0.0] * 4
    assert ids(semantic_search(queries, corpus, top_k=14, corpus_chunk_size=corpus_chunk_size)[0]) == [
        *copies,
        13,  # (1, 1, 0): cosine 1/√2
        0,
        5,
        12,  # cosine 0: the rows (0, 1, 0), (0, 0, 1) and the zero row, by id
    ]


@pytest.mark.parametrize("query_chunk_size, corpus_chunk_size", [(1000, 20_000), (1, 1), (3, 2)])
def test_paraphrase_mining_known_answer(query_chunk_size, corpus_chunk_size):
    """(3, 4), (4, 3), (0, 5), (-4, 3), all of length 5: cos(0, 1) = 24/25 = 0.96,
    cos(0, 2) = 20/25 = 0.8, cos(1, 2) = cos(2, 3) = 15/25 = 0.6, cos(0, 3) = 0, cos(1, 3) = -0.28.
    top_k = 1: 0 → 1, 1 → 0, 2 → 0, 3 → 2, so the pairs are (0, 1), (0, 2), (2, 3).
    top_k = 2: also 0 → 2, 1 → 2, 2 → 1 (tied with 3: the smaller id), 3 → 0: adds (1, 2), (0, 3)."""
    x = np.array([[3, 4], [4, 3], [0, 5], [-4, 3]], dtype=np.float32)
    chunks = {"query_chunk_size": query_chunk_size, "corpus_chunk_size": corpus_chunk_size}
    one = paraphrase_mining(x, top_k=1, **chunks)
    assert [p[1:] for p in one] == [(0, 1), (0, 2), (2, 3)]
    assert_close([p[0] for p in one], [0.96, 0.8, 0.6], "fp32_op")
    two = paraphrase_mining(x, top_k=2, **chunks)
    assert [p[1:] for p in two] == [(0, 1), (0, 2), (1, 2), (2, 3), (0, 3)]  # 0.6 twice: by (i, j)
    assert_close([p[0] for p in two], [0.96, 0.8, 0.6, 0.6, 0.0], "fp32_op")
    assert paraphrase_mining(x, top_k=2, max_pairs=3, **chunks) == two[:3]
    assert [p[1:] for p in paraphrase_mining(x, top_k=50, **chunks)][-1] == (1, 3)  # all 6 pairs, -0.28 last


def test_small_and_empty_inputs():
    x = np.eye(3, dtype=np.float32)
    assert semantic_search(x, np.empty((0, 3), dtype=np.float32)) == [[], [], []]
    assert semantic_search(np.empty((0, 3), dtype=np.float32), x) == []
    assert paraphrase_mining(x[:1]) == [] and paraphrase_mining(x[:0]) == []
    assert [p[1:] for p in paraphrase_mining(x[:2])] == [(0, 1)]


def test_numpy_torch_and_precisions_agree():
    """float32 from NumPy or torch: the same numbers. float64 stays float64 (the scores equal the
    float64 brute force). float16 is widened to float32 before the product, as sentence-transformers
    does: half-precision scores would round close cosines into ties."""
    rng = np.random.default_rng(0)
    queries, corpus = rng.standard_normal((5, 8)), rng.standard_normal((40, 8))  # float64
    as_float32 = semantic_search(queries.astype(np.float32), corpus.astype(np.float32), top_k=40)
    as_torch = semantic_search(torch.from_numpy(queries).float(), torch.from_numpy(corpus).float(), top_k=40)
    assert as_torch == as_float32
    as_float64 = semantic_search(queries, corpus, top_k=40, corpus_chunk_size=7)
    truth = brute_force_search(queries, corpus, 40)
    assert [ids(r) for r in as_float64] == [ids(r) for r in truth]
    assert_close([scores(r) for r in as_float64], [scores(r) for r in truth], "float64")
    half_q, half_c = queries.astype(np.float16), corpus.astype(np.float16)
    as_half = semantic_search(torch.from_numpy(half_q), torch.from_numpy(half_c), top_k=40)
    assert as_half == semantic_search(half_q.astype(np.float32), half_c.astype(np.float32), top_k=40)


# ---------------------------------------------------------------------------------------------
# the same results as brute force and as sentence-transformers


@pytest.fixture(scope="module")
def sts_embeddings(encoder, data_dir) -> tuple[np.ndarray, np.ndarray]:
    """499 distinct sentences of STS test as the corpus (a number no chunk size divides), and 23
    sentences of STS dev as queries, embedded by all-MiniLM-L6-v2: (23, 384), (499, 384)."""
    test = read_sts(data_dir / "stsbenchmark" / "sts-test.csv")
    corpus = list(dict.fromkeys(s for p in test for s in (p.sentence1, p.sentence2)))[:499]
    dev = read_sts(data_dir / "stsbenchmark" / "sts-dev.csv")
    queries = [p.sentence1 for p in dev[:: len(dev) // 23]][:23]
    return encoder.encode(queries), encoder.encode(corpus)


CHUNKS = [(100, 50_000), (7, 97), (23, 333), (1, 498)]


@pytest.mark.parametrize("top_k", [1, 5, 10, 2000])
@pytest.mark.parametrize("query_chunk_size, corpus_chunk_size", CHUNKS)
def test_semantic_search_equals_sentence_transformers(
    sts_embeddings, top_k, query_chunk_size, corpus_chunk_size
):
    from sentence_transformers.util import semantic_search as st_semantic_search

    queries, corpus = sts_embeddings
    ours = semantic_search(
        queries, corpus, top_k=top_k, query_chunk_size=query_chunk_size, corpus_chunk_size=corpus_chunk_size
    )
    theirs = st_semantic_search(torch.from_numpy(queries), torch.from_numpy(corpus), top_k=top_k)
    exact = unit(queries) @ unit(corpus).T  # (Q, N) float64
    assert len(ours) == len(theirs) == len(queries)
    for mine, other, true_scores in zip(ours, theirs, exact, strict=True):
        assert len(mine) == min(top_k, len(corpus))
        assert_same_ranking(ranked(mine), ranked(other), true_scores.item)


@pytest.mark.parametrize("top_k", [1, 3, 10])
@pytest.mark.parametrize("max_pairs", [25, 500_000])
@pytest.mark.parametrize("query_chunk_size, corpus_chunk_size", [(1000, 20_000), (64, 97), (250, 331)])
def test_paraphrase_mining_equals_sentence_transformers(
    sts_embeddings, top_k, max_pairs, query_chunk_size, corpus_chunk_size
):
    from sentence_transformers.util import paraphrase_mining_embeddings

    _, corpus = sts_embeddings
    ours = paraphrase_mining(
        corpus, top_k, max_pairs, query_chunk_size=query_chunk_size, corpus_chunk_size=corpus_chunk_size
    )
    theirs = paraphrase_mining_embeddings(torch.from_numpy(corpus), top_k=top_k, max_pairs=max_pairs)
    exact = unit(corpus) @ unit(corpus).T  # (N, N) float64
    assert all(i < j for _, i, j in ours)
    assert_same_ranking(by_pair(ours), by_pair(theirs), lambda pair: exact[pair])


@pytest.mark.parametrize("top_k", [1, 4, 31])
@pytest.mark.parametrize("query_chunk_size, corpus_chunk_size", [(5, 7), (64, 1000)])
def test_chunked_equals_the_whole_matrix(top_k, query_chunk_size, corpus_chunk_size):
    """No sentence-transformers needed: the (Q, N) and (N, N) matrices, written in full in NumPy."""
    rng = np.random.default_rng(1)
    corpus = rng.standard_normal((211, 16)).astype(np.float32)
    corpus[50:53] = corpus[7]  # exact ties too
    queries = np.vstack([corpus[7:8], rng.standard_normal((12, 16)).astype(np.float32)])
    chunks = {"query_chunk_size": query_chunk_size, "corpus_chunk_size": corpus_chunk_size}
    exact = unit(queries) @ unit(corpus).T
    ours = semantic_search(queries, corpus, top_k, **chunks)
    truth = brute_force_search(queries, corpus, top_k)
    for mine, expected, true_scores in zip(ours, truth, exact, strict=True):
        assert_same_ranking(ranked(mine), ranked(expected), true_scores.item)
    assert ids(semantic_search(queries[:1], corpus, 4, **chunks)[0]) == [7, 50, 51, 52]  # the tie, by id
    square = unit(corpus) @ unit(corpus).T
    ours = paraphrase_mining(corpus, top_k, max_pairs=400, **chunks)
    truth = brute_force_pairs(corpus, top_k, max_pairs=400)
    assert_same_ranking(by_pair(ours), by_pair(truth), lambda pair: square[pair])
    copies = [(7, 50), (7, 51), (7, 52)] + ([(50, 51), (50, 52), (51, 52)] if top_k >= 3 else [])
    assert [p[1:] for p in ours[: len(copies)]] == copies  # cosine 1, by (i, j); with top_k 1, 50 → 7 only


# ---------------------------------------------------------------------------------------------
# bad inputs


GOOD = np.ones((3, 4), dtype=np.float32)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: semantic_search([[1.0, 2.0]], GOOD), TypeError, "queries must be a NumPy array or a torch"),
        (lambda: semantic_search(GOOD, np.ones((2, 3, 4))), ValueError, "corpus must be a matrix (N, D)"),
        (lambda: semantic_search(GOOD, np.ones(4)), ValueError, "got shape (4,)"),
        (lambda: semantic_search(GOOD, np.ones((3, 4), dtype=int)), TypeError, "floating-point numbers"),
        (
            lambda: semantic_search(GOOD, np.ones((3, 5))),
            ValueError,
            "queries have 4 dimensions but the corpus has 5",
        ),
        (lambda: semantic_search(np.ones((1, 0)), np.ones((1, 0))), ValueError, "no dimensions"),
        (lambda: semantic_search(GOOD, GOOD, top_k=0), ValueError, "top_k must be a positive integer, got 0"),
        (lambda: semantic_search(GOOD, GOOD, top_k=2.5), ValueError, "top_k must be a positive integer"),
        (lambda: semantic_search(GOOD, GOOD, top_k=True), ValueError, "top_k must be a positive integer"),
        (lambda: semantic_search(GOOD, GOOD, corpus_chunk_size=0), ValueError, "corpus_chunk_size must be"),
        (lambda: semantic_search(GOOD, GOOD, query_chunk_size=-1), ValueError, "query_chunk_size must be"),
        (lambda: paraphrase_mining(GOOD, max_pairs=0), ValueError, "max_pairs must be a positive integer"),
        (lambda: paraphrase_mining(torch.ones(3, 4, dtype=torch.long)), TypeError, "floating-point"),
    ],
    ids=[
        "list",
        "3-d",
        "1-d-corpus",
        "integers",
        "dimensions-differ",
        "zero-dimensions",
        "top_k-0",
        "top_k-float",
        "top_k-bool",
        "corpus-chunk-0",
        "query-chunk-negative",
        "max_pairs-0",
        "torch-integers",
    ],
)
def test_bad_inputs_are_clear_errors(call, error, message):
    with pytest.raises(error) as caught:
        call()
    assert message in str(caught.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e30])
def test_a_row_that_is_not_finite_is_named(bad):
    corpus = np.ones((10, 4), dtype=np.float32)
    corpus[6, 2] = bad  # 1e30 is finite, but its square overflows float32: the norm is not
    with pytest.raises(ValueError, match="corpus row 6 holds NaN or infinity"):
        semantic_search(GOOD, corpus, corpus_chunk_size=4)
    with pytest.raises(ValueError, match="queries row 6 holds NaN or infinity"):
        semantic_search(corpus, GOOD)
    with pytest.raises(ValueError, match="embeddings row 6"):
        paraphrase_mining(corpus)


# ---------------------------------------------------------------------------------------------
# memory: bounded by the chunk sizes, not by the corpus


def torch_allocations(fn) -> tuple[int, int]:
    """(largest single tensor allocated, peak of the bytes held at once) by torch while fn runs,
    as the PyTorch profiler records them (an op's own allocation is its output)."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    sizes = [e.self_cpu_memory_usage for e in sorted(prof.events(), key=lambda e: e.time_range.start)]
    held = np.cumsum(sizes)
    return max(sizes), int(held.max())


def python_peak(fn) -> int:
    """Peak bytes held by Python objects and NumPy arrays while fn runs (tracemalloc)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_search_memory_is_bounded_by_chunk_sizes_not_by_the_corpus():
    """64 queries, chunks of 16 queries × 1,000 corpus rows, D = 32. The largest tensor is a
    chunk of corpus rows (1,000 × 32 × 4 bytes) or of scores (16 × 1,000 × 4), never the
    (64, N) matrix of scores (1.3 MB for N = 5,000, 10 MB for N = 40,000); and the peak held
    is the same for both corpus sizes."""
    rng = np.random.default_rng(0)
    q, c, d = 16, 1000, 32
    queries = rng.standard_normal((64, d), dtype=np.float32)
    figures = {}
    for n in (5000, 40_000):
        corpus = rng.standard_normal((n, d), dtype=np.float32)

        def search(corpus=corpus):
            semantic_search(queries, corpus, top_k=10, query_chunk_size=q, corpus_chunk_size=c)

        search()  # warm up: first calls allocate caches of their own
        figures[n] = (*torch_allocations(search), python_peak(search))
        largest, held, _ = figures[n]
        assert largest <= 4 * max(q * c, c * d) <= 64 * n * 4 / 10, figures  # a tenth of the matrix at most
        assert held <= 4 * 4 * max(q * c, c * d), figures
    print(figures)
    assert figures[5000][:2] == figures[40_000][:2]  # torch: exactly the same tensors
    assert figures[40_000][2] <= 1.1 * figures[5000][2] + 16_384  # NumPy chunk copies and Python


def test_paraphrase_mining_memory_is_bounded_by_chunks_and_max_pairs():
    """The pool of best pairs holds at most max_pairs + q·top_k of them; scores come 128 × 500
    at a time, never as the (N, N) matrix (9 MB for N = 1,500, 49 MB for N = 3,500)."""
    rng = np.random.default_rng(0)
    q, c, d, top_k, max_pairs = 128, 500, 32, 5, 1000
    figures = {}
    for n in (1500, 3500):
        x = rng.standard_normal((n, d), dtype=np.float32)

        def mine(x=x):
            paraphrase_mining(x, top_k, max_pairs, query_chunk_size=q, corpus_chunk_size=c)

        figures[n] = torch_allocations(mine)
        largest, held = figures[n]
        pool = (max_pairs + q * top_k) * (4 + 8 * 3)  # scores, keys, positions, unique keys
        assert largest <= max(4 * q * c, pool), figures
        assert held <= 4 * max(4 * q * c, pool), figures
    print(figures)
    assert figures[3500] == figures[1500]


# ---------------------------------------------------------------------------------------------
# the command line: minisbert search


CORPUS = """A man is playing a guitar.
The cat sleeps on the sofa.

A woman is slicing an onion.
Stocks fell sharply on Monday.
"""


@pytest.fixture
def encode_calls(monkeypatch) -> list[int]:
    """How many sentences each call of SentenceEncoder.encode embedded."""
    from minisbert import SentenceEncoder

    calls = []
    original = SentenceEncoder.encode

    def counting(self, sentences, *args, **kwargs):
        calls.append(1 if isinstance(sentences, str) else len(sentences))
        return original(self, sentences, *args, **kwargs)

    monkeypatch.setattr(SentenceEncoder, "encode", counting)
    return calls


def hits_of(output: str) -> list[list[str]]:
    """The sentences printed under each query ("   1   0.9810  A sentence.  (line 3)")."""
    hit = re.compile(r"^ *\d+ +-?\d\.\d{4}  (.*)  \(line \d+\)$")
    return [[hit.match(line)[1] for line in block.splitlines()[1:]] for block in output.strip().split("\n\n")]


def test_search_command_caches_the_corpus_and_notices_a_change(tmp_path, capsys, encode_calls):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    args = [
        "search",
        "--corpus",
        str(corpus),
        "Someone plays the guitar.",
        "Markets dropped.",
        "--top-k",
        "2",
    ]
    assert main(args) == 0
    out = capsys.readouterr()
    assert encode_calls == [4, 2]  # the corpus (blank line skipped), then the queries
    assert out.out.splitlines()[0] == "query: Someone plays the guitar."
    assert "(line 1)" in out.out.splitlines()[1] and "(line 5)" in out.out  # lines of the file
    assert hits_of(out.out)[0][0] == "A man is playing a guitar."
    assert hits_of(out.out)[1][0] == "Stocks fell sharply on Monday."
    caches = sorted(tmp_path.glob("corpus.txt.minisbert-*.npy"))
    assert len(caches) == 1 and (tmp_path / f"{caches[0].name}.json").is_file()
    assert "embeddings cached in" in out.err
    mtime = caches[0].stat().st_mtime_ns

    assert main(args) == 0  # the same corpus and model: the cache is read, only the queries are encoded
    again = capsys.readouterr()
    assert encode_calls == [4, 2, 2] and again.out == out.out
    assert "read from" in again.err and caches[0].stat().st_mtime_ns == mtime

    corpus.write_text(CORPUS.replace("A man is playing a guitar.", "A boy plays a guitar."), encoding="utf-8")
    assert main(args) == 0  # the same number of lines, another text: encoded again
    changed = capsys.readouterr()
    assert encode_calls == [4, 2, 2, 4, 2]
    assert hits_of(changed.out)[0][0] == "A boy plays a guitar."


def test_search_command_cache_belongs_to_one_model(tmp_path, capsys, encode_calls):
    """A --cache written with one model is not read with another: a tiny BERT with random weights,
    saved to a folder, then the default model, share the cache file."""
    from minisbert import SentenceEncoder
    from minisbert.config import preset

    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    tiny = SentenceEncoder.from_scratch(CORPUS.split() * 5, preset("tiny"), vocab_size=200)
    tiny.save_pretrained(tmp_path / "tiny")
    cache = tmp_path / "cache" / "vectors.npy"
    base = ["search", "--corpus", str(corpus), "A guitar.", "--cache", str(cache)]
    assert main([*base, "--model", str(tmp_path / "tiny")]) == 0
    assert encode_calls == [4, 1] and np.load(cache).shape == (4, 32)
    assert main(base) == 0  # another model: encoded again, and the cache now holds its vectors
    assert encode_calls == [4, 1, 4, 1] and np.load(cache).shape == (4, 384)
    assert main(base) == 0
    assert encode_calls == [4, 1, 4, 1, 1]
    assert not list(tmp_path.glob("corpus.txt.*"))  # nothing beside the corpus when --cache is given


def test_search_command_recovers_from_a_damaged_cache(tmp_path, capsys, encode_calls):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    cache = tmp_path / "v.npy"
    args = ["search", "--corpus", str(corpus), "A guitar.", "--cache", str(cache), "--top-k", "1"]
    assert main(args) == 0
    first = capsys.readouterr().out
    cache.write_bytes(b"not a numpy file")
    assert main(args) == 0 and capsys.readouterr().out == first
    assert encode_calls == [4, 1, 4, 1] and np.load(cache).shape == (4, 384)


def test_search_command_never_writes_over_a_file_that_is_not_its_cache(tmp_path, capsys, encode_calls):
    """--cache naming the user's own vectors (no fingerprint beside them, or a JSON file that is not
    one): refused, files kept."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    mine = tmp_path / "my_vectors.npy"
    np.save(mine, np.arange(6.0))
    assert main(["search", "--corpus", str(corpus), "A guitar.", "--cache", str(mine)]) == 1
    err = capsys.readouterr().err
    assert "my_vectors.npy is not a minisbert search cache" in err and err.count("\n") == 1
    np.testing.assert_array_equal(np.load(mine), np.arange(6.0))
    assert encode_calls == [] and sorted(p.name for p in tmp_path.iterdir()) == [
        "corpus.txt",
        "my_vectors.npy",
    ]
    (tmp_path / "my_vectors.npy.json").write_text('{"my": "notes"}')  # beside it: not a fingerprint
    assert main(["search", "--corpus", str(corpus), "A guitar.", "--cache", str(mine)]) == 1
    assert "is not a minisbert search cache" in capsys.readouterr().err
    assert (tmp_path / "my_vectors.npy.json").read_text() == '{"my": "notes"}'
    np.testing.assert_array_equal(np.load(mine), np.arange(6.0))


def test_search_command_errors(tmp_path, capsys):
    """Arguments that are wrong on their face exit with status 2 before any work; a corpus file
    that turns out to hold nothing exits with status 1. Either way: one line, naming the problem."""
    (tmp_path / "blank.txt").write_text("\n  \n", encoding="utf-8")
    (tmp_path / "ok.txt").write_text(CORPUS, encoding="utf-8")
    ok = str(tmp_path / "ok.txt")
    wrong_arguments = {
        "corpus file not found: " + str(tmp_path / "none.txt"): ["--corpus", str(tmp_path / "none.txt"), "x"],
        "--top-k must be a positive integer, got '0'": ["--corpus", ok, "x", "--top-k", "0"],
        "is a folder": ["--corpus", ok, "x", "--cache", str(tmp_path)],
        "the following arguments are required: --corpus": ["x"],
        "--top-k must be a positive integer, got 'two'": ["--corpus", ok, "x", "--top-k", "two"],
    }
    for message, args in wrong_arguments.items():
        with pytest.raises(SystemExit) as caught:
            main(["search", *args])
        err = capsys.readouterr().err
        assert caught.value.code == 2
        assert err.startswith("minisbert search: error: ") and message in err and err.count("\n") == 1, err
    assert main(["search", "--corpus", str(tmp_path / "blank.txt"), "x"]) == 1
    err = capsys.readouterr().err
    assert (
        err.startswith("minisbert search: error: ") and "holds no sentences" in err and err.count("\n") == 1
    )
