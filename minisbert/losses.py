"""The training objectives of Sentence-BERT, as pure functions of embeddings plus thin modules.

Source: Reimers & Gurevych, "Sentence-BERT" (EMNLP 2019), section 3, "Training details":

- classification: o = softmax(W (u, v, |u−v|)), cross-entropy (section 3, eq. 1; the
  concatenation ablation is table 6);
- regression: mean squared error between cos(u, v) and the gold score;
- triplet: max(‖a−p‖ − ‖a−n‖ + ε, 0), "Euclidean distance ... and set ε = 1";

and beyond the paper, the multiple negatives ranking loss (Henderson et al., 2017, "Efficient
Natural Language Response Suggestion"; van den Oord et al., 2018, InfoNCE): each anchor must pick
its own positive out of all positives in the batch, a cross-entropy over scaled cosine scores.
Today's sentence embedding models, all-MiniLM-L6-v2 among them, are trained with it.

Each loss returns the mean over the batch. `reference/losses.py` has the same functions in NumPy
with hand-derived gradients.

Shapes: B batch, D embedding size, K labels, F = D × number of concatenated parts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# ---------------------------------------------------------------------------------------------
# classification


# The parts the classifier may see, as in the paper's table 6. The default is (u, v, |u−v|).
CONCATENATION_PARTS = {
    "u": lambda u, v: u,
    "v": lambda u, v: v,
    "|u-v|": lambda u, v: (u - v).abs(),
    "u*v": lambda u, v: u * v,
}
DEFAULT_CONCATENATION = ("u", "v", "|u-v|")


def concatenate(
    u: torch.Tensor, v: torch.Tensor, parts: tuple[str, ...] = DEFAULT_CONCATENATION
) -> torch.Tensor:
    """(u, v, |u−v|) side by side: (B, D), (B, D) → (B, len(parts) · D)."""
    # BEGIN EXERCISE softmax_loss
    return torch.cat([CONCATENATION_PARTS[p](u, v) for p in parts], dim=-1)  # (B, F)
    # END EXERCISE softmax_loss


def softmax_loss(
    u: torch.Tensor,
    v: torch.Tensor,
    labels: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    concatenation: tuple[str, ...] = DEFAULT_CONCATENATION,
) -> torch.Tensor:
    """Cross-entropy of softmax(W · (u, v, |u−v|) + b) against integer labels.

    u, v: (B, D); labels: (B,) in [0, K); weight: (K, F), F = 3D by default; bias: (K,).
    """
    # BEGIN EXERCISE softmax_loss
    logits = concatenate(u, v, concatenation) @ weight.T + bias  # (B, K)
    return F.cross_entropy(logits, labels)
    # END EXERCISE softmax_loss


class SoftmaxLoss(nn.Module):
    """The SBERT classification objective with its own trainable classifier W, b."""

    def __init__(self, dim: int, num_labels: int, concatenation: tuple[str, ...] = DEFAULT_CONCATENATION):
        super().__init__()
        unknown = [p for p in concatenation if p not in CONCATENATION_PARTS]
        if unknown or not concatenation:
            raise ValueError(
                f"concatenation {tuple(concatenation)} must be a non-empty choice "
                f"of {tuple(CONCATENATION_PARTS)}"
            )
        self.concatenation = tuple(concatenation)
        self.classifier = nn.Linear(len(self.concatenation) * dim, num_labels)  # weight (K, F)

    def logits(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return self.classifier(concatenate(u, v, self.concatenation))  # (B, K)

    def forward(self, u: torch.Tensor, v: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        w, b = self.classifier.weight, self.classifier.bias
        return softmax_loss(u, v, labels, w, b, self.concatenation)


# ---------------------------------------------------------------------------------------------
# regression


def cosine(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """cos(u_i, v_i) = u_i·v_i / (‖u_i‖ ‖v_i‖), row by row: (B, D), (B, D) → (B,)."""
    # BEGIN EXERCISE cosine_loss
    return (u * v).sum(-1) / (u.norm(dim=-1) * v.norm(dim=-1))
    # END EXERCISE cosine_loss


def cosine_similarity_loss(u: torch.Tensor, v: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """mean_i (cos(u_i, v_i) − s_i)², with gold scores s in [0, 1] (STS scores / 5)."""
    # BEGIN EXERCISE cosine_loss
    return ((cosine(u, v) - scores.to(u.dtype)) ** 2).mean()
    # END EXERCISE cosine_loss


class CosineSimilarityLoss(nn.Module):
    """The SBERT regression objective: MSE between cosine similarity and the gold score."""

    def forward(self, u: torch.Tensor, v: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return cosine_similarity_loss(u, v, scores)


# ---------------------------------------------------------------------------------------------
# triplet


def euclidean_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """‖x − y‖₂ per row: (B, D) → (B,)."""
    return (x - y).norm(dim=-1)


def cosine_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """1 − cos(x, y) per row."""
    return 1.0 - cosine(x, y)


def manhattan_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Σ_d |x_d − y_d| per row."""
    return (x - y).abs().sum(-1)


