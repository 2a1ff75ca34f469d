"""The sample stream that makes resume exact and DDP shards equal to one big batch."""
import itertools

from sr_gan.data.sampler import ResumableSampler


def take(sampler, n):
    return list(itertools.islice(iter(sampler), n))


def test_each_epoch_is_a_permutation_and_epochs_differ():
    s = ResumableSampler(10, seed=1)
    keys = take(s, 30)
    epochs = [[k[0] for k in keys[i:i + 10]] for i in (0, 10, 20)]
    assert all(sorted(e) == list(range(10)) for e in epochs)
    assert epochs[0] != epochs[1]
    assert len({k[1] for k in keys}) == 30            # a fresh augmentation seed per sample


def test_restart_at_position_continues_the_same_stream():
    full = take(ResumableSampler(7, seed=3), 40)
    resumed = take(ResumableSampler(7, seed=3, start=17), 23)
    assert resumed == full[17:]


def test_two_ranks_interleave_to_the_single_process_stream():
    single = take(ResumableSampler(9, seed=5), 24)
    r0 = take(ResumableSampler(9, seed=5, rank=0, world_size=2), 12)
    r1 = take(ResumableSampler(9, seed=5, rank=1, world_size=2), 12)
    for step in range(3):                              # batch 4 per rank == batch 8 single
        assert sorted(r0[step * 4:(step + 1) * 4] + r1[step * 4:(step + 1) * 4]) == sorted(single[step * 8:(step + 1) * 8])


def test_seed_changes_order():
    assert take(ResumableSampler(20, seed=0), 20) != take(ResumableSampler(20, seed=1), 20)
