"""JPEG compression round trip (encode + decode) of a batch at a per-image quality, on the batch's device.

Real-ESRGAN simulates JPEG with DiffJPEG (float colour conversion, no chroma filtering, float quality
factors, nearest chroma upsampling), which looks unlike the files people actually upscale. This one
follows libjpeg(-turbo), the codec behind cv2.imencode / PIL, step by step:

* 8-bit input (a JPEG file holds 8-bit samples), libjpeg's fixed-point RGB -> YCbCr (jccolor.c),
  computed on integers held in float32 (exact: every partial sum stays below 2^24);
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


def _descale(x: Tensor, bits: int) -> Tensor:
    """In place: floor(x / 2^bits), libjpeg's RIGHT_SHIFT (exact on integers held in floats)."""
    return x.mul_(2.0 ** -bits).floor_()


def rgb_to_ycbcr(rgb: Tensor) -> tuple[Tensor, Tensor]:
    """libjpeg's encoder colour conversion (jccolor.c) on integer samples held in float32: (N, 3, H, W)
    0..255 -> Y (N, H, W), CbCr (N, 2, H, W). Every partial sum is an integer below 2^24, so float32
    is exact, and elementwise ops keep it so on any device (no TF32 matmuls)."""
    r, g, b = rgb.unbind(1)
    y = torch.mul(r, _fix(0.299)).add_(g, alpha=_fix(0.587)).add_(b, alpha=_fix(0.114)).add_(32768)
    cbcr = torch.empty((rgb.shape[0], 2, *rgb.shape[2:]), dtype=rgb.dtype, device=rgb.device)
    cb = torch.mul(b, _fix(0.5), out=cbcr[:, 0]).sub_(r, alpha=_fix(0.16874)).sub_(g, alpha=_fix(0.33126))
    cr = torch.mul(r, _fix(0.5), out=cbcr[:, 1]).sub_(g, alpha=_fix(0.41869)).sub_(b, alpha=_fix(0.08131))
    cb.add_((128 << 16) + 32767), cr.add_((128 << 16) + 32767)
    return _descale(y, 16), _descale(cbcr, 16)


def ycbcr_to_rgb(y: Tensor, cbcr: Tensor) -> Tensor:
    """libjpeg's decoder colour conversion (jdcolor.c tables, range-limited), float32 integers:
    Y (N, H, W), CbCr (N, 2, H, W) -> (N, 3, H, W) 0..255."""
    x_cb, x_cr = (cbcr - 128).unbind(1)
    out = torch.empty((y.shape[0], 3, *y.shape[1:]), dtype=y.dtype, device=y.device)
    torch.add(y, _descale(x_cr * _fix(1.402) + 32768, 16), out=out[:, 0])
    torch.add(y, _descale((x_cb * -_fix(0.34414)).sub_(x_cr, alpha=_fix(0.71414)).add_(32768), 16), out=out[:, 1])
    torch.add(y, _descale(x_cb * _fix(1.772) + 32768, 16), out=out[:, 2])
    return out.clamp_(0, 255)


def _replicate(x: Tensor, bottom: int, right: int) -> Tensor:
    """Pad the last two dims at the bottom/right by repeating the last row/column (libjpeg's edge expansion)."""
    if bottom == 0 and right == 0:
        return x
    shape = x.shape
    x = F.pad(x.reshape(-1, 1, *shape[-2:]), (0, right, 0, bottom), mode="replicate")
    return x.reshape(*shape[:-2], *x.shape[-2:])


