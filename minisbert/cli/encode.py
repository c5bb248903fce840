"""`minisbert encode`: the embeddings of sentences, printed or written to a .npy file.

    minisbert encode "A sentence." "Another one." -o vectors.npy
    minisbert encode --file corpus.txt -o corpus.npy --resume     (streamed a block at a time)

Sentences come as arguments, one a line from --file, or on stdin. A corpus file (--file) with an
output (-o) is streamed: encoded a block of lines at a time into the .npy file, resumable, and
shared among the ranks under torchrun (deploy/corpus.py); the rest is read whole.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from ..devices import ENCODING_PRECISIONS
from ..files.atomic import atomic_save_array
from .arguments import (
    BadArguments,
    add_encoder_command,
    add_sentence_options,
    check_sentences,
    load_encoder,
    positive_int,
    read_sentences,
)

HELP = "embed sentences"


def add_parser(sub) -> None:
    from ..kernels.packed_linear import KINDS

    p = add_encoder_command(sub, "encode", HELP, check, run)
    add_sentence_options(p)
    p.add_argument("-o", "--output", help="write the embeddings to this .npy file instead of printing")
    p.add_argument("--overwrite", action="store_true", help="replace the -o file if it exists")
    p.add_argument("--no-normalize", action="store_true", help="skip the model's L2 normalisation")
    p.add_argument(
        "--precision",
        default="fp32",
        choices=list(ENCODING_PRECISIONS),
        help="of the matrix multiplies: fp32 (default), bf16, fp16, or int8 for the linear layers "
        "(CPU only; docs/speed.md); the vectors are float32 either way",
    )
    p.add_argument(
        "--linears",
        default="auto",
        choices=["auto", *KINDS],
        help="the kind of linear layer (kernels/packed_linear.py): auto (default) is int8 with "
        "--precision int8, packed for fp32 on a CPU whose torch can pack, plain nn.Linear otherwise",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="with --file and -o: continue an interrupted encode of the same corpus and model",
    )
    p.add_argument(
        "--block-lines", type=positive_int, default=None, help="with --file and -o: lines encoded per block"
    )


def streamed(args) -> bool:
    """Whether the sentences are a corpus file encoded into -o a block at a time."""
    return bool(args.file and args.file != "-" and args.output)


def check(args) -> None:
    check_sentences(args)
    check_linears(args.linears, args.precision, args.device)
    if (args.resume or args.block_lines is not None) and not streamed(args):
        raise BadArguments("--resume and --block-lines need a corpus --file and an output -o")
    if args.output:
        check_embeddings_output(Path(args.output), args.file, args.overwrite)


def check_linears(linears: str, precision: str, device: str | None) -> None:
    """--linears and --precision must agree: int8 layers are what --precision int8 means, packed
    layers are float32, and both run on the CPU only."""
    if precision == "int8" and linears not in ("auto", "int8"):
        raise BadArguments(f"--precision int8 runs int8 linear layers: --linears {linears} contradicts it")
    if linears == "int8" and precision != "int8":
        raise BadArguments(
            f"--linears int8 computes in 8-bit integers: give --precision int8, not {precision}"
        )
    if linears == "packed" and precision != "fp32":
        raise BadArguments(f"--linears packed is float32: with --precision {precision} use --linears plain")
    if linears in ("packed", "int8") and (device or "cpu").split(":")[0] != "cpu":
        raise BadArguments(f"--linears {linears} runs on the CPU only, not on {device}")


def check_embeddings_output(output: Path, source: str | None, overwrite: bool) -> None:
    """An -o file: not a folder, not the sentence file itself, not an existing file unless told."""
    if output.is_dir():
        raise BadArguments(f"the output {output} is a folder: give a file name such as vectors.npy")
    if source and source != "-" and output.resolve() == Path(source).resolve():
        raise BadArguments(f"the output {output} is the sentence file itself: name another file")
    if output.exists() and not overwrite:
        raise BadArguments(f"the output {output} exists: add --overwrite to replace it, or name another file")


def run(args) -> None:
    """Embed sentences: a corpus file into -o a block at a time, the rest whole."""
    normalize = False if args.no_normalize else None
    if (args.resume or args.block_lines is not None) and not streamed(args):
        raise ValueError("--resume and --block-lines need a corpus --file and an output -o")
    if streamed(args):
        encode_corpus_file(args, normalize)
        return
    if int(os.environ.get("WORLD_SIZE", 1)) > 1:
        raise ValueError("under torchrun, encode needs a corpus --file and an output -o (one file in order)")
    sentences = read_sentences(args)
    encoder = load_encoder(args, fast=True)
    vectors = encoder.encode(sentences, args.batch_size, normalize, precision=args.precision)  # (N, D)
    if args.output:
        atomic_save_array(args.output, vectors)  # the file named, never half-written
        print(f"wrote {vectors.shape[0]} × {vectors.shape[1]} embeddings to {args.output}", file=sys.stderr)
    else:
        np.savetxt(sys.stdout, vectors, fmt="%.6f")


def encode_corpus_file(args, normalize: bool | None) -> None:
    from ..deploy.corpus import BLOCK_LINES, encode_file
    from ..devices import resolve_device
    from ..run import distributed

    if args.sentences:
        raise ValueError("give sentences as arguments or with --file, not both")
    args.device = resolve_device(args.device, distributed.launched_world().local_rank)
    world = distributed.start(args.device)  # under torchrun: each rank encodes its share of blocks
    try:
        encoder = load_encoder(args, fast=True)
        output = encode_file(
            encoder,
            args.file,
            args.output,
            batch_size=args.batch_size,
            normalize=normalize,
            resume=args.resume,
            block_lines=args.block_lines or BLOCK_LINES,
            precision=args.precision,
        )
    finally:
        distributed.stop()
    if world.is_main:
        rows, columns = np.load(output, mmap_mode="r").shape
        print(f"wrote {rows} × {columns} embeddings to {output}", file=sys.stderr)
