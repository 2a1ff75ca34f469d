"""JPEG compression round trip (encode + decode) of a batch at a per-image quality, on the batch's device.

Real-ESRGAN simulates JPEG with DiffJPEG (float colour conversion, no chroma filtering, float quality
factors, nearest chroma upsampling), which looks unlike the files people actually upscale. This one
follows libjpeg(-turbo), the codec behind cv2.imencode / PIL, step by step:

* 8-bit input (a JPEG file holds 8-bit samples), libjpeg's fixed-point RGB -> YCbCr (jccolor.c);
* 4:2:0 chroma: 2x2 box average with libjpeg's alternating 1,2 rounding bias (jcsample.c), edges
  replicated the way libjpeg pads partial MCUs (right edge at full resolution, bottom edge after
  downsampling);
* the Annex K tables scaled by libjpeg's integer `jpeg_quality_scaling` and clamped to 1..255
  (force_baseline, as cv2 does); quantisation rounds half away from zero like jcdctmgr.c;
* libjpeg's default integer "islow" forward and inverse DCT (jfdctint.c / jidctint.c): each 1-D pass
  is an integer linear map plus a rounding shift, computed as one float64 matmul (exact on integers);
* decode: dequantise, inverse DCT, libjpeg's "fancy" triangular h2v2 chroma upsampling (jdsample.c)
  and fixed-point YCbCr -> RGB (jdcolor.c).

The result is bit-identical to cv2.imencode + cv2.imdecode (libjpeg-turbo) on 8-bit input: see
tests/test_degradations_jpeg.py and bench/jpeg_vs_libjpeg.py. Quality is a float per image like
Real-ESRGAN's; it is rounded to an integer (libjpeg takes integers).
"""
from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor

# ITU-T T.81 Annex K.1 tables, row-major (natural) order.
LUMA_TABLE = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)
CHROMA_TABLE = (
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99) + (99,) * 32


def _fix(x: float) -> int:
    """libjpeg's FIX(): a coefficient in 16.16 fixed point."""
    return int(x * 65536 + 0.5)


def quality_scaling(quality: Tensor) -> Tensor:
    """libjpeg's jpeg_quality_scaling for integer qualities: 5000 / q below 50, 200 - 2q from 50 (percent)."""
    q = quality.to(torch.int64).clamp(1, 100)
    return torch.where(q < 50, torch.div(5000, q, rounding_mode="floor"), 200 - 2 * q)


def quant_tables(quality: Tensor) -> tuple[Tensor, Tensor]:
    """(luma, chroma) quantisation tables, each (N, 64) int64 in row-major order, for per-image
    qualities (rounded to integers): (base * scale + 50) // 100 clamped to 1..255, as libjpeg with
    force_baseline (jcparam.c)."""
    q = torch.as_tensor(quality, dtype=torch.float64).reshape(-1).round()
    scale = quality_scaling(q).view(-1, 1)
    out = []
    for base in (LUMA_TABLE, CHROMA_TABLE):
        t = torch.tensor(base, dtype=torch.int64, device=scale.device).view(1, 64)
        out.append(torch.div(t * scale + 50, 100, rounding_mode="floor").clamp(1, 255))
    return out[0], out[1]


# libjpeg's "islow" DCT (jfdctint.c / jidctint.c, Loeffler-Ligtenberg-Moschytz with 13-bit constants):
# each 1-D pass is an integer linear map followed by a rounding right shift, so it is one matmul per
# pass; the integer matrices are obtained by running the butterfly below on unit vectors.
_CONST_BITS, _PASS1_BITS = 13, 2
_K = {name: int(v * (1 << _CONST_BITS) + 0.5) for name, v in (
    ("0.298631336", 0.298631336), ("0.390180644", 0.390180644), ("0.541196100", 0.541196100),
    ("0.765366865", 0.765366865), ("0.899976223", 0.899976223), ("1.175875602", 1.175875602),
    ("1.501321110", 1.501321110), ("1.847759065", 1.847759065), ("1.961570560", 1.961570560),
    ("2.053119869", 2.053119869), ("2.562915447", 2.562915447), ("3.072711026", 3.072711026))}


def _odd_part(t4, t5, t6, t7):
    """The shared odd-part rotation of jfdctint/jidctint; returns the four odd outputs (pre-shift)."""
    z1, z2, z3, z4 = t4 + t7, t5 + t6, t4 + t6, t5 + t7
    z5 = (z3 + z4) * _K["1.175875602"]
    z1, z2 = -z1 * _K["0.899976223"], -z2 * _K["2.562915447"]
    z3, z4 = -z3 * _K["1.961570560"] + z5, -z4 * _K["0.390180644"] + z5
    return (t4 * _K["0.298631336"] + z1 + z3, t5 * _K["2.053119869"] + z2 + z4,
            t6 * _K["3.072711026"] + z2 + z3, t7 * _K["1.501321110"] + z1 + z4)


