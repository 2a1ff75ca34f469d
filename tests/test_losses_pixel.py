"""Pixel losses against hand-computed values."""
import math

import pytest
import torch

from sr_gan.errors import OptionError
from sr_gan.losses.pixel import CharbonnierLoss, L1Loss, MSELoss
from sr_gan.registry import LOSSES

PRED = torch.tensor([[[[0.0, 0.5], [1.0, 0.25]]]])
TARGET = torch.tensor([[[[0.5, 0.5], [0.0, 1.0]]]])  # diffs: -0.5, 0, 1, -0.75


def test_l1_value():
    assert L1Loss()(PRED, TARGET).item() == pytest.approx((0.5 + 0 + 1 + 0.75) / 4)
    assert L1Loss(reduction="sum")(PRED, TARGET).item() == pytest.approx(2.25)


def test_mse_value():
    assert MSELoss()(PRED, TARGET).item() == pytest.approx((0.25 + 0 + 1 + 0.5625) / 4)


def test_charbonnier_value_and_default_eps():
    eps = 1e-3
    expected = sum(math.sqrt(d * d + eps) for d in (-0.5, 0.0, 1.0, -0.75)) / 4
    assert CharbonnierLoss(eps=eps)(PRED, TARGET).item() == pytest.approx(expected, rel=1e-6)
    assert CharbonnierLoss().eps == 1e-12
    # with the tiny default eps it is L1 up to float error
    assert CharbonnierLoss()(PRED, TARGET).item() == pytest.approx(2.25 / 4, abs=1e-6)


def test_losses_are_scalars_with_the_analytic_gradient():
    """d/dpred over 4 pixels with d = pred - target: L1 sign(d)/4, MSE 2d/4, Charbonnier d/sqrt(d^2+eps)/4."""
    pred = PRED.clone().requires_grad_()
    d = [-0.5, 0.0, 1.0, -0.75]
    eps = 1e-3
    expected = {"l1": [math.copysign(1, x) / 4 if x else 0.0 for x in d], "mse": [2 * x / 4 for x in d],
                "charbonnier": [x / math.sqrt(x * x + eps) / 4 for x in d]}
    for name, loss in (("l1", L1Loss()), ("mse", MSELoss()), ("charbonnier", CharbonnierLoss(eps=eps))):
        out = loss(pred, TARGET)
        assert out.dim() == 0
        (grad,) = torch.autograd.grad(out, pred)
        assert grad.flatten().tolist() == pytest.approx(expected[name], rel=1e-6, abs=1e-9), name


def test_registered_as_generator_terms():
    for name, cls in (("l1", L1Loss), ("mse", MSELoss), ("charbonnier", CharbonnierLoss)):
        assert LOSSES.get(name) is cls
        assert LOSSES.kind(name) == "generator"
    assert isinstance(LOSSES.build({"type": "charbonnier", "eps": 1e-6}), CharbonnierLoss)


def test_bad_reduction_is_option_error():
    with pytest.raises(OptionError, match="reduction"):
        L1Loss(reduction="median")
