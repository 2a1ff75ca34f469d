"""sr_gan.weights: the weight table, the download path through a fake file:// hub, offline mode, the CLI."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import warnings

import pytest
import torch

from sr_gan import weights
from sr_gan.errors import MissingWeightsError
from weights_utils import CountingDownloader, online, place_in_cache, serve, use_hub

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def hub(tmp_path, monkeypatch):
    return use_hub(monkeypatch, tmp_path / "hub")


def _assert_one_line_naming(msg: str, w: weights.WeightFile, folder) -> None:
    assert "\n" not in msg
    for needle in (w.filename, w.url, str(folder), f"python -m sr_gan.weights fetch {w.name}"):
        assert needle in msg, (needle, msg)


# ----------------------------------------------------------------------------- the table

def test_table_matches_torchvision():
    """URLs, sizes and hash prefixes against torchvision's own weight enums (the files' publisher)."""
    from torchvision.models import AlexNet_Weights, Inception_V3_Weights, VGG16_Weights, VGG19_Weights
    tv = {"vgg19": VGG19_Weights, "vgg16": VGG16_Weights, "alexnet": AlexNet_Weights,
          "inception_v3": Inception_V3_Weights}
    assert set(weights.WEIGHTS) == set(tv)
    for name, enum in tv.items():
        w, ref = weights.WEIGHTS[name], enum.IMAGENET1K_V1
        assert w.url == ref.url
        assert w.size_mb == pytest.approx(ref.meta["_file_size"], rel=1e-3)
        assert w.filename.endswith(f"-{w.sha256_prefix}.pth") and len(w.sha256_prefix) == 8
    from sr_gan.metrics.lpips_metric import BACKBONES
    assert {weights.WEIGHTS[n].url for n in BACKBONES.values()} == {AlexNet_Weights.IMAGENET1K_V1.url,
                                                                     VGG16_Weights.IMAGENET1K_V1.url}


@pytest.mark.parametrize("env", [{}, {"TORCH_HOME": "/opt/th"}, {"XDG_CACHE_HOME": "/x/cache"},
                                 {"TORCH_HOME": "~/th", "XDG_CACHE_HOME": "/x/cache"}])
def test_hub_folder_follows_torchs_rule(monkeypatch, env):
    """`list` finds the cache without importing torch; it must be the folder torch.hub.get_dir() names."""
    for key in ("TORCH_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    assert weights.torch_rule_hub_dir() == torch.hub.get_dir()
    assert weights.cache_dir() == os.path.join(torch.hub.get_dir(), "checkpoints")


# ----------------------------------------------------------------------------- download path

def test_fetched_once_hash_checked_cached_and_reused(hub, tmp_path, monkeypatch):
    payload = {"features.0.weight": torch.arange(12.0).view(1, 3, 2, 2), "features.0.bias": torch.ones(1)}
    w = serve(monkeypatch, tmp_path, "vgg19", payload)
    online(monkeypatch)
    downloads = CountingDownloader(monkeypatch)
    path = weights.weight_file("vgg19")
    assert path == str(hub / "vgg19-dcbb9e9d.pth") and downloads.calls == [w.url]
    served = tmp_path / "served" / w.filename
    assert hashlib.sha256(open(path, "rb").read()).hexdigest() == hashlib.sha256(served.read_bytes()).hexdigest()
    assert [f for f in os.listdir(hub) if f.endswith(".partial")] == []
    served.unlink()                       # a second use must not need the hub at all
    assert weights.weight_file("vgg19") == path and len(downloads.calls) == 1
    assert weights.available("vgg19") and weights.state("vgg19") == "present"
    loaded = torch.load(path, weights_only=True)
    assert torch.equal(loaded["features.0.weight"], payload["features.0.weight"])


def test_downloaded_file_with_wrong_hash_is_refused(hub, tmp_path, monkeypatch):
    w = serve(monkeypatch, tmp_path, "alexnet", b"not the alexnet weights", prefix="7be5be79")
    online(monkeypatch)
    downloads = CountingDownloader(monkeypatch)
    with pytest.raises(MissingWeightsError) as info:
        weights.weight_file("alexnet")
    msg = str(info.value)
    assert "\n" not in msg and "wrong SHA-256" in msg and w.url in msg and "7be5be79" in msg
    assert downloads.calls == [w.url]
    assert not os.path.exists(hub / w.filename)           # never lands where it would be used
    assert [f for f in os.listdir(hub) if not f.startswith(".")] == []
    assert not weights.available("alexnet")


def test_cached_file_with_wrong_hash_is_moved_aside_and_replaced(hub, tmp_path, monkeypatch):
    w = serve(monkeypatch, tmp_path, "inception_v3", {"fc.weight": torch.zeros(2, 2)})
    hub.mkdir(parents=True)
    (hub / w.filename).write_bytes(b"truncated garbage")
    assert weights.state("inception_v3") == "bad hash"
    # offline: refused, moved aside (not deleted), and the one-line error says how to get a good copy
    with pytest.warns(UserWarning, match="moved to .*inception_v3_google-0cc3c7bd.pth.bad"):
        with pytest.raises(MissingWeightsError, match="downloads are off"):
            weights.weight_file("inception_v3")
    assert (hub / (w.filename + ".bad")).read_bytes() == b"truncated garbage"
    assert not (hub / w.filename).exists()
    # online: the next use fetches a verified copy
    online(monkeypatch)
    path = weights.weight_file("inception_v3")
    assert torch.equal(torch.load(path, weights_only=True)["fc.weight"], torch.zeros(2, 2))


@pytest.mark.parametrize("env", [{"SR_GAN_OFFLINE": "1"}, {"HF_HUB_OFFLINE": "1"},
                                 {"SR_GAN_OFFLINE": "true", "HF_HUB_OFFLINE": "0"}])
def test_offline_makes_no_attempt_and_says_what_to_do(hub, tmp_path, monkeypatch, env):
    w = serve(monkeypatch, tmp_path, "vgg19", b"weights")
    online(monkeypatch)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: pytest.fail("tried to download"))
    with pytest.raises(MissingWeightsError) as info:
        weights.weight_file("vgg19", option="train.perceptual.weights_path")
    msg = str(info.value)
    _assert_one_line_naming(msg, w, hub)
    offending = next(f"{k}={v}" for k, v in env.items() if weights._truthy(v))
    assert f"downloads are off ({offending})" in msg and "train.perceptual.weights_path" in msg
    assert not weights.available("vgg19")


def test_sr_gan_offline_0_overrides_hf_hub_offline(hub, tmp_path, monkeypatch):
    serve(monkeypatch, tmp_path, "vgg16", b"vgg16 bytes")
    monkeypatch.setenv("SR_GAN_OFFLINE", "0")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    downloads = CountingDownloader(monkeypatch)
    assert open(weights.weight_file("vgg16"), "rb").read() == b"vgg16 bytes" and len(downloads.calls) == 1


def test_failed_download_is_one_line_naming_file_url_and_folder(hub, tmp_path, monkeypatch):
    w = serve(monkeypatch, tmp_path, "alexnet", b"x")
    (tmp_path / "served" / w.filename).unlink()          # the server has no such file
    online(monkeypatch)
    with pytest.raises(MissingWeightsError) as info:
        weights.weight_file("alexnet")
    msg = str(info.value)
    _assert_one_line_naming(msg, w, hub)
    assert "download failed (URLError" in msg


def test_explicit_path_is_used_as_given(hub, tmp_path, monkeypatch):
    mine = tmp_path / "finetuned_vgg.pth"
    mine.write_bytes(b"anything: a user's own weights are not hash-checked")
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: pytest.fail("tried to download"))
    assert weights.weight_file("vgg19", str(mine)) == str(mine)
    with pytest.raises(MissingWeightsError, match=r"^--inception-weights: inception_v3 weights file not found: .*nope\.pth$"):
        weights.weight_file("inception_v3", str(tmp_path / "nope.pth"), option="--inception-weights")


# ----------------------------------------------------------------------------- command line

def test_list_on_an_empty_cache_without_importing_torch(tmp_path):
    """The `list` command as a user runs it (fresh process): everything missing, torch never imported."""
    code = ("import sys; from sr_gan import weights; rc = weights.main(['list']); "
            "assert 'torch' not in sys.modules, 'list imported torch'; sys.exit(rc)")
    env = dict(os.environ, TORCH_HOME=str(tmp_path / "th"), PYTHONPATH=REPO)
    env.pop("SR_GAN_OFFLINE", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith(f"cache folder: {tmp_path / 'th' / 'hub' / 'checkpoints'} ")
    assert lines[1].startswith("network: allowed")
    rows = {line.split()[0]: line.split() for line in lines[3:7]}
    assert set(rows) == {"vgg19", "alexnet", "vgg16", "inception_v3"}
    expected = {"vgg19": ("vgg19-dcbb9e9d.pth", "548"), "alexnet": ("alexnet-owt-7be5be79.pth", "233"),
                "vgg16": ("vgg16-397923af.pth", "528"), "inception_v3": ("inception_v3_google-0cc3c7bd.pth", "104")}
    for name, (file, size) in expected.items():
        assert rows[name][1:5] == [file, size, "MB", "missing"], rows[name]
    assert lines[7].startswith("LPIPS linear heads: shipped with the lpips package")


def test_list_shows_present_and_bad_hash(hub, tmp_path, monkeypatch, capsys):
    place_in_cache(monkeypatch, hub, "alexnet", b"alexnet bytes")
    (hub / "vgg16-397923af.pth").write_bytes(b"not vgg16")
    assert weights.main(["list"]) == 0
    out = capsys.readouterr().out
    status = {line.split()[0]: line.split()[4] + (" hash" if line.split()[4] == "bad" else "")
              for line in out.splitlines()[3:7]}
    assert status == {"vgg19": "missing", "alexnet": "present", "vgg16": "bad hash", "inception_v3": "missing"}
    assert "network: off (SR_GAN_OFFLINE=1)" in out


def test_fetch_command(hub, tmp_path, monkeypatch, capsys):
    w = serve(monkeypatch, tmp_path, "vgg19", b"vgg19 bytes")
    online(monkeypatch)
    downloads = CountingDownloader(monkeypatch)
    assert weights.main(["fetch", "vgg19"]) == 0
    assert weights.main(["fetch", "vgg19"]) == 0
    out = capsys.readouterr().out
    assert f"vgg19: saved {hub / w.filename}" in out and f"vgg19: already in {hub / w.filename}" in out
    assert len(downloads.calls) == 1
    assert weights.main(["fetch", "vgg91"]) == 2       # argparse: unknown names never reach the network
    assert "unknown weight file 'vgg91'" in capsys.readouterr().err


def test_fetch_offline_is_one_error_line(hub, monkeypatch, capsys):
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: pytest.fail("tried to download"))
    assert weights.main(["fetch", "alexnet"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: alexnet weights alexnet-owt-7be5be79.pth")
    assert "SR_GAN_OFFLINE=1" in err[0] and captured.out == ""


def test_install_copies_good_files_and_refuses_bad_ones(hub, tmp_path, monkeypatch, capsys):
    brought = tmp_path / "usb"
    brought.mkdir()
    good = serve(monkeypatch, tmp_path, "vgg19", b"the real vgg19")
    (brought / good.filename).write_bytes(b"the real vgg19")
    (brought / "alexnet-owt-7be5be79.pth").write_bytes(b"a corrupted copy")
    assert weights.main(["install", str(brought)]) == 2
    captured = capsys.readouterr()
    assert f"vgg19: installed {hub / good.filename}" in captured.out
    assert "alexnet: " in captured.out and "wrong SHA-256" in captured.out
    assert captured.err.strip().splitlines() == [
        f"error: {brought}: refused alexnet-owt-7be5be79.pth (SHA-256 does not match); the other files were installed"]
    assert (hub / good.filename).read_bytes() == b"the real vgg19"
    assert not (hub / "alexnet-owt-7be5be79.pth").exists()
    assert weights.available("vgg19") and not weights.available("alexnet")
    assert ".sr_gan_sha256.json" not in os.listdir(brought)          # a user's folder is left as it was

    empty = tmp_path / "empty"
    empty.mkdir()
    assert weights.main(["install", str(empty)]) == 2
    assert "none of the weight files is there" in capsys.readouterr().err


def test_verified_hash_is_remembered_until_the_file_changes(hub, monkeypatch):
    path = place_in_cache(monkeypatch, hub, "vgg16", b"vgg16 weights")
    calls = []
    real = weights.sha256_of
    monkeypatch.setattr(weights, "sha256_of", lambda p: calls.append(p) or real(p))
    assert weights.available("vgg16") and weights.available("vgg16") and len(calls) == 1
    path.write_bytes(b"vgg16 weightz")             # same size, new content and mtime
    os.utime(path, ns=(1, 1))
    assert not weights.available("vgg16") and len(calls) == 2


def test_lpips_and_perceptual_fetch_through_the_table(hub, tmp_path, monkeypatch):
    """The loss and the metric get their files from the table: a missing VGG19 is downloaded on first use."""
    import torchvision
    from sr_gan.losses.perceptual import PerceptualLoss
    torch.manual_seed(5)
    feats = torchvision.models.vgg19(weights=None).features[:3]
    serve(monkeypatch, tmp_path, "vgg19", {f"features.{k}": v for k, v in feats.state_dict().items()})
    online(monkeypatch)
    downloads = CountingDownloader(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")             # no 'random VGG19' warning: the real file was used
        loss = PerceptualLoss(layers={"conv1_2": 1.0})
    assert torch.equal(loss.vgg[2].weight, feats[2].weight) and len(downloads.calls) == 1
    PerceptualLoss(layers={"conv1_2": 1.0})
    assert len(downloads.calls) == 1
