"""The parser network: a compact encoder-decoder of depthwise-separable convolutions.

Input: RGB, MediaPipe's person probability and 8 pose stick maps (``parse.geometry``), so the
network starts from where the body and its parts are and only has to learn what covers them.
Output: logits of the 13 CCP scoring classes at 1/2 of the input size.
Plain torch, ~0.9 M parameters at width 16, a few GFLOPs at 256x384: fast on two CPU cores.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from bodylens.parse.geometry import N_POSE_CHANNELS
from bodylens.parse.labels import EVAL13

IN_CHANNELS = 3 + 1 + N_POSE_CHANNELS
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class ConvBN(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1,
                 dilation: int = 1, act: bool = True) -> None:  # fmt: skip
        pad = dilation * (k - 1) // 2
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, k, stride, pad, dilation=dilation, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
        ]
        if act:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class Block(nn.Module):
    """Inverted residual (MobileNetV2 style): expand 1x1, depthwise 3x3, project 1x1."""

    def __init__(self, cin: int, cout: int, stride: int = 1, expand: int = 4,
                 dilation: int = 1) -> None:  # fmt: skip
        super().__init__()
        mid = cin * expand
        self.body = nn.Sequential(
            ConvBN(cin, mid, 1),
            ConvBN(mid, mid, 3, stride, groups=mid, dilation=dilation),
            ConvBN(mid, cout, 1, act=False),
        )
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


def _stage(
    cin: int, cout: int, n: int, stride: int, dilations: tuple[int, ...] = ()
) -> nn.Sequential:
    blocks = [Block(cin, cout, stride)]
    for i in range(n - 1):
        d = dilations[i % len(dilations)] if dilations else 1
        blocks.append(Block(cout, cout, 1, dilation=d))
    return nn.Sequential(*blocks)


class Fuse(nn.Module):
    """Decoder step: upsample the coarse features, add the projected skip, refine depthwise."""

    def __init__(self, c_coarse: int, c_skip: int, cout: int) -> None:
        super().__init__()
        self.coarse = ConvBN(c_coarse, cout, 1)
        self.skip = ConvBN(c_skip, cout, 1)
        self.refine = nn.Sequential(ConvBN(cout, cout, 3, groups=cout), ConvBN(cout, cout, 1))

    def forward(self, coarse: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(self.coarse(coarse), size=skip.shape[-2:], mode="bilinear",
                           align_corners=False)  # fmt: skip
        return self.refine(up + self.skip(skip))


class ParserNet(nn.Module):
    def __init__(self, num_classes: int = len(EVAL13), width: int = 16) -> None:
        super().__init__()
        w = width
        self.stem = nn.Sequential(
            ConvBN(IN_CHANNELS, w * 2, 3, 2),
            ConvBN(w * 2, w * 2, 3, groups=w * 2),
            ConvBN(w * 2, w, 1),
        )
        self.s4 = _stage(w, w * 2, 2, 2)  # 1/4
        self.s8 = _stage(w * 2, w * 3, 3, 2)  # 1/8
        self.s16 = _stage(w * 3, w * 6, 4, 2, dilations=(1, 2))  # 1/16
        self.s32 = _stage(w * 6, w * 10, 3, 2, dilations=(1, 2))  # 1/32
        # Global context: image-level pooling branch added back to the deepest features.
        self.context = ConvBN(w * 10, w * 10, 1)
        self.up16 = Fuse(w * 10, w * 6, w * 4)
        self.up8 = Fuse(w * 4, w * 3, w * 3)
        self.up4 = Fuse(w * 3, w * 2, w * 2)
        self.up2 = Fuse(w * 2, w, w * 2)
        self.head = nn.Conv2d(w * 2, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x2 = self.stem(x)
        x4 = self.s4(x2)
        x8 = self.s8(x4)
        x16 = self.s16(x8)
        x32 = self.s32(x16)
        x32 = x32 + self.context(F.adaptive_avg_pool2d(x32, 1))
        y = self.up16(x32, x16)
        y = self.up8(y, x8)
        y = self.up4(y, x4)
        y = self.up2(y, x2)
        return self.head(y)


@torch.no_grad()
def fuse_batchnorm(model: nn.Module) -> nn.Module:
    """Fold each eval-mode BatchNorm into the convolution before it (inference only): same
    outputs, one op fewer per layer."""
    for module in model.modules():
        if isinstance(module, ConvBN):
            conv, bn = module[0], module[1]
            if not isinstance(bn, nn.BatchNorm2d):
                continue
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                              conv.padding, dilation=conv.dilation, groups=conv.groups,
                              bias=True)  # fmt: skip
            fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
            fused.bias.copy_(bn.bias - bn.running_mean * scale)
            module[0], module[1] = fused, nn.Identity()
    return model


def normalise_rgb(rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) uint8/float 0..255 -> ImageNet-normalised floats."""
    mean = torch.tensor(MEAN, dtype=torch.float32).view(1, 3, 1, 1) * 255
    std = torch.tensor(STD, dtype=torch.float32).view(1, 3, 1, 1) * 255
    return (rgb.float() - mean) / std


class MeanLogits(nn.Module):
    """An ensemble: the mean of its members' logits. Independently trained members disagree
    where each is unsure (thin belts, scarves, skirt vs dress), so the mean is right more
    often than any one of them, for one more forward pass each."""

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.members[0](x)
        for member in self.members[1:]:
            out = out + member(x)
        return out / len(self.members)


# Meta fields every member of an ensemble must share: the classes, what the network sees and
# the held-out split (a member trained on another split would leak validation photos).
_SHARED_META = ("classes", "input_size", "val_ids")


def load_parser(path: str | Path) -> tuple[nn.Module, dict]:
    """The network of a parser checkpoint (one model, or an ensemble packed by
    ``save_ensemble``) in eval mode with BatchNorm folded, and its meta."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    meta = ckpt["meta"]
    states = ckpt["members"] if "members" in ckpt else [ckpt["state_dict"]]
    widths = [m["width"] for m in meta["members"]] if "members" in ckpt else [meta["width"]]
    nets = []
    for state, width in zip(states, widths, strict=True):
        net = ParserNet(width=int(width))
        net.load_state_dict({k: v.float() for k, v in state.items()})
        nets.append(fuse_batchnorm(net.eval()))
    model = nets[0] if len(nets) == 1 else MeanLogits(nets).eval()
    return model, meta


def save_ensemble(members: list[str | Path], out: str | Path) -> dict:
    """Pack trained single-model checkpoints into one ensemble checkpoint; returns its meta
    (the shared fields, plus each member's own meta under ``members``)."""
    if len(members) < 2:
        raise ValueError("an ensemble needs at least two member checkpoints")
    ckpts = [torch.load(p, map_location="cpu", weights_only=True) for p in members]
    for path, ckpt in zip(members, ckpts, strict=True):
        if "state_dict" not in ckpt:
            raise ValueError(f"{path} is not a single-model parser checkpoint")
        for key in _SHARED_META:
            if ckpt["meta"].get(key) != ckpts[0]["meta"].get(key):
                raise ValueError(f"{path} differs from {members[0]} in {key!r}")
    meta = {key: ckpts[0]["meta"][key] for key in _SHARED_META}
    meta["members"] = [
        {"file": Path(p).name} | {k: v for k, v in c["meta"].items() if k not in _SHARED_META}
        for p, c in zip(members, ckpts, strict=True)
    ]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"meta": meta, "members": [c["state_dict"] for c in ckpts]}, out)
    return meta
