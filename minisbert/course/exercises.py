"""The exercises of a course assignment built on minisbert, described in this one place.

The code a student writes is marked in `minisbert/` and `reference/` by two comment lines,
`# BEGIN EXERCISE <id>` before the region and `# END EXERCISE <id>` after it, indented like the
code between them (see `minisbert/model.py`'s `attention` for one).

An exercise may own several regions (split_heads and merge_heads are one exercise). For each
exercise, `EXERCISES` says what a teacher and a student need: a title, where the regions are,
what to read first, hints, points, and the test file that grades it. `assignment.py` turns the
marked regions into stubs and writes the handout; `grading.py` runs the tests and scores them.

Each exercise's tests (tests/exercises/test_<id>.py) depend on that exercise alone: they call
the student's functions on recorded inputs and compare with outputs recorded from the solution
(tests/exercises/golden/<id>.npz, made by `tests/exercises/make_golden.py`, which a student
version does not hold), so a student who has not done one exercise is still graded fairly on
every other.

A student version records the exercises it sets in `assignment.json` (`ASSIGNMENT_FILE`), so that
grading it grades those and no others.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Exercise:
    id: str  # also the marker name and the test file's name
    title: str
    part: str  # the stage of the course it belongs to (see PARTS)
    functions: tuple[str, ...]  # "file::function" of every marked region
    read_first: tuple[str, ...]  # tutorials and files to read before starting
    hints: tuple[str, ...]
    points: int
    # the same math elsewhere (NumPy mirrors, a tutorial's worked version), marked with the same
    # exercise so that a student version cuts it too: "file::function", or "file::section N" for
    # a region at a tutorial's top level. Not graded; what uses it waits for it like for the exercise.
    also_cut: tuple[str, ...] = ()

    @property
    def test_file(self) -> str:
        return f"tests/exercises/test_{self.id}.py"

    @property
    def files(self) -> tuple[str, ...]:
        """Every file with a region of this exercise (what a student writes, then what is cut too)."""
        return tuple(dict.fromkeys(f.split("::")[0] for f in self.functions + self.also_cut))


# the stages of a term, in teaching order (the teacher's guide suggests a week or two each)
PARTS = (
    "1. Tokenization",
    "2. The forward pass in PyTorch",
    "3. Backward passes in NumPy",
    "4. Pooling, losses and the optimizer",
    "5. Training and evaluation",
)

EXERCISES = (
    Exercise(
        id="wordpiece",
        title="WordPiece: greedy longest-match-first",
        part=PARTS[0],
        functions=("reference/tokenizer.py::wordpiece",),
        read_first=("tutorials/02_wordpiece.py", "reference/tokenizer.py"),
        hints=(
            "Start at the beginning of the word and look for the longest prefix in the vocabulary;"
            " every piece after the first is looked up with the '##' prefix.",
            "If some position has no piece at all, the whole word is [UNK], not only that part.",
            "Words longer than MAX_CHARS_PER_WORD characters are [UNK] too.",
        ),
        points=6,
        also_cut=("tutorials/02_wordpiece.py::wordpiece_by_hand",),
    ),
    Exercise(
        id="embeddings",
        title="BERT's input embeddings",
        part=PARTS[1],
        functions=("minisbert/model.py::BertEmbeddings.forward",),
        read_first=("tutorials/04_encoder_layer.py",),
        hints=(
            "Three tables are added: word (by token id), position (by 0..T-1), token type (by segment).",
            "LayerNorm comes after the sum, then dropout.",
        ),
        points=6,
        also_cut=(
            "reference/model.py::embeddings_forward",
            "tutorials/08_backprop_by_hand.py::embedding_sums",  # section 5's LayerNorm input
        ),
    ),
    Exercise(
        id="heads",
        title="Splitting and merging attention heads",
        part=PARTS[1],
        functions=(
            "minisbert/model.py::BertSelfAttention.split_heads",
            "minisbert/model.py::BertSelfAttention.merge_heads",
        ),
        read_first=("tutorials/03_attention.py",),
        hints=(
            "(B, T, C) → (B, T, nh, hs) is a view; the heads then move in front of the tokens.",
            "merge_heads must undo split_heads exactly: a transpose alone is not contiguous, reshape is.",
        ),
        points=5,
        also_cut=("reference/model.py::split_heads", "reference/model.py::merge_heads"),
    ),
    Exercise(
        id="attention",
        title="Scaled dot-product attention with the padding mask",
        part=PARTS[1],
        functions=("minisbert/model.py::attention",),
        read_first=("tutorials/03_attention.py",),
        hints=(
            "softmax(q kᵀ / √hs + mask) v: scale by the head size hs, not the model width C.",
            "The additive mask is added to the scores before the softmax, over the keys (last axis).",
            "Dropout goes on the probabilities; return the probabilities before dropout too.",
        ),
        points=10,
        also_cut=("reference/model.py::attention_forward",),
    ),
    Exercise(
        id="layer_norm",
        title="LayerNorm, forward and backward, in NumPy",
        part=PARTS[2],
        functions=("reference/model.py::layer_norm_forward", "reference/model.py::layer_norm_backward"),
        read_first=("tutorials/04_encoder_layer.py", "tutorials/08_backprop_by_hand.py"),
        hints=(
            "The variance is the biased one (divide by C), and eps goes inside the square root.",
            "dx needs two means over the last axis: one of g = dy·w, one of g·x̂.",
            "dw and db sum over every axis but the last.",
        ),
        points=10,
        also_cut=("tutorials/08_backprop_by_hand.py::section 5",),  # LayerNorm by hand
    ),
    Exercise(
        id="softmax_backward",
        title="The softmax backward pass",
        part=PARTS[2],
        functions=("reference/model.py::softmax_backward",),
        read_first=("tutorials/08_backprop_by_hand.py",),
        hints=("The Jacobian is diag(p) − p pᵀ; apply it to dp without building it: p (dp − Σ dp·p).",),
        points=4,
    ),
    Exercise(
        id="cosine_backward",
        title="The gradient of cosine similarity",
        part=PARTS[2],
        functions=("reference/losses.py::cosine_backward",),
        read_first=("tutorials/07_objectives.py", "tutorials/08_backprop_by_hand.py"),
        hints=(
            "d cos(u, v) / du = v / (‖u‖‖v‖) − cos(u, v) · u / ‖u‖².",
            "Scale each row by its own upstream gradient dc_i.",
        ),
        points=6,
        also_cut=("tutorials/08_backprop_by_hand.py::cosine_gradients_by_hand",),  # section 2
    ),
    Exercise(
        id="pooling",
        title="Mask-aware mean and max pooling",
        part=PARTS[3],
        functions=("minisbert/pooling.py::mean_pooling", "minisbert/pooling.py::max_pooling"),
        read_first=("tutorials/06_pooling.py",),
        hints=(
            "Padding must not count: a sentence alone and the same sentence batched with a longer one"
            " must give the same vector.",
            "Never write into the caller's tensor; max pooling needs padding to lose every comparison.",
        ),
        points=6,
        also_cut=("reference/pooling.py::mean_pooling", "reference/pooling.py::max_pooling"),
    ),
    Exercise(
        id="softmax_loss",
        title="The classification objective, softmax over (u, v, |u−v|)",
        part=PARTS[3],
        functions=("minisbert/losses.py::concatenate", "minisbert/losses.py::softmax_loss"),
        read_first=("tutorials/07_objectives.py",),
        hints=("Concatenate the parts in the order given, along the last axis; logits are f Wᵀ + b.",),
        points=6,
        also_cut=("reference/losses.py::concatenate", "reference/losses.py::softmax_loss_forward"),
    ),
    Exercise(
        id="cosine_loss",
        title="The regression objective, MSE of the cosine",
        part=PARTS[3],
        functions=("minisbert/losses.py::cosine", "minisbert/losses.py::cosine_similarity_loss"),
        read_first=("tutorials/07_objectives.py",),
        hints=("Cosine row by row; the loss is the mean over the batch of the squared difference.",),
        points=4,
        also_cut=(
            "reference/losses.py::cosine_forward",
            "reference/losses.py::cosine_similarity_loss_forward",
        ),
    ),
    Exercise(
        id="triplet_loss",
        title="The triplet objective with a margin",
        part=PARTS[3],
        functions=("minisbert/losses.py::triplet_loss",),
        read_first=("tutorials/07_objectives.py",),
        hints=("max(d(a, p) − d(a, n) + margin, 0), averaged: the positive must be closer by the margin.",),
        points=5,
        also_cut=("reference/losses.py::triplet_loss_forward",),
    ),
    Exercise(
        id="mnrl",
        title="Multiple negatives ranking loss (in-batch negatives)",
        part=PARTS[3],
        functions=("minisbert/losses.py::multiple_negatives_ranking_loss",),
        read_first=("tutorials/07_objectives.py",),
        hints=(
            "Row i scores anchor i against every candidate: all positives, then the hard negatives.",
            "Cosine scores times the scale, then cross-entropy with the right answer at column i.",
        ),
        points=8,
        also_cut=(
            "reference/losses.py::multiple_negatives_ranking_loss_forward",
            "reference/losses.py::multiple_negatives_ranking_loss_backward",
        ),
    ),
    Exercise(
        id="adamw",
        title="One AdamW step, as torch computes it",
        part=PARTS[3],
        functions=("reference/training.py::adamw_step",),
        read_first=("tutorials/08_backprop_by_hand.py", "minisbert/optimizer.py"),
        hints=(
            "Decoupled weight decay: w ← w − lr·λ·w, separate from the Adam update.",
            "Both moments are bias-corrected by 1 − βᵗ, with t counting from 1.",
        ),
        points=8,
    ),
    Exercise(
        id="spearman",
        title="Ranks with ties, for Spearman's correlation",
        part=PARTS[4],
        functions=("minisbert/evaluation.py::rank",),
        read_first=("tutorials/09_fine_tuning.py", "minisbert/evaluation.py"),
        hints=(
            "Tied values share the mean of the ranks they span: [10, 20, 20, 30] → [1, 2.5, 2.5, 4].",
            "Return the ranks in the input order, not the sorted order.",
        ),
        points=6,
    ),
    Exercise(
        id="training_step",
        title="The siamese training step",
        part=PARTS[4],
        functions=("minisbert/training.py::objective_loss", "minisbert/training.py::optimization_step"),
        also_cut=("minisbert/training.py::scaled_optimization_step",),  # the same step for fp16
        read_first=("tutorials/08_backprop_by_hand.py", "tutorials/09_fine_tuning.py"),
        hints=(
            "Every column of a batch (both sentences of a pair) goes through the same encoder.",
            "Zero the gradients, backward, clip the total norm, then step the optimizer and the schedule.",
        ),
        points=10,
    ),
)

BY_ID = {exercise.id: exercise for exercise in EXERCISES}
# what `minisbert check` (divergence.py) can locate: the encoder's sub-steps, then pooling
FORWARD_EXERCISES = ("embeddings", "heads", "attention", "pooling")
TRACE_FILE = "tests/exercises/golden/encoder_trace.npz"  # the correct encoder's trace it compares with


def select(ids: list[str] | None) -> list[Exercise]:
    """The exercises named (all of them for None), in course order; unknown names are an error."""
    if not ids:
        return list(EXERCISES)
    unknown = [i for i in ids if i not in BY_ID]
    if unknown:
        raise ValueError(f"unknown exercise(s) {', '.join(unknown)}; choose from {', '.join(BY_ID)}")
    return [e for e in EXERCISES if e.id in set(ids)]


ASSIGNMENT_FILE = "assignment.json"  # written into a student version: {"exercises": [id, ...]}


def assigned(repo: str | Path) -> list[str] | None:
    """The exercises a student version at `repo` sets (from its assignment.json), or None for a
    repository made by no `assignment make` (the teacher's own: every exercise)."""
    path = Path(repo) / ASSIGNMENT_FILE
    if not path.is_file():
        return None
    return list(json.loads(path.read_text(encoding="utf-8"))["exercises"])
