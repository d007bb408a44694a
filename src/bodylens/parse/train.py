"""Train the parser on CCP, reproducibly, on a CPU.

``bodylens train parser`` calls :func:`train`. Pose and person masks are cached once
(``parse.data.prepare``); each step renders the pose maps, applies a random affine warp,
flip and colour jitter on the whole batch in torch, and minimises weighted cross-entropy plus a
soft Dice term (which lifts the rare classes: belt, sunglasses, scarf) plus a Lovasz-softmax
term (a tight surrogate of the IoU the benchmark scores). Photos showing a rare
class are drawn more often (repeat-factor sampling), since per-pixel weights alone cannot show
the network more scarves than the 58 training photos hold.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from bodylens.parse.data import Prepared, prepare, validation_ids
from bodylens.parse.geometry import body_scale, pose_maps
from bodylens.parse.labels import EVAL13, IGNORE
from bodylens.parse.model import ParserNet, normalise_rgb

log = logging.getLogger(__name__)

# Network input (w, h) in training: 192x288 keeps a run to under an hour on two shared cores;
# the cache holds 256x384 frames and the augmentation warp resamples them to this size.
TRAIN_SIZE = (192, 288)
# Progressive resizing: the first epochs run at this smaller size (~0.45x the cost per photo),
# the network is fully convolutional, and the last epochs adapt it to TRAIN_SIZE.
WARM_SIZE = (128, 192)
# Repeat-factor sampling (the LVIS recipe, per image instead of per instance): a class present
# in a fraction f < RARE_IMAGE_FRACTION of the training photos gets a repeat factor
# sqrt(RARE_IMAGE_FRACTION / f); each photo is drawn max-over-its-classes times per epoch
# (stochastically rounded). With 0.4: scarf ~2.3x, hat ~1.9x, skirt ~1.5x, belt ~1.4x,
# dress and sunglasses ~1.15x.
RARE_IMAGE_FRACTION = 0.4


def build_inputs(
    rgb: torch.Tensor, person: torch.Tensor, keypoints: torch.Tensor, visibility: torch.Tensor
) -> torch.Tensor:
    """(B, 12, H, W) network input from uint8 RGB (B, H, W, 3), person (B, H, W) uint8 and
    keypoints (B, 33, 2) in pixels of the same frame."""
    h, w = rgb.shape[1:3]
    scale = torch.tensor([body_scale(k.numpy()) for k in keypoints], dtype=torch.float32)
    maps = pose_maps(keypoints, visibility, scale, (h, w))
    x = normalise_rgb(rgb.permute(0, 3, 1, 2))
    return torch.cat([x, person.unsqueeze(1).float() / 255.0, maps], dim=1)


def _augment(
    x: torch.Tensor, y: torch.Tensor, gen: torch.Generator, size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random scale/rotation/shift/flip (same warp for input and labels) and colour jitter;
    the warp also resamples the cached frame to the training ``size`` (w, h)."""
    b = x.shape[0]

    def u(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(b, generator=gen)

    s = torch.exp(u(math.log(0.8), math.log(1.25)))
    a = u(-0.17, 0.17)
    flip = torch.where(torch.rand(b, generator=gen) < 0.5, -1.0, 1.0)
    tx, ty = u(-0.12, 0.12), u(-0.1, 0.1)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = torch.cos(a) / s * flip
    theta[:, 0, 1] = -torch.sin(a) / s
    theta[:, 1, 0] = torch.sin(a) / s * flip
    theta[:, 1, 1] = torch.cos(a) / s
    theta[:, 0, 2] = tx
    theta[:, 1, 2] = ty
    grid = F.affine_grid(theta, [b, x.shape[1], size[1], size[0]], align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    yf = F.grid_sample((y.float() + 1).unsqueeze(1), grid, mode="nearest", align_corners=False)
    y = (yf.squeeze(1) - 1).clamp(min=0).long()
    y[yf.squeeze(1) == 0] = IGNORE  # outside the original frame
    # Colour jitter on the normalised RGB channels: contrast, brightness, per-channel tint.
    x[:, :3] = x[:, :3] * u(0.75, 1.25).view(b, 1, 1, 1) + u(-0.3, 0.3).view(b, 1, 1, 1)
    x[:, :3] += (torch.rand(b, 3, 1, 1, generator=gen) - 0.5) * 0.3
    # Sometimes hide the pose, so the network still works when MediaPipe finds nobody.
    drop = torch.rand(b, generator=gen) < 0.08
    x[drop, 3:] = 0
    return x, y


def lovasz_softmax(prob: torch.Tensor, onehot: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Lovasz-softmax loss (Berman et al., 2018) over the batch, mean over present classes.

    The Lovasz extension of the Jaccard loss is piecewise linear in the per-pixel errors: sort
    each class's errors |onehot - prob| in decreasing order; each error's weight is how much
    1 - IoU grows when that pixel is counted wrong after all larger errors. Unlike soft Dice it
    is a tight convex surrogate of the dataset-style IoU that the benchmark scores.
    prob, onehot: (B, C, H, W); valid: (B, 1, H, W) bool.
    """
    c = prob.shape[1]
    mask = valid.expand_as(prob)
    p = prob.permute(1, 0, 2, 3)[mask.permute(1, 0, 2, 3)].view(c, -1)
    g = onehot.permute(1, 0, 2, 3)[mask.permute(1, 0, 2, 3)].view(c, -1).float()
    losses = []
    for k in range(c):
        fg = g[k]
        n_fg = fg.sum()
        if n_fg == 0:
            continue
        errors = (fg - p[k]).abs()
        errors, order = errors.sort(descending=True)
        fg = fg[order]
        inter = n_fg - fg.cumsum(0)
        union = n_fg + (1 - fg).cumsum(0)
        jaccard = 1 - inter / union
        grad = torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]])
        losses.append(torch.dot(errors, grad))
    return torch.stack(losses).mean() if losses else prob.sum() * 0


def _loss(
    logits: torch.Tensor,
    y: torch.Tensor,
    weights: torch.Tensor,
    dice_weight: float = 0.5,
    lovasz_weight: float = 0.0,
) -> torch.Tensor:
    # Scored at the output resolution (1/2): labels subsampled, 4x cheaper than upsampling.
    y = y[:, ::2, ::2]
    ce = F.cross_entropy(logits, y, weight=weights, ignore_index=IGNORE)
    valid = (y != IGNORE).unsqueeze(1)
    prob = logits.softmax(1) * valid
    onehot = F.one_hot(y.clamp(max=len(EVAL13) - 1), len(EVAL13)).permute(0, 3, 1, 2) * valid
    inter = (prob * onehot).sum((0, 2, 3))
    denom = prob.sum((0, 2, 3)) + onehot.sum((0, 2, 3))
    present = onehot.sum((0, 2, 3)) > 0
    dice = 1 - (2 * inter + 1) / (denom + 1)
    loss = ce + dice_weight * dice[present].mean()
    if lovasz_weight:
        loss = loss + lovasz_weight * lovasz_softmax(prob, onehot, valid)
    return loss


def repeat_factors(labels: np.ndarray, threshold: float = RARE_IMAGE_FRACTION) -> np.ndarray:
    """(N,) repeat factor of each photo from its (N, H, W) 13-class labels; >= 1."""
    n = len(EVAL13)
    present = np.stack([np.bincount(lab[lab != IGNORE], minlength=n)[:n] > 0 for lab in labels])
    image_freq = present.mean(0)
    per_class = np.maximum(1.0, np.sqrt(threshold / np.maximum(image_freq, 1e-6)))
    return np.where(present, per_class, 1.0).max(1)


def epoch_order(idx: np.ndarray, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shuffled photo indices for one epoch, photo i repeated ~factors[i] times (the
    fractional part by a coin flip, so the expectation is exact)."""
    whole = np.floor(factors)
    reps = (whole + (rng.random(len(idx)) < factors - whole)).astype(int)
    return rng.permutation(np.repeat(idx, reps))


def class_weights(labels: np.ndarray) -> torch.Tensor:
    """Inverse square-root frequency, normalised to mean 1 and clipped, so rare classes count
    without drowning the background."""
    counts = np.bincount(labels[labels != IGNORE].ravel(), minlength=len(EVAL13))[: len(EVAL13)]
    freq = counts / counts.sum()
    w = 1 / np.sqrt(np.maximum(freq, 1e-5))
    w = w / w.mean()
    return torch.tensor(np.clip(w, 0.2, 4.0), dtype=torch.float32)


@torch.no_grad()
def _evaluate(
    model: ParserNet, data: Prepared, idx: np.ndarray, maps: np.ndarray, size: tuple[int, int]
) -> dict[str, float]:
    from bodylens.parse.evaluate import Confusion

    model.eval()
    conf = Confusion(EVAL13)
    for start in range(0, len(idx), 16):
        sel = idx[start : start + 16]
        x = _batch_inputs(data, sel, maps)
        small = F.interpolate(x, size=(size[1], size[0]), mode="bilinear", align_corners=False)
        logits = model(small)
        logits = F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
        conf.update(logits.argmax(1).numpy(), data.label[sel])
    model.train()
    return {"miou13": conf.miou(), "pixel_acc": conf.pixel_accuracy()}


def _render_all_maps(data: Prepared) -> np.ndarray:
    """Pose maps of every photo, once, at half resolution as uint8 (they are smooth)."""
    h, w = data.rgb.shape[1:3]
    out = np.zeros((len(data.ids), 8, h // 2, w // 2), np.uint8)
    for start in range(0, len(data.ids), 32):
        kp = torch.from_numpy(data.keypoints[start : start + 32]) / 2
        vis = torch.from_numpy(data.visibility[start : start + 32])
        scale = torch.tensor([body_scale(k.numpy()) for k in kp], dtype=torch.float32)
        maps = pose_maps(kp, vis, scale, (h // 2, w // 2))
        out[start : start + 32] = (maps * 255 + 0.5).to(torch.uint8).numpy()
    return out


def _batch_inputs(data: Prepared, sel: np.ndarray, maps: np.ndarray) -> torch.Tensor:
    rgb = normalise_rgb(torch.from_numpy(data.rgb[sel]).permute(0, 3, 1, 2))
    person = torch.from_numpy(data.person[sel]).unsqueeze(1).float() / 255.0
    m = torch.from_numpy(maps[sel]).float() / 255.0
    m = F.interpolate(m, size=rgb.shape[-2:], mode="bilinear", align_corners=False)
    return torch.cat([rgb, person, m], dim=1)


def train(
    ccp_dir: Path,
    out: Path,
    *,
    epochs: int = 52,
    batch_size: int = 8,
    lr: float = 4e-3,
    width: int = 16,
    train_size: tuple[int, int] = TRAIN_SIZE,
    warm_size: tuple[int, int] = WARM_SIZE,
    warm_epochs: int = 16,
    rare_image_fraction: float = RARE_IMAGE_FRACTION,
    dice_weight: float = 0.5,
    lovasz_weight: float = 0.5,
    seed: int = 0,
    threads: int | None = None,
    eval_every: int = 5,
    log_file: Path | None = None,
    init: Path | None = None,
) -> dict:
    """Train and write a checkpoint to ``out``; returns its metadata. From scratch, or with
    ``init`` from an earlier checkpoint (a further learning-rate cycle: a warm restart)."""
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)

    def say(msg: str) -> None:
        log.info(msg)
        print(msg, flush=True)
        if log_file:
            with open(log_file, "a") as fh:
                fh.write(msg + "\n")

    data = prepare(ccp_dir)
    maps = _render_all_maps(data)
    val = set(validation_ids(data.ids))
    val_idx = np.array([i for i, k in enumerate(data.ids) if k in val])
    train_idx = np.array([i for i, k in enumerate(data.ids) if k not in val])
    weights = class_weights(data.label[train_idx])
    factors = repeat_factors(data.label[train_idx], rare_image_fraction)
    model = ParserNet(width=width)
    base = None
    if init is not None:
        ckpt = torch.load(init, map_location="cpu", weights_only=True)
        if "state_dict" not in ckpt:
            raise ValueError(f"{init} is an ensemble; continue from one of its member files")
        base = ckpt["meta"]
        if int(base["width"]) != width:
            raise ValueError(f"{init} has width {base['width']}, not {width}")
        model.load_state_dict(ckpt["state_dict"])
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    # Epoch length stays one pass's worth of steps; with repeats, an epoch skips a few
    # common photos at random instead of growing.
    steps_per_epoch = len(train_idx) // batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=epochs * steps_per_epoch, pct_start=0.1
    )
    say(f"{'continue from ' + str(init) + ': ' if init else ''}"
        f"train {len(train_idx)} / val {len(val_idx)} photos, {epochs} epochs of "
        f"{steps_per_epoch} steps ({warm_epochs} at {warm_size}, then {train_size}), "
        f"threads {torch.get_num_threads()}; loss CE + {dice_weight} Dice + "
        f"{lovasz_weight} Lovasz; repeat factors mean {factors.mean():.2f} "
        f"max {factors.max():.2f}")  # fmt: skip
    start = time.time()
    history = []
    for epoch in range(1, epochs + 1):
        order = epoch_order(train_idx, factors, rng)
        total = 0.0
        for step in range(steps_per_epoch):
            sel = np.sort(order[step * batch_size : (step + 1) * batch_size])
            x = _batch_inputs(data, sel, maps)
            y = torch.from_numpy(data.label[sel]).long()
            size = warm_size if epoch <= warm_epochs else train_size
            x, y = _augment(x, y, gen, size)
            loss = _loss(model(x), y, weights, dice_weight, lovasz_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        msg = (
            f"epoch {epoch}/{epochs} loss {total / steps_per_epoch:.4f} {time.time() - start:.0f}s"
        )
        if epoch % eval_every == 0 or epoch == epochs:
            metrics = _evaluate(model, data, val_idx, maps, train_size)
            history.append({"epoch": epoch, **metrics})
            msg += f" val mIoU13 {metrics['miou13']:.4f} acc {metrics['pixel_acc']:.4f}"
        say(msg)
    meta = {
        "classes": EVAL13,
        "input_size": list(train_size),
        "width": width,
        "epochs": epochs,
        "warm_size": list(warm_size),
        "warm_epochs": warm_epochs,
        "rare_image_fraction": rare_image_fraction,
        "dice_weight": dice_weight,
        "lovasz_weight": lovasz_weight,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "val_ids": sorted(val),
        "history": history,
        "train_seconds": round(time.time() - start),
    }
    if base is not None:  # what this run continued: the earlier runs' recipe, in order
        meta["init"] = {k: v for k, v in base.items() if k not in ("classes", "val_ids")}
    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "meta": meta}, out)
    say(f"saved {out}")
    return meta
