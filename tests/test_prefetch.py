"""CUDAPrefetcher: on CPU a pass-through that creates the loader iterator eagerly (RNG order)."""
import torch

from sr_gan.data.prefetch import CUDAPrefetcher


class CountingLoader:
    def __init__(self, batches):
        self.batches, self.iters = batches, 0

    def __iter__(self):
        self.iters += 1
        return iter(self.batches)


def test_cpu_prefetcher_passes_the_same_batches_through_in_order():
    batches = [{"lr": torch.full((1, 3, 2, 2), float(i)), "key": [f"k{i}"]} for i in range(3)]
    loader = CountingLoader(batches)
    prefetcher = CUDAPrefetcher(loader, torch.device("cpu"))
    assert not prefetcher.enabled
    it = iter(prefetcher)
    assert loader.iters == 1                 # made at iter(), before the loop restores RNG state
    out = list(it)
    assert [b is a for a, b in zip(batches, out)] == [True] * 3 and len(out) == 3


def test_cpu_prefetcher_draws_from_torch_rng_at_iter_time_like_a_dataloader():
    data = torch.utils.data.DataLoader(list(range(4)), batch_size=2, num_workers=0)
    torch.manual_seed(0)
    it = iter(CUDAPrefetcher(data, "cpu"))
    after_iter = torch.get_rng_state()
    torch.manual_seed(0)
    iter(data)
    assert torch.equal(after_iter, torch.get_rng_state())
    assert [b.tolist() for b in it] == [[0, 1], [2, 3]]