DISTANCES = {"euclidean": euclidean_distance, "cosine": cosine_distance, "manhattan": manhattan_distance}


def triplet_loss(
    anchor, positive, negative, margin: float = 1.0, distance: str = "euclidean"
) -> torch.Tensor:
    """mean_i max(d(a_i, p_i) − d(a_i, n_i) + margin, 0): the positive must be closer by `margin`.

    anchor, positive, negative: (B, D). Example: d(a,p) = 0.5, d(a,n) = 2 → max(0.5 − 2 + 1, 0) = 0.
    """
    # BEGIN EXERCISE triplet_loss
    d = DISTANCES[distance]
    return F.relu(d(anchor, positive) - d(anchor, negative) + margin).mean()
    # END EXERCISE triplet_loss


class TripletLoss(nn.Module):
    """The SBERT triplet objective.

    The default is the paper's: Euclidean distance and margin ε = 1. sentence-transformers'
    `TripletLoss` defaults to margin 5 (also Euclidean); pass `margin=5.0` to train as it does.
    Its Euclidean distance is `F.pairwise_distance`, ‖x − y + 1e-6‖, which differs from the plain
    ‖x − y‖ here by at most 1e-6 · √D.
    """

    def __init__(self, margin: float = 1.0, distance: str = "euclidean"):
        super().__init__()
        if distance not in DISTANCES:
            raise ValueError(f"distance {distance!r} is not one of {', '.join(DISTANCES)}")
        if margin < 0:
            raise ValueError(f"margin must be at least 0, got {margin}")
        self.margin, self.distance = margin, distance

    def forward(self, anchor, positive, negative) -> torch.Tensor:
        return triplet_loss(anchor, positive, negative, self.margin, self.distance)


# ---------------------------------------------------------------------------------------------
# multiple negatives ranking


def multiple_negatives_ranking_loss(anchors, positives, scale: float = 20.0, negatives=None) -> torch.Tensor:
    """In-batch negatives: cross-entropy of scale · cos(a_i, c_j) with the right answer j = i.

    anchors, positives: (B, D). Candidates c are all B positives (each anchor's own one and the
    other B − 1 as negatives), followed by the hard `negatives` (B, D) when given. (Trained on
    several ranks, positives and negatives may hold more rows than the anchors: the other ranks'.)
    """
    # BEGIN EXERCISE mnrl
    candidates = positives if negatives is None else torch.cat([positives, negatives])  # (B or 2B, D)
    a = F.normalize(anchors, dim=-1)  # (B, D)
    c = F.normalize(candidates, dim=-1)  # (B or 2B, D)
    scores = scale * a @ c.T  # (B, B or 2B)
    return F.cross_entropy(scores, torch.arange(len(a), device=a.device))
    # END EXERCISE mnrl


class MultipleNegativesRankingLoss(nn.Module):
    """In-batch negatives ranking loss (scale 20, as in sentence-transformers): each anchor against
    every positive (and hard negative) of the batch. On several processes, the whole global batch's
    candidates: minisbert/run/distributed.py, `GlobalBatchMNRL`."""

    def __init__(self, scale: float = 20.0):
        super().__init__()
        self.scale = scale

    def forward(self, anchors, positives, negatives=None) -> torch.Tensor:
        return multiple_negatives_ranking_loss(anchors, positives, self.scale, negatives)
