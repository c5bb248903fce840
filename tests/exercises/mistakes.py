"""The classic mistakes students make, each as a small edit of the solution, and the exercise whose
tests must catch it. `tests/test_assignment.py` puts each one into a copy of the repository and
checks that its exercise fails with a message pointing at it (`make test` runs them all; alone:
`pytest tests/test_assignment.py -k seeded_mistakes`).

Teacher-only: `minisbert assignment make` leaves this file out of a student version, since the
`old` side of every edit is a line of the solution.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mistake:
    name: str
    exercise: str
    file: str
    old: str  # text of the solution (must occur exactly once in the file)
    new: str  # what the student wrote instead
    message: str = "not close"  # a word the failure message must contain


MISTAKES = (
    # tokenization
    Mistake("wordpiece-no-continuation-prefix", "wordpiece", "reference/tokenizer.py",
            'word[start:end] if start == 0 else "##" + word[start:end]', "word[start:end]", "expected"),
    Mistake("wordpiece-unknown-piece-only", "wordpiece", "reference/tokenizer.py",
            '        if end == start:  # no piece of the vocabulary fits here: the whole word is unknown\n'
            '            return ["[UNK]"]',
            '        if end == start:\n            end = start + 1\n            piece = "[UNK]"', "UNK"),
    # the torch forward
    Mistake("embeddings-no-position", "embeddings", "minisbert/model.py",
            "            + self.position_embeddings(positions)  # (T, C), broadcast over the batch\n", ""),
    Mistake("embeddings-dropout-removed", "embeddings", "minisbert/model.py",
            "return self.dropout(self.LayerNorm(x))  # (B, T, C)", "return self.LayerNorm(x)  # (B, T, C)"),
    Mistake("embeddings-dropout-before-layernorm", "embeddings", "minisbert/model.py",
            "return self.dropout(self.LayerNorm(x))  # (B, T, C)", "return self.LayerNorm(self.dropout(x))"),
    Mistake("heads-missing-transpose", "heads", "minisbert/model.py",
            "return x.view(B, T, self.num_heads, C // self.num_heads).transpose(1, 2)  # (B, nh, T, hs)",
            "return x.reshape(B, self.num_heads, T, C // self.num_heads)"),
    Mistake("attention-scaled-by-model-width", "attention", "minisbert/model.py",
            "/ math.sqrt(q.size(-1))  # (B, nh, T, T)", "/ math.sqrt(q.size(-1) * q.size(1))"),
    Mistake("attention-unscaled", "attention", "minisbert/model.py",
            "/ math.sqrt(q.size(-1))  # (B, nh, T, T)", ""),
    Mistake("attention-mask-forgotten", "attention", "minisbert/model.py",
            "scores = scores + additive_mask  # (B, nh, T, T), padding keys → -huge", "", "padding"),
    Mistake("attention-softmax-over-queries", "attention", "minisbert/model.py",
            "probs = torch.softmax(scores, dim=-1)", "probs = torch.softmax(scores, dim=-2)"),
    Mistake("attention-dropout-removed", "attention", "minisbert/model.py",
            "context = dropout(probs) @ v", "context = probs @ v"),
    Mistake("attention-dropout-on-context", "attention", "minisbert/model.py",
            "context = dropout(probs) @ v", "context = dropout(probs @ v)", "dropout was applied"),
    # the NumPy backward
    Mistake("layer-norm-unbiased-variance", "layer_norm", "reference/model.py",
            "var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)",
            "var = x.var(axis=-1, ddof=1, keepdims=True)"),
    Mistake("layer-norm-eps-outside-sqrt", "layer_norm", "reference/model.py",
            "rstd = 1.0 / np.sqrt(var + eps)", "rstd = 1.0 / (np.sqrt(var) + eps)"),
    Mistake("layer-norm-backward-dropped-term", "layer_norm", "reference/model.py",
            " - xhat * (g * xhat).mean(-1, keepdims=True))", ")"),
    Mistake("layer-norm-backward-dw-not-summed", "layer_norm", "reference/model.py",
            "dw = (dout * xhat).reshape(-1, C).sum(0)", "dw = (dout * xhat).reshape(-1, C).mean(0)"),
    Mistake("softmax-backward-diagonal-only", "softmax_backward", "reference/model.py",
            "return p * (dp - (dp * p).sum(-1, keepdims=True))", "return p * dp"),
    Mistake("cosine-backward-dropped-term", "cosine_backward", "reference/losses.py",
            "du = g * (v / (nu * nv)[:, None] - c[:, None] * u / (nu**2)[:, None])",
            "du = g * (v / (nu * nv)[:, None])"),
    # pooling, losses, optimizer
    Mistake("mean-pooling-counts-padding", "pooling", "minisbert/pooling.py",
            "summed = (hidden * m).sum(dim=1)  # (B, C)\n    counts = m.sum(dim=1).clamp(min=1e-9)",
            "summed = hidden.sum(dim=1)  # (B, C)\n"
            "    counts = torch.full_like(m.sum(dim=1), hidden.size(1))"),
    Mistake("max-pooling-padding-as-zero", "pooling", "minisbert/pooling.py",
            'padding, float("-inf")', "padding, 0.0"),
    Mistake("max-pooling-in-place", "pooling", "minisbert/pooling.py",
            "return hidden.masked_fill(padding,", "return hidden.masked_fill_(padding,",
            "wrote into its input"),
    Mistake("softmax-loss-no-bias", "softmax_loss", "minisbert/losses.py",
            "@ weight.T + bias  # (B, K)", "@ weight.T  # (B, K)"),
    Mistake("softmax-loss-concatenated-on-batch-axis", "softmax_loss", "minisbert/losses.py",
            "for p in parts], dim=-1)  # (B, F)", "for p in parts], dim=0)  # (B, F)", "shape"),
    Mistake("cosine-loss-summed", "cosine_loss", "minisbert/losses.py",
            "** 2).mean()", "** 2).sum()"),
    Mistake("triplet-loss-no-hinge", "triplet_loss", "minisbert/losses.py",
            "return F.relu(d(anchor, positive) - d(anchor, negative) + margin).mean()",
            "return (d(anchor, positive) - d(anchor, negative) + margin).mean()"),
    Mistake("mnrl-not-normalized", "mnrl", "minisbert/losses.py",
            "a = F.normalize(anchors, dim=-1)  # (B, D)", "a = anchors  # (B, D)"),
    Mistake("mnrl-hard-negatives-dropped", "mnrl", "minisbert/losses.py",
            "candidates = positives if negatives is None else torch.cat([positives, negatives])",
            "candidates = positives"),
    Mistake("adamw-no-bias-correction", "adamw", "reference/training.py",
            "new_params[name] = p - lr / (1.0 - b1**t) * m[name] / denom",
            "new_params[name] = p - lr * m[name] / denom"),
    Mistake("adamw-decay-on-biases", "adamw", "reference/training.py",
            "if not name.endswith(NO_DECAY):", "if True:"),
    # training and evaluation
    Mistake("spearman-ties-get-the-first-rank", "spearman", "minisbert/evaluation.py",
            "mean_ranks = (starts + ends + 1) / 2.0", "mean_ranks = starts + 1.0", "the expected ranks are"),
    Mistake("spearman-ranks-in-sorted-order", "spearman", "minisbert/evaluation.py",
            "ranks[order] = np.repeat", "ranks[:] = np.repeat", "order"),
    Mistake("training-gradients-not-zeroed", "training_step", "minisbert/training.py",
            "    optimizer.zero_grad(set_to_none=True)  # gradients accumulate otherwise\n", ""),
    Mistake("training-no-clipping", "training_step", "minisbert/training.py",
            "loss.backward()\n"
            "    params = [p for group in optimizer.param_groups for p in group[\"params\"]]\n"
            "    grad_norm = torch.nn.utils.clip_grad_norm_(params, max_grad_norm)",
            "loss.backward()\n"
            "    params = [p for group in optimizer.param_groups for p in group[\"params\"]]\n"
            "    grad_norm = torch.linalg.vector_norm(\n"
            "        torch.stack([p.grad.norm() for p in params if p.grad is not None])\n    )",
            "clip"),
    Mistake("training-schedule-not-stepped", "training_step", "minisbert/training.py",
            "    optimizer.step()\n    scheduler.step()\n    return float(grad_norm)",
            "    optimizer.step()\n    return float(grad_norm)"),
    Mistake("training-second-sentence-detached", "training_step", "minisbert/training.py",
            "embeddings = [encoder(**{k: v.to(device) for k, v in column.items()}) for column in inputs]",
            "embeddings = [encoder(**{k: v.to(device) for k, v in c.items()}) for c in inputs[:1]]"
            " + [encoder(**{k: v.to(device) for k, v in c.items()}).detach() for c in inputs[1:]]"),
)  # fmt: skip