def downsample_420(c: Tensor) -> Tensor:
    """(N, H, W) full-resolution chroma -> 4:2:0 planes of (8 ceil(H/16), 8 ceil(W/16)) samples, padded
    exactly as libjpeg pads a partial MCU, each sample (a + b + c + d + bias) >> 2, bias 1,2,1,2..."""
    h, w = c.shape[-2:]
    hb, wb = -(-h // 16), -(-w // 16)
    c = _replicate(c, h % 2, 16 * wb - w)                       # rows to even, columns to the MCU
    s = c[..., 0::2, 0::2] + c[..., 0::2, 1::2]
    s.add_(c[..., 1::2, 0::2]).add_(c[..., 1::2, 1::2])
    s.view(*s.shape[:-1], -1, 2).add_(torch.tensor([1.0, 2.0], dtype=s.dtype, device=s.device))
    return _replicate(_descale(s, 2), 8 * hb - s.shape[-2], 0)  # then downsampled rows to the MCU


def upsample_420_fancy(c: Tensor, h: int, w: int) -> Tensor:
    """libjpeg's h2v2 'fancy' upsampling: triangle filter (9/16, 3/16, 3/16, 1/16) with libjpeg's
    rounding (+8 / +7), edges replicated at the real chroma size ceil(h/2) x ceil(w/2) -> (N, h, w)."""
    hc, wc = -(-h // 2), -(-w // 2)
    p = F.pad(c[..., :hc, :wc].unsqueeze(1), (1, 1, 1, 1), mode="replicate").squeeze(1)
    rows = torch.empty((c.shape[0], hc, 2, wc + 2), dtype=c.dtype, device=c.device)
    mid = p[..., 1:-1, :] * 3
    torch.add(mid, p[..., :-2, :], out=rows[:, :, 0])          # column sums for output rows 2i, 2i+1
    torch.add(mid, p[..., 2:, :], out=rows[:, :, 1])
    rows = rows.view(c.shape[0], 2 * hc, wc + 2)
    out = torch.empty((c.shape[0], 2 * hc, wc, 2), dtype=c.dtype, device=c.device)
    centre = rows[..., 1:-1] * 3
    torch.add(centre, rows[..., :-2], out=out[..., 0]).add_(8)
    torch.add(centre, rows[..., 2:], out=out[..., 1]).add_(7)
    return _descale(out.view(c.shape[0], 2 * hc, 2 * wc), 4)[..., :h, :w]


def _code_plane(plane: Tensor, table: Tensor) -> Tensor:
    """Encode + decode one component plane (N, H, W) (H, W multiples of 8, integers 0..255) with
    per-image (N, 64) tables: the decoder's output samples 0..255 (float32). Rows of 8 are transformed
    in place of whole blocks, so no block reshuffling is needed: a (N, H, W/8, 8) view transforms
    along block columns, a (N, H/8, 8, W) view along block rows."""
    n, h, w = plane.shape
    f1, f2, i1, i2 = _islow_matrices(str(plane.device))
    x = plane.to(torch.float64).sub_(128)
    x = _round_half_up(x.view(n, h, w // 8, 8) @ f1.T)                       # forward, along rows
    x = _round_half_up(f2 @ x.view(n * h // 8, 8, w))                          # forward, along columns
    q = table.to(torch.float64).view(n, 1, 8, 1, 8)
    x = x.view(n, h // 8, 8, w // 8, 8)
    # quantise (jcdctmgr.c: half away from zero) and dequantise; floor(a / d) is exact for these integers
    x = x.abs().add_(4 * q).div_(8 * q).floor_().mul_(q).copysign_(x)
    x = _round_half_up(i1 @ x.view(n * h // 8, 8, w))                          # inverse, along columns
    x = _round_half_up(x.view(n, h, w // 8, 8) @ i2.T)                         # inverse, along rows
    return x.add_(128).clamp_(0, 255).view(n, h, w).to(torch.float32)


def jpeg(img: Tensor, quality) -> Tensor:
    """JPEG round trip of an (N, 3, H, W) batch in [0, 1] at per-image `quality` (scalar or (N,) tensor,
    any device; rounded to integers). Returns k/255 values in img's dtype, like decoding the file."""
    n, _, h, w = img.shape
    q = torch.as_tensor(quality, dtype=torch.float64).reshape(-1).expand(n).to(img.device)
    luma_t, chroma_t = quant_tables(q)
    rgb = img.clamp(0, 1).mul(255).round_().to(torch.float32)
    y, cbcr = rgb_to_ycbcr(rgb)
    hy, wy = 8 * -(-h // 8), 8 * -(-w // 8)
    y = _code_plane(_replicate(y, hy - h, wy - w), luma_t)[:, :h, :w]
    chroma = _code_plane(downsample_420(cbcr.view(2 * n, h, w)), chroma_t.repeat_interleave(2, 0))
    cbcr = upsample_420_fancy(chroma, h, w).reshape(n, 2, h, w)
    return ycbcr_to_rgb(y, cbcr).to(img.dtype).div_(255)
