"""The SBERT losses: torch against the NumPy reference (value and gradients), the reference's
hand-derived gradients against finite differences, and both against sentence-transformers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import assert_close, max_differences, numerical_gradient
from torch import nn

from minisbert import losses
from reference import losses as ref

B, D, K = 5, 4, 3
CONCATENATIONS = [
    ("u", "v", "|u-v|"),
    ("u", "v"),
    ("|u-v|",),
    ("u*v",),
    ("|u-v|", "u*v"),
    ("u", "v", "|u-v|", "u*v"),
]
DISTANCES = ["euclidean", "cosine", "manhattan"]


def arrays(seed: int = 0, **shapes) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.normal(size=shape) for name, shape in shapes.items()}


def torch_grads(fn, inputs: dict[str, np.ndarray], *extra, **kwargs):
    """Loss value and autograd gradients of a minisbert loss, in float64."""
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in inputs.items()}
    loss = fn(*tensors.values(), *extra, **kwargs)
    loss.backward()
    return loss.item(), {k: t.grad.numpy() for k, t in tensors.items()}


# Each case: the inputs, the extra non-differentiable arguments, and the three functions.
def softmax_case(concatenation=losses.DEFAULT_CONCATENATION, seed=0):
    x = arrays(seed, u=(B, D), v=(B, D), weight=(K, D * len(concatenation)), bias=(K,))
    labels = np.random.default_rng(seed).integers(0, K, B)

    def run_torch():
        t = {k: torch.tensor(a, requires_grad=True) for k, a in x.items()}
        loss = losses.softmax_loss(
            t["u"], t["v"], torch.tensor(labels), t["weight"], t["bias"], concatenation
        )
        return loss, t

    def run_ref():
        return ref.softmax_loss_forward(x["u"], x["v"], labels, x["weight"], x["bias"], concatenation)

    return x, run_torch, run_ref, ref.softmax_loss_backward


def cosine_case(seed=0):
    x = arrays(seed, u=(B, D), v=(B, D))
    scores = np.random.default_rng(seed + 1).uniform(0, 1, B)

    def run_torch():
        t = {k: torch.tensor(a, requires_grad=True) for k, a in x.items()}
        return losses.cosine_similarity_loss(t["u"], t["v"], torch.tensor(scores)), t

    return (
        x,
        run_torch,
        lambda: ref.cosine_similarity_loss_forward(x["u"], x["v"], scores),
        (ref.cosine_similarity_loss_backward),
    )


def triplet_case(distance="euclidean", margin=1.0, seed=0):
    x = arrays(seed, anchor=(B, D), positive=(B, D), negative=(B, D))
    if distance == "cosine":
        margin = 0.3  # cosine distances lie in [0, 2]: a margin of 1 would make every triplet active

    def run_torch():
        t = {k: torch.tensor(a, requires_grad=True) for k, a in x.items()}
        return losses.triplet_loss(t["anchor"], t["positive"], t["negative"], margin, distance), t

    def run_ref():
        return ref.triplet_loss_forward(x["anchor"], x["positive"], x["negative"], margin, distance)

    return x, run_torch, run_ref, ref.triplet_loss_backward


def mnrl_case(hard_negatives=False, seed=0):
    shapes = dict(anchors=(B, D), positives=(B, D)) | (dict(negatives=(B, D)) if hard_negatives else {})
    x = arrays(seed, **shapes)
    scale = 5.0  # a smaller scale than 20 keeps the softmax away from saturation on random vectors

    def run_torch():
        t = {k: torch.tensor(a, requires_grad=True) for k, a in x.items()}
        return losses.multiple_negatives_ranking_loss(
            t["anchors"], t["positives"], scale, t.get("negatives")
        ), t

    def run_ref():
        return ref.multiple_negatives_ranking_loss_forward(
            x["anchors"], x["positives"], scale, x.get("negatives")
        )

    return x, run_torch, run_ref, ref.multiple_negatives_ranking_loss_backward


CASES = {
    **{f"softmax-{'+'.join(c)}": (softmax_case, dict(concatenation=c)) for c in CONCATENATIONS},
    "cosine-similarity": (cosine_case, {}),
    **{f"triplet-{d}": (triplet_case, dict(distance=d)) for d in DISTANCES},
    "triplet-margin-0": (triplet_case, dict(margin=0.0)),
    "mnrl": (mnrl_case, {}),
    "mnrl-hard-negatives": (mnrl_case, dict(hard_negatives=True)),
}


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("case", CASES)
def test_torch_matches_reference_value_and_gradients(case, seed):
    make, kwargs = CASES[case]
    x, run_torch, run_ref, backward = make(seed=seed, **kwargs)
    loss, tensors = run_torch()
    loss.backward()
    ref_loss, cache = run_ref()
    assert_close(loss.item(), ref_loss, "float64")
    grads = backward(cache)
    assert set(grads) == set(x)
    for name in x:
        assert_close(tensors[name].grad, grads[name], "float64")


@pytest.mark.parametrize("case", CASES)
def test_reference_gradients_match_finite_differences(case):
    make, kwargs = CASES[case]
    x, _, run_ref, backward = make(**kwargs)
    grads = backward(run_ref()[1])
    for name in x:
        numeric = numerical_gradient(lambda: run_ref()[0], x[name])
        assert_close(grads[name], numeric, "finite_difference")


def test_finite_difference_check_catches_a_wrong_gradient():
    """The check is not vacuous: flip the sign of one part of a correct gradient and it fails."""
    x, _, run_ref, backward = softmax_case()
    grads = backward(run_ref()[1])
    wrong = grads["u"].copy()
    wrong[:, 0] *= -1  # a sign flipped in one coordinate
    numeric = numerical_gradient(lambda: run_ref()[0], x["u"])
    with pytest.raises(AssertionError, match="not close"):
        assert_close(wrong, numeric, "finite_difference")
    assert max_differences(grads["u"], numeric)[0] < 1e-7


# -- worked examples ----------------------------------------------------------------------------


def test_triplet_known_answer():
    """a = (0, 0), p = (3, 4) at distance 5, n = (6, 8) at distance 10.
    margin 1: max(5 − 10 + 1, 0) = 0; margin 6: max(5 − 10 + 6, 0) = 1."""
    a, p, n = (torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]]), torch.tensor([[6.0, 8.0]]))
    assert losses.triplet_loss(a, p, n, margin=1.0).item() == 0.0
    assert losses.triplet_loss(a, p, n, margin=6.0).item() == pytest.approx(1.0)
    assert losses.triplet_loss(a, p, n, margin=0.0, distance="manhattan").item() == 0.0  # 7 − 14 < 0


def test_cosine_similarity_loss_known_answer():
    """u = (1, 0), v = (1, 1): cos = 1/√2 ≈ 0.7071; gold 0.5 → (0.7071 − 0.5)² ≈ 0.04289."""
    loss = losses.cosine_similarity_loss(
        torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 1.0]]), torch.tensor([0.5])
    )
    assert loss.item() == pytest.approx((2**-0.5 - 0.5) ** 2)


def test_mnrl_known_answer():
    """Two orthogonal pairs, a_i = p_i: scores are s on the diagonal, 0 off it, so the loss is
    −log(e^s / (e^s + 1)) = log(1 + e^−s); with s = 2, log(1 + 0.1353) ≈ 0.1269."""
    e = torch.eye(2, dtype=torch.float64)
    assert losses.multiple_negatives_ranking_loss(e, e, scale=2.0).item() == pytest.approx(
        np.log1p(np.exp(-2.0))
    )


def test_softmax_loss_module_shapes_and_errors():
    loss = losses.SoftmaxLoss(dim=8, num_labels=3)
    assert loss.classifier.weight.shape == (3, 24)
    u, v = torch.randn(4, 8), torch.randn(4, 8)
    assert loss.logits(u, v).shape == (4, 3)
    assert loss(u, v, torch.tensor([0, 1, 2, 0])).ndim == 0
    assert losses.SoftmaxLoss(8, 3, concatenation=("u", "v", "|u-v|", "u*v")).classifier.weight.shape == (
        3,
        32,
    )
    with pytest.raises(ValueError, match="concatenation"):
        losses.SoftmaxLoss(8, 3, concatenation=("u", "u+v"))
    with pytest.raises(ValueError, match="distance 'dot'"):
        losses.TripletLoss(distance="dot")


# -- against sentence-transformers' definitions -----------------------------------------------


class GivenEmbeddings(nn.Module):
    """Stands in for a SentenceTransformer: its 'sentence embedding' is whatever the batch holds."""

    device = torch.device("cpu")

    def forward(self, features):
        return {"sentence_embedding": features["embedding"]}


def st_loss(loss, *embeddings, labels=None):
    features = [{"embedding": torch.tensor(e)} for e in embeddings]
    return loss(features, torch.tensor(labels) if labels is not None else None).item()


# the concatenations sentence-transformers can express (its parts come in a fixed order)
@pytest.mark.parametrize("concatenation", CONCATENATIONS[:4], ids=lambda c: "+".join(c))
def test_softmax_loss_equals_sentence_transformers(concatenation):
    from sentence_transformers.sentence_transformer.losses import SoftmaxLoss

    x, *_ = softmax_case(concatenation)
    labels = np.random.default_rng(0).integers(0, K, B)
    theirs = SoftmaxLoss(
        GivenEmbeddings(),
        D,
        K,
        concatenation_sent_rep="u" in concatenation,
        concatenation_sent_difference="|u-v|" in concatenation,
        concatenation_sent_multiplication="u*v" in concatenation,
    ).double()
    with torch.no_grad():
        theirs.classifier.weight.copy_(torch.tensor(x["weight"]))
        theirs.classifier.bias.copy_(torch.tensor(x["bias"]))
    expected = st_loss(theirs, x["u"], x["v"], labels=labels)
    assert_close(
        ref.softmax_loss(x["u"], x["v"], labels, x["weight"], x["bias"], concatenation), expected, "float64"
    )


def test_cosine_similarity_loss_equals_sentence_transformers():
    from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss

    x = arrays(0, u=(B, D), v=(B, D))
    scores = np.linspace(0, 1, B)
    expected = st_loss(CosineSimilarityLoss(GivenEmbeddings()), x["u"], x["v"], labels=scores)
    assert_close(ref.cosine_similarity_loss(x["u"], x["v"], scores), expected, "float64")


@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize("margin", [1.0, 5.0])
def test_triplet_loss_equals_sentence_transformers(distance, margin):
    from sentence_transformers.sentence_transformer.losses import TripletDistanceMetric, TripletLoss

    metric = {
        "euclidean": TripletDistanceMetric.EUCLIDEAN,
        "cosine": TripletDistanceMetric.COSINE,
        "manhattan": TripletDistanceMetric.MANHATTAN,
    }[distance]
    x = arrays(3, a=(B, D), p=(B, D), n=(B, D))
    theirs = TripletLoss(GivenEmbeddings(), distance_metric=metric, triplet_margin=margin)
    expected = st_loss(theirs, x["a"], x["p"], x["n"])
    ours = ref.triplet_loss(x["a"], x["p"], x["n"], margin, distance)
    # their Euclidean distance is ‖x − y + 1e-6‖ (F.pairwise_distance): differs by ≤ 1e-6·√D
    assert abs(ours - expected) <= (1e-6 * np.sqrt(D) if distance == "euclidean" else 1e-12)


@pytest.mark.parametrize("hard_negatives", [False, True], ids=["in-batch", "hard-negatives"])
def test_mnrl_equals_sentence_transformers(hard_negatives):
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    x = arrays(4, a=(B, D), p=(B, D), n=(B, D))
    columns = [x["a"], x["p"]] + ([x["n"]] if hard_negatives else [])
    expected = st_loss(MultipleNegativesRankingLoss(GivenEmbeddings(), scale=20.0), *columns)
    ours = ref.multiple_negatives_ranking_loss(x["a"], x["p"], 20.0, x["n"] if hard_negatives else None)
    assert_close(ours, expected, "float64")