def _fdct_1d(d: list, first_pass: bool) -> tuple[list, list]:
    """jfdctint.c on 8 values: outputs before their DESCALE, and the shift of each output."""
    t0, t1, t2, t3 = d[0] + d[7], d[1] + d[6], d[2] + d[5], d[3] + d[4]
    t7, t6, t5, t4 = d[0] - d[7], d[1] - d[6], d[2] - d[5], d[3] - d[4]
    t10, t13, t11, t12 = t0 + t3, t0 - t3, t1 + t2, t1 - t2
    mul = 1 << _PASS1_BITS if first_pass else 1
    z1 = (t12 + t13) * _K["0.541196100"]
    o7, o5, o3, o1 = _odd_part(t4, t5, t6, t7)
    out = [(t10 + t11) * mul, o1, z1 + t13 * _K["0.765366865"], o3,
           (t10 - t11) * mul, o5, z1 - t12 * _K["1.847759065"], o7]
    even, odd = (0, _CONST_BITS - _PASS1_BITS) if first_pass else (_PASS1_BITS, _CONST_BITS + _PASS1_BITS)
    return out, [even, odd, odd, odd, even, odd, odd, odd]


def _idct_1d(c: list) -> list:
    """jidctint.c on 8 dequantised coefficients: the 8 outputs before DESCALE (both passes alike)."""
    z1 = (c[2] + c[6]) * _K["0.541196100"]
    t2, t3 = z1 - c[6] * _K["1.847759065"], z1 + c[2] * _K["0.765366865"]
    t0, t1 = (c[0] + c[4]) * (1 << _CONST_BITS), (c[0] - c[4]) * (1 << _CONST_BITS)
    t10, t13, t11, t12 = t0 + t3, t0 - t3, t1 + t2, t1 - t2
    o0, o1, o2, o3 = _odd_part(c[7], c[5], c[3], c[1])
    return [t10 + o3, t11 + o2, t12 + o1, t13 + o0, t13 - o0, t12 - o1, t11 - o2, t10 - o3]


@lru_cache(maxsize=8)
def _islow_matrices(device: str) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """float64 matrices of the two forward and two inverse passes, each row divided by 2^shift so that
    floor(x @ M.T + 0.5) is libjpeg's DESCALE exactly (every value is an integer / 2^shift < 2^53)."""
    eye = [[int(i == j) for i in range(8)] for j in range(8)]
    mats = []
    for first in (True, False):
        cols = [_fdct_1d(e, first)[0] for e in eye]
        shifts = torch.tensor(_fdct_1d(eye[0], first)[1], dtype=torch.float64)
        mats.append(torch.tensor(cols, dtype=torch.float64).T / torch.exp2(shifts).view(-1, 1))
    inv = torch.tensor([_idct_1d(e) for e in eye], dtype=torch.float64).T
    shift1, shift2 = _CONST_BITS - _PASS1_BITS, _CONST_BITS + _PASS1_BITS + 3
    mats += [inv / 2.0 ** shift1, inv / 2.0 ** shift2]
    return tuple(m.to(device) for m in mats)


def _round_half_up(x: Tensor) -> Tensor:
    """libjpeg's DESCALE: (x + half) >> n, i.e. floor(x + 0.5)."""
    return torch.floor_(x.add_(0.5))


def rgb_to_ycbcr(rgb: Tensor) -> Tensor:
    """libjpeg's encoder colour conversion on 8-bit integers: (N, 3, H, W) int32 0..255 -> Y, Cb, Cr."""
    r, g, b = rgb.unbind(1)
    y = (_fix(0.299) * r + _fix(0.587) * g + _fix(0.114) * b + 32768) >> 16
    cb = (-_fix(0.16874) * r - _fix(0.33126) * g + _fix(0.5) * b + (128 << 16) + 32767) >> 16
    cr = (_fix(0.5) * r - _fix(0.41869) * g - _fix(0.08131) * b + (128 << 16) + 32767) >> 16
    return torch.stack((y, cb, cr), 1)


def ycbcr_to_rgb(ycc: Tensor) -> Tensor:
    """libjpeg's decoder colour conversion (jdcolor.c tables, range-limited): int32 -> int32 0..255."""
    y, cb, cr = ycc.unbind(1)
    x_cb, x_cr = cb - 128, cr - 128
    r = y + ((_fix(1.402) * x_cr + 32768) >> 16)
    g = y + ((-_fix(0.34414) * x_cb + 32768 - _fix(0.71414) * x_cr) >> 16)
    b = y + ((_fix(1.772) * x_cb + 32768) >> 16)
    return torch.stack((r, g, b), 1).clamp(0, 255)


def _replicate(x: Tensor, bottom: int, right: int) -> Tensor:
    """Pad the last two dims at the bottom/right by repeating the last row/column (libjpeg's edge expansion)."""
    if bottom == 0 and right == 0:
        return x
    shape = x.shape
    x = F.pad(x.reshape(-1, 1, *shape[-2:]).float(), (0, right, 0, bottom), mode="replicate")
    return x.to(torch.int32).reshape(*shape[:-2], *x.shape[-2:])


