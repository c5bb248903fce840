"""Semantic search and paraphrase mining (minisbert/search.py): equal to sentence-transformers'
utilities on the same embeddings, whatever the chunk sizes; known answers; clear errors; the CLI
with its embedding cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from minisbert.cli import main
from minisbert.data import read_sts
from minisbert.search import paraphrase_mining, semantic_search


@pytest.fixture(scope="module")
def sts_embeddings(encoder, data_dir):
    pairs = read_sts(data_dir / "stsbenchmark" / "sts-dev.csv")[:150]
    # distinct sentences: a repeated one gives equal scores, whose order sentence-transformers leaves
    # to torch.topk, while minisbert breaks ties by index (tests of ties are the helper's own below)
    sentences = list(dict.fromkeys([p.sentence1 for p in pairs] + [p.sentence2 for p in pairs]))
    return encoder.encode(sentences)  # (N, 384)


@pytest.mark.parametrize("top_k", [1, 5, 40])
@pytest.mark.parametrize("chunks", [(100, 500), (7, 13), (1, 1)], ids=["one-chunk", "7x13", "1x1"])
def test_semantic_search_equals_sentence_transformers(sts_embeddings, top_k, chunks):
    from sentence_transformers import util

    queries, corpus = sts_embeddings[:25], sts_embeddings[25:]
    ours = semantic_search(
        queries, corpus, top_k=top_k, query_chunk_size=chunks[0], corpus_chunk_size=chunks[1]
    )
    theirs = util.semantic_search(torch.tensor(queries), torch.tensor(corpus), top_k=top_k)
    assert [[h["corpus_id"] for h in q] for q in ours] == [[h["corpus_id"] for h in q] for q in theirs]
    np.testing.assert_allclose(
        [[h["score"] for h in q] for q in ours], [[h["score"] for h in q] for q in theirs], atol=1e-6
    )


@pytest.mark.parametrize("top_k", [1, 3, 10])
def test_paraphrase_mining_equals_sentence_transformers(sts_embeddings, top_k):
    from sentence_transformers import util

    ours = paraphrase_mining(sts_embeddings, top_k=top_k)
    theirs = util.paraphrase_mining_embeddings(torch.tensor(sts_embeddings), top_k=top_k)
    assert [(i, j) for _, i, j in ours] == [(i, j) for _, i, j in theirs]
    np.testing.assert_allclose([s for s, _, _ in ours], [s for s, _, _ in theirs], atol=1e-6)


def test_ties_come_out_in_index_order():
    corpus = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [2.0, 0.0]], dtype=np.float32)
    hits = semantic_search(np.array([[1.0, 0.0]], dtype=np.float32), corpus, top_k=3, corpus_chunk_size=1)[0]
    assert [h["corpus_id"] for h in hits] == [0, 2, 3]


def test_known_answer():
    """Corpus: x-axis, y-axis, the diagonal. The query (1, 0.1) is closest to x, then the diagonal."""
    corpus = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=np.float32)
    hits = semantic_search(np.array([[1.0, 0.1]], dtype=np.float32), corpus, top_k=2)[0]
    assert [h["corpus_id"] for h in hits] == [0, 2]
    assert hits[0]["score"] == pytest.approx(1 / np.sqrt(1.01), abs=1e-6)


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda: semantic_search(np.ones((2, 3)), np.ones((4, 5))), ValueError),
        (lambda: semantic_search(np.ones((2, 3)), np.ones((4, 3)), top_k=0), ValueError),
        (lambda: semantic_search([[1.0]], np.ones((4, 1))), TypeError),
        (lambda: paraphrase_mining(np.ones((4, 3), dtype=np.int64)), TypeError),
    ],
)
def test_bad_inputs_are_named(call, error):
    with pytest.raises(error):
        call()


def test_cli_search_caches_the_corpus_embeddings(tmp_path, capsys, monkeypatch):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("A man is playing a guitar.\nThe stock market fell.\nA dog runs in the park.\n")
    cache = tmp_path / "cache.npy"
    assert (
        main(
            ["search", "--corpus", str(corpus), "--cache", str(cache), "--top-k", "1", "Someone plays music."]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "A man is playing a guitar." in out and cache.is_file()
    from minisbert.sentence_encoder import SentenceEncoder

    calls = []
    real_encode = SentenceEncoder.encode
    monkeypatch.setattr(
        SentenceEncoder,
        "encode",
        lambda self, s, *a, **k: calls.append(len(s)) or real_encode(self, s, *a, **k),
    )
    assert main(["search", "--corpus", str(corpus), "--cache", str(cache), "--top-k", "1", "A puppy."]) == 0
    assert calls == [1]  # only the query is encoded: the corpus comes from the cache
    corpus.write_text("A cat sleeps.\nRain is falling.\n")
    assert main(["search", "--corpus", str(corpus), "--cache", str(cache), "--top-k", "1", "A kitten."]) == 0
    assert "A cat sleeps." in capsys.readouterr().out  # the changed corpus was encoded again
