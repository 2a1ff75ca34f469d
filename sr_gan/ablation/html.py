"""report.html: one self-contained file (plots and crops as base64 data URIs, inline CSS/JS, no
network) with the results table, both plots and, for a few detailed validation crops, bicubic /
every run / HR side by side plus a before-after slider comparing any two of them."""
from __future__ import annotations

import base64
import html
import os
import re

import cv2
import numpy as np

CROP_LR = 32          # LR crop side; the HR crop is CROP_LR * scale
CONTEXT_LR = 16       # real neighbouring pixels fed to the network around each crop, then cut off
NUM_CROPS = 3


def data_uri_png(img: np.ndarray) -> str:
    """HWC float RGB [0,1] -> data:image/png;base64,..."""
    u8 = (np.clip(img, 0, 1) * 255.0 + 0.5).astype(np.uint8)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(u8, cv2.COLOR_RGB2BGR))
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode()


def file_uri(path: str) -> str:
    with open(path, "rb") as f:
        return "data:image/png;base64," + base64.b64encode(f.read()).decode()


def pick_crops(images: list[tuple[str, np.ndarray]], size: int, count: int) -> list[tuple[int, int, int]]:
    """(image index, y, x) of the `count` most detailed HR windows (variance of the Laplacian),
    never two overlapping ones, so the comparison shows texture rather than flat sky."""
    cands = []
    for i, (_, hr) in enumerate(images):
        gray = cv2.cvtColor(hr.astype(np.float32), cv2.COLOR_RGB2GRAY) if hr.shape[2] == 3 else hr[..., 0]
        lap = cv2.Laplacian(gray, cv2.CV_32F)
        h, w = gray.shape
        step = max(size // 2, 1)
        for y in range(0, max(h - size, 0) + 1, step):
            for x in range(0, max(w - size, 0) + 1, step):
                cands.append((float(lap[y:y + size, x:x + size].var()), i, y, x))
    chosen: list[tuple[int, int, int]] = []
    for _, i, y, x in sorted(cands, reverse=True):
        if all(j != i or abs(y - cy) >= size or abs(x - cx) >= size for j, cy, cx in chosen):
            chosen.append((i, y, x))
        if len(chosen) == count:
            break
    return chosen


def compare_crops(opt: dict, set_name: str, models: list[tuple[str, str]]) -> list[dict]:
    """[{'title', 'images': [(label, data_uri)]}] for bicubic, every model (label, checkpoint), HR."""
    import torch

    from sr_gan.data.bicubic import imresize
    from sr_gan.inference import load_generator, upscale_tensor
    from sr_gan.train import build_val_sets
    from sr_gan.utils.image_io import tensor_to_img
    scale = opt["scale"]
    ds = build_val_sets(opt, only=set_name, scan_cache=False)[set_name]   # the LR the runs were validated on
    items = [ds[i] for i in range(len(ds))]
    hrs = [(it.get("key", str(n)), tensor_to_img(it["hr"])) for n, it in enumerate(items)]
    crop_lr = max(1, min([CROP_LR] + [min(it["lr"].shape[-2:]) // 2 for it in items]))   # small sets: smaller crops
    size = crop_lr * scale
    crops = pick_crops(hrs, size, NUM_CROPS)
    boxes = []
    for i, y, x in crops:
        lr = items[i]["lr"]
        ly, lx = y // scale, x // scale
        h, w = lr.shape[-2:]
        y0, x0 = max(ly - CONTEXT_LR, 0), max(lx - CONTEXT_LR, 0)
        y1, x1 = min(ly + crop_lr + CONTEXT_LR, h), min(lx + crop_lr + CONTEXT_LR, w)
        boxes.append((i, y, x, lr[:, y0:y1, x0:x1], (ly - y0) * scale, (lx - x0) * scale))
    panels = [{"title": f"{hrs[i][0]} @ ({x}, {y})", "images": []} for i, y, x, *_ in boxes]
    for p, (i, y, x, lr_ctx, oy, ox) in zip(panels, boxes):
        up = np.clip(imresize(tensor_to_img(lr_ctx), scale), 0, 1)
        p["images"].append(("bicubic", data_uri_png(up[oy:oy + size, ox:ox + size])))
    for label, ckpt in models:
        net, net_scale, _ = load_generator(ckpt, device="cpu")
        with torch.no_grad():
            for p, (i, y, x, lr_ctx, oy, ox) in zip(panels, boxes):
                sr = tensor_to_img(upscale_tensor(net, lr_ctx.unsqueeze(0), net_scale)[0])
                p["images"].append((label, data_uri_png(sr[oy:oy + size, ox:ox + size])))
        del net
    for p, (i, y, x, *_rest) in zip(panels, boxes):
        p["images"].append(("HR", data_uri_png(hrs[i][1][y:y + size, x:x + size])))
    return panels


def markdown_to_html(md: str) -> str:
    """Just enough Markdown for results.md: ### headings, paragraphs, pipe tables, **bold**, `code`."""
    def inline(t: str) -> str:
        t = html.escape(t)
        t = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", t)
        return re.sub(r"`(.+?)`", r"<code>\1</code>", t)
    out, table = [], []

    def flush():
        if table:
            head, body = table[0], [r for r in table[2:]]
            out.append("<table><tr>" + "".join(f"<th>{inline(c)}</th>" for c in head) + "</tr>" +
                       "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>" for r in body) +
                       "</table>")
            table.clear()
    for line in md.splitlines():
        if line.startswith("|"):
            table.append([c.strip() for c in line.strip().strip("|").split("|")])
            continue
        flush()
        if line.startswith("### "):
            out.append(f"<h3>{inline(line[4:])}</h3>")
        elif line.strip():
            out.append(f"<p>{inline(line)}</p>")
    flush()
    return "\n".join(out)


CSS = """body{font-family:system-ui,sans-serif;margin:24px;max-width:1400px;color:#222}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}img.plot{max-width:100%;border:1px solid #ddd}
.row{display:flex;flex-wrap:wrap;gap:8px}.tile{text-align:center;font-size:11px;max-width:260px;word-break:break-all}
.tile img,.cmp img{width:256px;height:256px;image-rendering:pixelated;display:block}
.cmp{position:relative;width:256px;height:256px;border:1px solid #888}.cmp img{position:absolute;top:0;left:0}
.cmp .line{position:absolute;top:0;bottom:0;width:2px;background:#ff0;pointer-events:none}
select{max-width:420px}"""

JS = """function setup(p){const a=document.getElementById('a'+p),b=document.getElementById('b'+p),
s=document.getElementById('s'+p),ia=document.getElementById('ia'+p),ib=document.getElementById('ib'+p),
ln=document.getElementById('l'+p),src=document.querySelectorAll('#row'+p+' img');
function upd(){ia.src=src[a.value].src;ib.src=src[b.value].src;const v=s.value;
ia.style.clipPath='inset(0 '+(100-v)+'% 0 0)';ln.style.left=v+'%';}
a.onchange=upd;b.onchange=upd;s.oninput=upd;upd();}
document.querySelectorAll('.cmp').forEach(e=>setup(e.dataset.p));"""


def _panel_html(k: int, panel: dict) -> str:
    """Tiles side by side, then the slider: the <select>s hold tile indices (each image is embedded
    once), the left image is clipped to the slider position over the right one."""
    tiles = "".join(f'<div class="tile"><img src="{uri}" alt="{html.escape(lbl)}">{html.escape(lbl)}</div>'
                    for lbl, uri in panel["images"])

    def options(selected: int) -> str:
        return "".join(f'<option value="{n}"{" selected" if n == selected else ""}>{html.escape(lbl)}</option>'
                       for n, (lbl, _) in enumerate(panel["images"]))
    last = len(panel["images"]) - 1
    slider = (f'<p>left of the line: <select id="a{k}">{options(max(last - 1, 0))}</select> &nbsp; right: '
              f'<select id="b{k}">{options(last)}</select></p>'
              f'<div class="cmp" data-p="{k}"><img id="ib{k}" alt="right"><img id="ia{k}" alt="left">'
              f'<div class="line" id="l{k}"></div></div>'
              f'<input type="range" id="s{k}" min="0" max="100" value="50" style="width:256px">')
    return f'<h3>{html.escape(panel["title"])}</h3><div class="row" id="row{k}">{tiles}</div>{slider}'


def write_report(out: str, manifest: dict, table_md: str, paths: dict) -> str:
    """Write <out>/report.html and return its path."""
    from sr_gan.metrics import better_sentence

    from .report import INTERPOLATION, METRICS, read_json
    models = []
    for run in manifest["runs"]:
        ev = read_json(os.path.join(out, "runs", run["name"], "eval.json"))
        if ev and os.path.isfile(ev["checkpoint"]):
            models.append((run["name"].split("__", 1)[-1], ev["checkpoint"]))
    for item in read_json(os.path.join(out, INTERPOLATION), {}).get("models", []):
        if os.path.isfile(item["checkpoint"]):
            models.append((item["name"], item["checkpoint"]))
    panels_html = "<p>No finished run to compare.</p>"
    sets = list(manifest["val_sets"])
    if models and sets:
        panels = compare_crops(manifest["opt"], sets[0], models)
        panels_html = "\n".join(_panel_html(k, p) for k, p in enumerate(panels))
    plots = "".join(f'<h2>{title}</h2><img class="plot" src="{file_uri(paths[key])}" alt="{title}">'
                    for key, title in (("pd", "Perception-distortion plane"), ("curves", "Training curves"))
                    if paths.get(key))
    grid = ", ".join(f"<code>{html.escape(a['key'])}</code> ∈ {{{', '.join(map(html.escape, a['texts']))}}}"
                     for a in manifest["grid"])
    doc = f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>Ablation: {html.escape(manifest['prefix'])}</title>
<style>{CSS}</style></head><body>
<h1>Ablation <code>{html.escape(manifest['prefix'])}</code></h1>
<p>Options <code>{html.escape(manifest['options'])}</code>; grid {grid}; seeds {manifest['seeds']}.
Better = {better_sentence(METRICS)} (PSNR/SSIM measure distortion, LPIPS/NIQE perceptual quality).</p>
<h2>Results</h2>{markdown_to_html(table_md)}{plots}
<h2>Validation crops ({html.escape(sets[0] if sets else '-')}), final EMA generators</h2>{panels_html}
<script>{JS}</script></body></html>"""
    path = os.path.join(out, "report.html")
    with open(path, "w", encoding="utf-8") as f:
        f.write(doc)
    return path