def downsample_420(c: Tensor) -> Tensor:
    """(N, H, W) full-resolution chroma -> 4:2:0 planes of (8 ceil(H/16), 8 ceil(W/16)) samples, padded
    exactly as libjpeg pads a partial MCU, each sample (a + b + c + d + bias) >> 2, bias 1,2,1,2..."""
    h, w = c.shape[-2:]
    hb, wb = -(-h // 16), -(-w // 16)
    c = _replicate(c, h % 2, 16 * wb - w)                       # rows to even, columns to the MCU
    s = c[..., 0::2, 0::2] + c[..., 0::2, 1::2] + c[..., 1::2, 0::2] + c[..., 1::2, 1::2]
    bias = torch.tensor([1, 2], dtype=s.dtype, device=s.device).repeat(s.shape[-1] // 2)
    s = (s + bias) >> 2
    return _replicate(s, 8 * hb - s.shape[-2], 0)              # then downsampled rows to the MCU


def upsample_420_fancy(c: Tensor, h: int, w: int) -> Tensor:
    """libjpeg's h2v2 'fancy' upsampling: triangle filter (9/16, 3/16, 3/16, 1/16) with libjpeg's
    rounding (+8 / +7), edges replicated at the real chroma size ceil(h/2) x ceil(w/2) -> (N, h, w)."""
    hc, wc = -(-h // 2), -(-w // 2)
    c = c[..., :hc, :wc]
    p = F.pad(c.unsqueeze(1).float(), (1, 1, 1, 1), mode="replicate").squeeze(1).to(torch.int32)
    mid = 3 * p[..., 1:-1, :]
    up, down = mid + p[..., :-2, :], mid + p[..., 2:, :]       # column sums for output rows 2i, 2i+1
    rows = torch.stack((up, down), -2).flatten(-3, -2)           # (N, 2hc, wc + 2)
    centre = 3 * rows[..., 1:-1]
    even = (centre + rows[..., :-2] + 8) >> 4
    odd = (centre + rows[..., 2:] + 7) >> 4
    out = torch.stack((even, odd), -1).flatten(-2)               # (N, 2hc, 2wc)
    return out[..., :h, :w]


def _code_plane(plane: Tensor, table: Tensor) -> Tensor:
    """Encode + decode one component plane (N, H, W) (H, W multiples of 8, integers 0..255) with
    per-image (N, 64) tables: the decoder's output samples 0..255 (float64). Rows of 8 are transformed
    in place of whole blocks, so no block reshuffling is needed: a (N, H, W/8, 8) view transforms
    along block columns, a (N, H/8, 8, W) view along block rows."""
    n, h, w = plane.shape
    f1, f2, i1, i2 = _islow_matrices(str(plane.device))
    x = plane.to(torch.float64) - 128
    x = _round_half_up(x.view(n, h, w // 8, 8) @ f1.T)                       # forward, along rows
    x = _round_half_up(f2 @ x.view(n * h // 8, 8, w))                          # forward, along columns
    q = table.to(torch.float64).view(n, 1, 8, 1, 8)
    x = x.view(n, h // 8, 8, w // 8, 8)
    x = torch.sign(x) * torch.floor((x.abs() + 4 * q) / (8 * q)) * q          # quantise, dequantise
    x = _round_half_up(i1 @ x.view(n * h // 8, 8, w))                          # inverse, along columns
    x = _round_half_up(x.view(n, h, w // 8, 8) @ i2.T)                         # inverse, along rows
    return x.add_(128).clamp_(0, 255).view(n, h, w)


def jpeg(img: Tensor, quality) -> Tensor:
    """JPEG round trip of an (N, 3, H, W) batch in [0, 1] at per-image `quality` (scalar or (N,) tensor,
    any device; rounded to integers). Returns float k/255 values, like decoding the file with libjpeg."""
    n, _, h, w = img.shape
    q = torch.as_tensor(quality, dtype=torch.float64).reshape(-1).expand(n).to(img.device)
    luma_t, chroma_t = quant_tables(q)
    rgb = (img.clamp(0, 1) * 255).round().to(torch.int32)
    ycc = rgb_to_ycbcr(rgb)
    hy, wy = 8 * -(-h // 8), 8 * -(-w // 8)
    y = _code_plane(_replicate(ycc[:, 0], hy - h, wy - w), luma_t)[:, :h, :w]
    chroma = downsample_420(ycc[:, 1:].reshape(2 * n, h, w))
    chroma = _code_plane(chroma, chroma_t.repeat_interleave(2, 0)).to(torch.int32)
    chroma = upsample_420_fancy(chroma, h, w).reshape(n, 2, h, w)
    out = ycbcr_to_rgb(torch.cat((y.to(torch.int32).unsqueeze(1), chroma), 1))
    return out.to(img.dtype) / 255
