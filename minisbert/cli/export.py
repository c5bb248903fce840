"""`minisbert export`: a model folder with the model's graph in model.onnx, to run with ONNX Runtime.

    minisbert export --onnx models/minilm-onnx [--model FOLDER]

The graph takes the token ids, attention mask and token type ids of a batch and returns its
sentence embeddings, pooling and normalisation included; tokenization stays outside, in the
folder's tokenizer files (deploy/export.py). It needs the `onnx` and `onnxscript` packages.
"""

from __future__ import annotations

from .arguments import add_model_option, existing_folder, new_folder


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="write a model as ONNX, to run with ONNX Runtime")
    p.set_defaults(check=check, func=run)
    add_model_option(p)
    p.add_argument("--onnx", required=True, metavar="FOLDER", help="new folder: model files and model.onnx")
    p.add_argument("--overwrite", action="store_true", help="replace FOLDER if it holds something")


def check(args) -> None:
    if args.model:
        existing_folder(args.model, "--model")
    if not args.overwrite:
        new_folder(args.onnx, "files", "add --overwrite to replace them, or choose a new folder")


def run(args) -> None:
    from ..deploy.export import INPUT_NAMES, OUTPUT_NAME, export_onnx
    from ..sentence_encoder import SentenceEncoder

    encoder = SentenceEncoder.from_pretrained(args.model)
    path = export_onnx(encoder, args.onnx, overwrite=args.overwrite)
    print(
        f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB): inputs {', '.join(INPUT_NAMES)} (B, T) int64,"
        f" output {OUTPUT_NAME} (B, {encoder.dimension}) float32"
    )
