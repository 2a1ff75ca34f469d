"""The training-pair pool: Real-ESRGAN's fill-then-swap behaviour and an exact state_dict round trip."""
import io

import pytest
import torch

from sr_gan.degradations.pool import TrainingPairPool
from sr_gan.degradations.sampler import degradation_generator
from sr_gan.errors import OptionError


def _pair(step: int, b=2, eight_bit=True):
    g = torch.Generator().manual_seed(1000 + step)
    lr = torch.randint(0, 256, (b, 3, 4, 4), generator=g).float() / 255
    hr = torch.randint(0, 256, (b, 3, 16, 16), generator=g).float() / 255
    return lr, (hr if eight_bit else hr + 1e-4)


def test_fills_then_swaps_random_stored_pairs_for_the_new_batch():
    pool = TrainingPairPool(6)
    seen = []
    for step in range(3):                                        # filling: batches pass through
        lr, hr = _pair(step)
        out = pool(lr, hr, degradation_generator(0, step))
        assert out[0] is lr and out[1] is hr
        seen += list(zip(lr, hr))
    lr, hr = _pair(3)
    out_lr, out_hr = pool(lr, hr, degradation_generator(0, 3))
    for x, y in zip(out_lr, out_hr):                             # two stored pairs come out, intact
        assert any(torch.equal(x, a) and torch.equal(y, b) for a, b in seen)
    stored = list(zip(pool.lr, pool.hr))
    assert all(any(torch.equal(x, a) and torch.equal(y, b) for a, b in stored) for x, y in zip(lr, hr))
    assert not any(any(torch.equal(x, a) for a, _ in stored) for x in out_lr)
    outs = [pool(*_pair(s), degradation_generator(0, s))[0] for s in range(4, 40)]
    firsts = {round(o[0].sum().item(), 3) for o in outs}
    assert len(firsts) > 10                                       # the picks vary from step to step


@pytest.mark.parametrize("eight_bit", [True, False])
def test_state_dict_round_trip_is_exact_and_compact(eight_bit):
    a = TrainingPairPool(4)
    for step in range(3):
        a(*_pair(step, eight_bit=eight_bit), degradation_generator(0, step))
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    assert ("u8" in state["hr"]) == eight_bit and "u8" in state["lr"]
    if eight_bit:
        assert state["hr"]["u8"].dtype == torch.uint8 and state["hr"]["u8"].numel() == 4 * 3 * 16 * 16
    b = TrainingPairPool(4)
    b.load_state_dict(state)
    assert torch.equal(a.lr, b.lr) and torch.equal(a.hr, b.hr) and a.filled == b.filled
    for step in range(3, 7):
        x, y = _pair(step, eight_bit=eight_bit)
        ra, rb = a(x, y, degradation_generator(0, step)), b(x, y, degradation_generator(0, step))
        assert torch.equal(ra[0], rb[0]) and torch.equal(ra[1], rb[1])


def test_pool_errors():
    with pytest.raises(OptionError, match=r"^degradation.queue_size: 5 must be a multiple of the batch size 2$"):
        TrainingPairPool(5)(*_pair(0), degradation_generator(0, 0))
    with pytest.raises(OptionError, match="differs from the checkpoint"):
        TrainingPairPool(6).load_state_dict(TrainingPairPool(4).state_dict())
