"""`minisbert search`: the corpus sentences closest to each query, by cosine similarity.

    minisbert search --corpus sentences.txt "A query." "Another." --top-k 5

The corpus (one sentence a line, blank lines skipped) is encoded once and its embeddings are
cached in a .npy file, reused while the corpus file and the model folder stay the same
(deploy/corpus.py).
"""

from __future__ import annotations

from pathlib import Path

from .arguments import BadArguments, add_encoder_command, existing_file, load_encoder, positive_int

HELP = "semantic search: the corpus sentences closest to each query"


def add_parser(sub) -> None:
    p = add_encoder_command(sub, "search", HELP, check, run)
    p.add_argument("queries", nargs="+", metavar="query", help="what to look for, one or more sentences")
    p.add_argument("--corpus", required=True, help="a text file with one sentence a line")
    p.add_argument("--top-k", type=positive_int, default=10, help="hits per query (default 10)")
    p.add_argument(
        "--cache",
        help="where to keep the corpus embeddings (default: beside the corpus, "
        "CORPUS.minisbert-<model id>.npy); re-encoded when the corpus or the model changes; "
        "a file that is not such a cache is never written over",
    )


def check(args) -> None:
    existing_file(args.corpus, "corpus file")
    if args.cache and Path(args.cache).is_dir():
        raise BadArguments(f"--cache {args.cache} is a folder: give a file name such as corpus.npy")


def run(args) -> None:
    from ..deploy.corpus import cached_embeddings, default_cache_path, read_corpus, search_fingerprint
    from ..pretrained import default_model_folder
    from ..search import check_count, semantic_search

    top_k = check_count(args.top_k, "--top-k")  # before any slow work
    corpus = Path(args.corpus)
    lines = read_corpus(corpus)  # (line number, sentence)
    folder = Path(args.model) if args.model else default_model_folder()
    cache = Path(args.cache) if args.cache else default_cache_path(corpus, folder)
    encoder = load_encoder(args, fast=True)
    fingerprint = search_fingerprint(corpus, folder)
    vectors = cached_embeddings(encoder, [s for _, s in lines], cache, fingerprint, args.batch_size)  # (N, D)
    queries = encoder.encode(args.queries, batch_size=args.batch_size)  # (Q, D)
    hits = semantic_search(queries, vectors, top_k=top_k)
    print(format_hits(args.queries, hits, lines))


def format_hits(queries: list[str], hits: list[list[dict]], lines: list[tuple[int, str]]) -> str:
    """Each query, then its hits: rank, cosine score, the sentence and its line in the corpus."""
    blocks = []
    for query, found in zip(queries, hits, strict=True):
        rows = [f"query: {query}"]
        for rank, hit in enumerate(found, start=1):
            number, sentence = lines[hit["corpus_id"]]
            rows.append(f"{rank:>4}  {hit['score']:7.4f}  {sentence}  (line {number})")
        blocks.append("\n".join(rows))
    return "\n\n".join(blocks)
