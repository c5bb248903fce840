"""Correct solutions written differently from ours, each as a small edit of the solution: the
mirror image of `mistakes.py`. A student who writes one of these has done the exercise right and
must get full marks, on any CPU. `tests/test_assignment.py` puts each one into a copy of the
repository and checks that every graded test of its exercise passes, and that the forward ones
(embeddings, heads, attention) pass tutorial 04 too (alone: `pytest tests/test_assignment.py
-k alternative`; with the slow tutorial runs, add `-m slow` or `make test-slow`).

`ALTERNATIVES` are read by the graded tests. `MIRROR_ALTERNATIVES` are the same forms in the NumPy
mirrors of the forward exercises (`reference/model.py`), which no graded test reads: tutorial 04
runs them, beside the torch form written the same way.

Teacher-only: `minisbert assignment make` leaves this file out of a student version, since the
`old` side of every edit is a line of the solution.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Alternative:
    name: str
    exercise: str
    file: str
    old: str  # text of the solution (must occur exactly once in the file)
    new: str  # the same math, written another way


# solution text that several alternatives replace whole
ATTENTION = (
    "    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (B, nh, T, T)\n"
    "    scores = scores + additive_mask  # (B, nh, T, T), padding keys → -huge\n"
    "    probs = torch.softmax(scores, dim=-1)  # (B, nh, T, T), each row sums to 1\n"
    "    context = dropout(probs) @ v  # (B, nh, T, hs)\n"
)
RANKS = (
    '    order = np.argsort(x, kind="stable")\n'
    "    sorted_x = x[order]\n"
    "    # each run of equal values gets the mean of the ranks it spans\n"
    "    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])\n"
    "    ends = np.r_[starts[1:], len(x)]\n"
    "    mean_ranks = (starts + ends + 1) / 2.0  # mean of ranks start+1 .. end\n"
    "    ranks = np.empty(len(x), dtype=np.float64)\n"
    "    ranks[order] = np.repeat(mean_ranks, ends - starts)\n"
    "    return ranks\n"
)

ALTERNATIVES = (
    # tokenization
    Alternative("wordpiece-for-else", "wordpiece", "reference/tokenizer.py",
            "        end = len(word)\n"
            "        while end > start:\n"
            '            piece = word[start:end] if start == 0 else "##" + word[start:end]\n'
            "            if piece in vocab:\n"
            "                break\n"
            "            end -= 1\n"
            "        if end == start:  # no piece of the vocabulary fits here: the whole word is unknown\n"
            '            return ["[UNK]"]\n',
            "        for end in range(len(word), start, -1):\n"
            '            piece = word[start:end] if start == 0 else "##" + word[start:end]\n'
            "            if piece in vocab:\n"
            "                break\n"
            "        else:\n"
            '            return ["[UNK]"]\n'),
    # the torch forward
    Alternative("embeddings-summed-in-another-order", "embeddings", "minisbert/model.py",
            "            self.word_embeddings(input_ids)  # (B, T, C)\n"
            "            + self.position_embeddings(positions)  # (T, C), broadcast over the batch\n"
            "            + self.token_type_embeddings(token_type_ids)  # (B, T, C)\n",
            "            self.token_type_embeddings(token_type_ids)  # (B, T, C)\n"
            "            + self.word_embeddings(input_ids)  # (B, T, C)\n"
            "            + self.position_embeddings(positions)  # (T, C)\n"),
    Alternative("embeddings-positions-per-sentence", "embeddings", "minisbert/model.py",
            "positions = torch.arange(T, device=input_ids.device)  # (T,)",
            "positions = torch.arange(T, device=input_ids.device).expand_as(input_ids)  # (B, T)"),
    Alternative("heads-reshape-permute", "heads", "minisbert/model.py",
            "return x.view(B, T, self.num_heads, C // self.num_heads).transpose(1, 2)  # (B, nh, T, hs)",
            "return x.reshape(B, T, self.num_heads, -1).permute(0, 2, 1, 3)  # (B, nh, T, hs)"),
    Alternative("heads-merged-by-permute-contiguous-view", "heads", "minisbert/model.py",
            "return x.transpose(1, 2).reshape(B, T, nh * hs)  # (B, T, C)",
            "return x.permute(0, 2, 1, 3).contiguous().view(B, T, nh * hs)  # (B, T, C)"),
    Alternative("heads-split-by-chunks", "heads", "minisbert/model.py",
            "return x.view(B, T, self.num_heads, C // self.num_heads).transpose(1, 2)  # (B, nh, T, hs)",
            "return torch.stack(x.chunk(self.num_heads, dim=-1), dim=1)  # (B, nh, T, hs)"),
    Alternative("heads-merged-by-concatenation", "heads", "minisbert/model.py",
            "return x.transpose(1, 2).reshape(B, T, nh * hs)  # (B, T, C)",
            "return torch.cat(x.unbind(dim=1), dim=-1)  # (B, T, C)"),
    Alternative("attention-scale-before-product", "attention", "minisbert/model.py",
            "scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (B, nh, T, T)",
            "scores = (q / math.sqrt(q.size(-1))) @ k.transpose(-2, -1)  # (B, nh, T, T)"),
    Alternative("attention-scaled-by-power", "attention", "minisbert/model.py",
            "scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (B, nh, T, T)",
            "scores = q @ k.transpose(-2, -1) * q.size(-1) ** -0.5  # (B, nh, T, T)"),
    Alternative("attention-matmul", "attention", "minisbert/model.py",
            ATTENTION,
            "    scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(q.size(-1))  # (B, nh, T, T)\n"
            "    scores = scores + additive_mask  # (B, nh, T, T)\n"
            "    probs = torch.softmax(scores, dim=-1)  # (B, nh, T, T)\n"
            "    context = torch.matmul(dropout(probs), v)  # (B, nh, T, hs)\n"),
    Alternative("attention-einsum", "attention", "minisbert/model.py",
            ATTENTION,
            '    scores = torch.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(q.size(-1))  # (B, nh, T, T)\n'
            "    scores = scores + additive_mask  # (B, nh, T, T)\n"
            "    probs = torch.softmax(scores, dim=-1)  # (B, nh, T, T)\n"
            '    context = torch.einsum("bhqk,bhkd->bhqd", dropout(probs), v)  # (B, nh, T, hs)\n'),
    Alternative("attention-softmax-by-hand", "attention", "minisbert/model.py",
            "    probs = torch.softmax(scores, dim=-1)  # (B, nh, T, T), each row sums to 1\n",
            "    e = torch.exp(scores - scores.amax(dim=-1, keepdim=True))  # (B, nh, T, T), at most 1\n"
            "    probs = e / e.sum(dim=-1, keepdim=True)  # (B, nh, T, T)\n"),
    # the mask as a fill rather than a sum (finite, as the additive mask: a row of padding only
    # stays uniform instead of NaN)
    Alternative("attention-mask-by-masked-fill", "attention", "minisbert/model.py",
            "scores = scores + additive_mask  # (B, nh, T, T), padding keys → -huge",
            "scores = scores.masked_fill(additive_mask < 0, torch.finfo(scores.dtype).min)  # (B, nh, T, T)"),
    # the NumPy backward
    Alternative("layer-norm-variance-by-numpy", "layer_norm", "reference/model.py",
            "var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)",
            "var = x.var(axis=-1, keepdims=True)  # ddof=0: the biased variance"),
    Alternative("layer-norm-variance-from-moments", "layer_norm", "reference/model.py",
            "var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)",
            "var = (x**2).mean(axis=-1, keepdims=True) - mean**2  # E[x²] − E[x]²"),
    Alternative("layer-norm-divided-by-the-std", "layer_norm", "reference/model.py",
            "    rstd = 1.0 / np.sqrt(var + eps)  # (..., 1)\n    xhat = (x - mean) * rstd  # (..., C)\n",
            "    std = np.sqrt(var + eps)  # (..., 1)\n"
            "    xhat = (x - mean) / std  # (..., C)\n"
            "    rstd = 1.0 / std  # (..., 1)\n"),
    # the backward in stages, through the variance and the mean (CS231n's way)
    Alternative("layer-norm-backward-in-stages", "layer_norm", "reference/model.py",
            "    dx = cache.rstd * (g - g.mean(-1, keepdims=True)"
            " - xhat * (g * xhat).mean(-1, keepdims=True))\n"
            "    C = xhat.shape[-1]\n",
            "    C = xhat.shape[-1]\n"
            "    r = cache.rstd  # (..., 1)\n"
            "    xc = xhat / r  # (..., C), x − μ\n"
            "    dvar = (g * xc).sum(-1, keepdims=True) * -0.5 * r**3  # (..., 1)\n"
            "    dmean = -(g * r).sum(-1, keepdims=True) - 2.0 * dvar * xc.mean(-1, keepdims=True)\n"
            "    dx = g * r + dvar * 2.0 * xc / C + dmean / C  # (..., C)\n"),
    Alternative("layer-norm-sums-over-leading-axes", "layer_norm", "reference/model.py",
            "    dw = (dout * xhat).reshape(-1, C).sum(0)  # (C,)\n"
            "    db = dout.reshape(-1, C).sum(0)  # (C,)\n",
            "    leading = tuple(range(dout.ndim - 1))\n"
            "    dw = (dout * xhat).sum(axis=leading)  # (C,)\n"
            "    db = dout.sum(axis=leading)  # (C,)\n"),
    Alternative("softmax-backward-expanded", "softmax_backward", "reference/model.py",
            "return p * (dp - (dp * p).sum(-1, keepdims=True))",
            "return p * dp - p * (p * dp).sum(axis=-1, keepdims=True)"),
    Alternative("softmax-backward-jacobian", "softmax_backward", "reference/model.py",
            "    return p * (dp - (dp * p).sum(-1, keepdims=True))\n",
            "    jacobian = p[..., :, None] * (np.eye(p.shape[-1]) - p[..., None, :])  # (..., T, T)\n"
            '    return np.einsum("...ji,...j->...i", jacobian, dp)  # Jᵀ dp\n'),
    Alternative("cosine-backward-unit-vectors", "cosine_backward", "reference/losses.py",
            "    du = g * (v / (nu * nv)[:, None] - c[:, None] * u / (nu**2)[:, None])  # (B, D)\n"
            "    dv = g * (u / (nu * nv)[:, None] - c[:, None] * v / (nv**2)[:, None])  # (B, D)\n",
            "    uhat, vhat = u / nu[:, None], v / nv[:, None]  # (B, D) each, unit rows\n"
            "    du = g * (vhat - c[:, None] * uhat) / nu[:, None]  # (B, D)\n"
            "    dv = g * (uhat - c[:, None] * vhat) / nv[:, None]  # (B, D)\n"),
    # pooling, losses, optimizer
    Alternative("pooling-count-clamped-at-one", "pooling", "minisbert/pooling.py",
            "counts = m.sum(dim=1).clamp(min=1e-9)  # (B, 1), never divide by zero",
            "counts = torch.clamp(mask.sum(dim=1, keepdim=True), min=1).to(hidden.dtype)  # (B, 1)"),
    Alternative("pooling-sum-by-matmul", "pooling", "minisbert/pooling.py",
            "summed = (hidden * m).sum(dim=1)  # (B, C)",
            "summed = (m.transpose(1, 2) @ hidden).squeeze(1)  # (B, 1, T) @ (B, T, C) → (B, C)"),
    Alternative("pooling-max-by-where", "pooling", "minisbert/pooling.py",
            'return hidden.masked_fill(padding, float("-inf")).max(dim=1).values  # (B, C)',
            'return torch.where(padding, float("-inf"), hidden).amax(dim=1)  # (B, C)'),
    Alternative("pooling-max-on-a-copy", "pooling", "minisbert/pooling.py",
            "    padding = (mask == 0).unsqueeze(-1)  # (B, T, 1)\n"
            "    # masked_fill returns a new tensor: the caller's hidden states stay as they were\n"
            '    return hidden.masked_fill(padding, float("-inf")).max(dim=1).values  # (B, C)\n',
            "    x = hidden.clone()  # (B, T, C), ours to write into\n"
            '    x[mask == 0] = float("-inf")\n'
            "    return x.max(dim=1).values  # (B, C)\n"),
    Alternative("softmax-loss-parts-by-hand", "softmax_loss", "minisbert/losses.py",
            "return torch.cat([CONCATENATION_PARTS[p](u, v) for p in parts], dim=-1)  # (B, F)",
            'pieces = {"u": u, "v": v, "|u-v|": torch.abs(u - v), "u*v": u * v}\n'
            "    return torch.cat([pieces[p] for p in parts], dim=1)  # (B, F)"),
    Alternative("softmax-loss-linear", "softmax_loss", "minisbert/losses.py",
            "logits = concatenate(u, v, concatenation) @ weight.T + bias  # (B, K)",
            "logits = F.linear(concatenate(u, v, concatenation), weight, bias)  # (B, K)"),
    Alternative("softmax-loss-log-softmax", "softmax_loss", "minisbert/losses.py",
            "    return F.cross_entropy(logits, labels)\n    # END EXERCISE softmax_loss",
            "    log_probs = torch.log_softmax(logits, dim=-1)  # (B, K)\n"
            "    return -log_probs.gather(1, labels[:, None]).mean()\n    # END EXERCISE softmax_loss"),
    Alternative("cosine-loss-normalized-first", "cosine_loss", "minisbert/losses.py",
            "return (u * v).sum(-1) / (u.norm(dim=-1) * v.norm(dim=-1))",
            "return (F.normalize(u, dim=-1) * F.normalize(v, dim=-1)).sum(-1)"),
    Alternative("cosine-loss-one-square-root", "cosine_loss", "minisbert/losses.py",
            "return (u * v).sum(-1) / (u.norm(dim=-1) * v.norm(dim=-1))",
            "return (u * v).sum(-1) / torch.sqrt((u * u).sum(-1) * (v * v).sum(-1))"),
    Alternative("cosine-loss-mse", "cosine_loss", "minisbert/losses.py",
            "return ((cosine(u, v) - scores.to(u.dtype)) ** 2).mean()",
            "return F.mse_loss(cosine(u, v), scores.to(u.dtype))"),
    Alternative("triplet-loss-clamp", "triplet_loss", "minisbert/losses.py",
            "return F.relu(d(anchor, positive) - d(anchor, negative) + margin).mean()",
            "return torch.clamp(d(anchor, positive) - d(anchor, negative) + margin, min=0).mean()"),
    Alternative("triplet-loss-maximum-summed", "triplet_loss", "minisbert/losses.py",
            "return F.relu(d(anchor, positive) - d(anchor, negative) + margin).mean()",
            "hinge = d(anchor, positive) - d(anchor, negative) + margin  # (B,)\n"
            "    return torch.maximum(hinge, torch.zeros_like(hinge)).sum() / len(anchor)"),
    Alternative("mnrl-normalized-by-hand", "mnrl", "minisbert/losses.py",
            "    a = F.normalize(anchors, dim=-1)  # (B, D)\n"
            "    c = F.normalize(candidates, dim=-1)  # (B or 2B, D)\n",
            "    a = anchors / anchors.norm(dim=-1, keepdim=True)  # (B, D)\n"
            "    c = candidates / candidates.norm(dim=-1, keepdim=True)  # (B or 2B, D)\n"),
    Alternative("mnrl-cosines-divided-by-norms", "mnrl", "minisbert/losses.py",
            "    a = F.normalize(anchors, dim=-1)  # (B, D)\n"
            "    c = F.normalize(candidates, dim=-1)  # (B or 2B, D)\n"
            "    scores = scale * a @ c.T  # (B, B or 2B)\n"
            "    return F.cross_entropy(scores, torch.arange(len(a), device=a.device))\n",
            "    norms = anchors.norm(dim=-1)[:, None] * candidates.norm(dim=-1)[None, :]  # (B, B or 2B)\n"
            "    scores = scale * (anchors @ candidates.T) / norms  # (B, B or 2B)\n"
            "    return F.cross_entropy(scores, torch.arange(len(anchors), device=anchors.device))\n"),
    Alternative("mnrl-log-softmax-diagonal", "mnrl", "minisbert/losses.py",
            "return F.cross_entropy(scores, torch.arange(len(a), device=a.device))",
            "return -torch.log_softmax(scores, dim=-1).diagonal().mean()  # column i is row i's answer"),
    Alternative("adamw-bias-corrected-moments", "adamw", "reference/training.py",
            "        denom = np.sqrt(v[name]) / np.sqrt(1.0 - b2**t) + eps\n"
            "        new_params[name] = p - lr / (1.0 - b1**t) * m[name] / denom\n",
            "        m_hat = m[name] / (1.0 - b1**t)\n"
            "        v_hat = v[name] / (1.0 - b2**t)\n"
            "        new_params[name] = p - lr * m_hat / (np.sqrt(v_hat) + eps)\n"),
    Alternative("adamw-decay-subtracted", "adamw", "reference/training.py",
            "p = p * (1.0 - lr * weight_decay)",
            "p = p - lr * weight_decay * p"),
    # training and evaluation
    Alternative("spearman-argsort-twice-and-unique", "spearman", "minisbert/evaluation.py",
            RANKS,
            "    ordinal = np.argsort(np.argsort(x, kind=\"stable\"), kind=\"stable\") + 1.0  # 1 .. n\n"
            "    _, group = np.unique(x, return_inverse=True)  # equal values share a group\n"
            "    return (np.bincount(group, weights=ordinal) / np.bincount(group))[group]\n"),
    Alternative("spearman-searchsorted", "spearman", "minisbert/evaluation.py",
            RANKS,
            "    s = np.sort(x)\n"
            "    below, up_to = np.searchsorted(s, x, \"left\"), np.searchsorted(s, x, \"right\")\n"
            "    return (below + up_to + 1) / 2.0  # the mean of ranks below+1 .. up_to\n"),
)  # fmt: skip

MIRROR_ALTERNATIVES = (
    Alternative("embeddings-numpy-summed-in-another-order", "embeddings", "reference/model.py",
            '        params[p + "word_embeddings.weight"][input_ids]  # (B, T, C)\n'
            '        + params[p + "position_embeddings.weight"][:T]  # (T, C)\n'
            '        + params[p + "token_type_embeddings.weight"][token_type_ids]  # (B, T, C)\n',
            '        params[p + "token_type_embeddings.weight"][token_type_ids]  # (B, T, C)\n'
            '        + params[p + "word_embeddings.weight"][input_ids]  # (B, T, C)\n'
            '        + params[p + "position_embeddings.weight"][:T]  # (T, C)\n'),
    Alternative("heads-numpy-swapaxes", "heads", "reference/model.py",
            "return x.reshape(B, T, nh, C // nh).transpose(0, 2, 1, 3)",
            "return x.reshape(B, T, nh, -1).swapaxes(1, 2)"),
    Alternative("heads-numpy-merged-by-swapaxes", "heads", "reference/model.py",
            "return x.transpose(0, 2, 1, 3).reshape(B, T, nh * hs)",
            "return x.swapaxes(1, 2).reshape(B, T, -1)"),
    Alternative("attention-numpy-scale-before-product", "attention", "reference/model.py",
            "scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hs) + mask  # (B, nh, T, T)",
            "scores = (q / math.sqrt(hs)) @ k.transpose(0, 1, 3, 2) + mask  # (B, nh, T, T)"),
    Alternative("attention-numpy-scaled-by-power", "attention", "reference/model.py",
            "scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hs) + mask  # (B, nh, T, T)",
            "scores = q @ k.transpose(0, 1, 3, 2) * hs**-0.5 + mask  # (B, nh, T, T)"),
    Alternative("attention-numpy-einsum", "attention", "reference/model.py",
            "    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hs) + mask  # (B, nh, T, T)\n"
            "    probs = softmax(scores, axis=-1)  # (B, nh, T, T)\n"
            "    return probs @ v, AttentionCache(q, k, v, probs)  # (B, nh, T, hs)\n",
            '    scores = np.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(hs) + mask  # (B, nh, T, T)\n'
            "    probs = softmax(scores, axis=-1)  # (B, nh, T, T)\n"
            '    return np.einsum("bhqk,bhkd->bhqd", probs, v), AttentionCache(q, k, v, probs)\n'),
)  # fmt: skip
