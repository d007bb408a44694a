"""Parser training helpers: rare-class oversampling draws what the model card says."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bodylens.parse.labels import EVAL13_INDEX, IGNORE
from bodylens.parse.train import class_weights, epoch_order, repeat_factors

SKIN, HAT, SCARF = EVAL13_INDEX["Skin"], EVAL13_INDEX["Hat"], EVAL13_INDEX["Scarf"]


def _photos(extra: list[list[int]]) -> np.ndarray:
    """(N, 4, 4) label maps: background and skin in every photo, plus the listed classes."""
    labels = np.zeros((len(extra), 4, 4), np.uint8)
    labels[:, 0, 0] = SKIN
    for i, classes in enumerate(extra):
        for j, c in enumerate(classes):
            labels[i, 1 + j, 1] = c
    return labels


def test_repeat_factors_by_hand():
    # 10 photos: a scarf in 1 (10 % of photos), a hat in 4 (40 %), one holds both.
    extra = [[SCARF, HAT], [HAT], [HAT], [HAT]] + [[]] * 6
    labels = _photos(extra)
    # An ignored pixel is not a class: the last photo stays common.
    labels[-1, 3, 3] = IGNORE
    factors = repeat_factors(labels, threshold=0.4)
    # Scarf: sqrt(0.4 / 0.1) = 2; hat at 40 % is not rare; common photos stay at 1.
    assert factors == pytest.approx([2.0] + [1.0] * 9)
    # With a higher threshold the hat photos are drawn more often too.
    factors = repeat_factors(labels, threshold=0.9)
    assert factors[0] == pytest.approx(3.0)
    assert factors[1:4] == pytest.approx([1.5] * 3)
    assert factors[4:] == pytest.approx([1.0] * 6)
    # Threshold 0: no oversampling.
    assert (repeat_factors(labels, threshold=0.0) == 1).all()


def test_epoch_order_repeats_photos_in_expectation():
    idx = np.array([100, 101, 102, 103])
    factors = np.array([1.0, 1.5, 2.0, 2.34])
    rng = np.random.default_rng(0)
    counts = []
    for _ in range(2000):
        order = epoch_order(idx, factors, rng)
        c = np.array([(order == i).sum() for i in idx])
        # Whole repeats always, the fraction by a coin flip.
        assert (c >= np.floor(factors)).all() and (c <= np.ceil(factors)).all()
        counts.append(c)
    assert np.mean(counts, axis=0) == pytest.approx(factors, abs=0.05)
    # Factors of one: a plain shuffle of every photo once.
    order = epoch_order(idx, np.ones(4), rng)
    assert sorted(order) == list(idx)


def test_class_weights_favour_rare_classes_within_the_clip():
    # Background dominant, the rest from rare to common; ignored pixels do not count.
    counts = [20000, 5, 300, 10, 600, 40, 200, 80, 8, 100, 400, 60, 20]
    labels = np.concatenate([np.repeat(np.arange(13), counts), np.full(50000, IGNORE)])
    w = class_weights(labels.astype(np.uint8)).numpy()
    assert w.min() >= 0.2 and w.max() <= 4.0
    order = np.argsort(counts)
    assert (np.diff(w[order]) <= 1e-6).all()  # rarer -> heavier (ties at the clip)
    assert w[0] == pytest.approx(0.2)  # the background sits at the lower clip


def test_lovasz_softmax_is_one_minus_miou_for_hard_predictions():
    import torch

    from bodylens.parse.train import lovasz_softmax

    gen = torch.Generator().manual_seed(0)
    truth = torch.randint(0, 4, (2, 9, 7), generator=gen)
    pred = torch.randint(0, 4, (2, 9, 7), generator=gen)
    truth[0, 0, 0] = 3  # every class present in the truth
    prob = torch.nn.functional.one_hot(pred, 4).permute(0, 3, 1, 2).float()
    onehot = torch.nn.functional.one_hot(truth, 4).permute(0, 3, 1, 2)
    valid = torch.ones(2, 1, 9, 7, dtype=torch.bool)
    valid[1, 0, :3] = False  # ignored pixels count for nothing
    keep = valid[:, 0]
    ious = [((pred == k) & (truth == k) & keep).sum() / (((pred == k) | (truth == k)) & keep).sum()
            for k in range(4)]  # fmt: skip
    loss = lovasz_softmax(prob, onehot, valid)
    assert float(loss) == pytest.approx(1 - float(torch.stack(ious).mean()), abs=1e-6)
    # Soft predictions: finite, differentiable, and a perfect prediction scores 0.
    logits = torch.randn(2, 4, 9, 7, generator=gen, requires_grad=True)
    lovasz_softmax(logits.softmax(1), onehot, valid).backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
    assert float(lovasz_softmax(onehot.float(), onehot, valid)) == pytest.approx(0.0)


@pytest.fixture(scope="module")
def tiny_ccp(tmp_path_factory):
    """Nine real CCP photos (eight train, one held out), prepared into a private cache."""
    from pathlib import Path

    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "ccp"
    if not (shared / "images").is_dir():
        pytest.skip("../shared/data/ccp not present")
    root = tmp_path_factory.mktemp("ccp")
    for sub in ("images", "labels"):
        (root / sub).mkdir()
    for name in ("label_names.json", "eval_label_map.json"):
        (root / name).symlink_to(shared / name)
    ids = sorted(p.stem for p in (shared / "labels").glob("*.png"))[:9]
    for i in ids:
        (root / "images" / f"{i}.jpg").symlink_to(shared / "images" / f"{i}.jpg")
        (root / "labels" / f"{i}.png").symlink_to(shared / "labels" / f"{i}.png")
    return root, tmp_path_factory.mktemp("ccp_cache")


def test_training_continues_from_a_checkpoint(tiny_ccp, tmp_path, monkeypatch):
    """``init`` loads the earlier weights (a near-zero learning rate keeps them) and records
    the earlier run's recipe; a checkpoint of another width is refused."""
    import torch

    from bodylens.parse import train as train_mod

    ccp, cache = tiny_ccp
    prepare = train_mod.prepare
    monkeypatch.setattr(train_mod, "prepare", lambda d: prepare(d, cache, progress=False))
    small = {"batch_size": 4, "train_size": (64, 96), "warm_epochs": 0, "eval_every": 1}
    first = tmp_path / "first.pt"
    train_mod.train(ccp, first, epochs=1, width=8, **small)
    second = tmp_path / "second.pt"
    meta = train_mod.train(ccp, second, epochs=1, width=8, lr=1e-12, init=first, **small)
    assert meta["init"]["epochs"] == 1 and meta["init"]["width"] == 8
    a = torch.load(first, weights_only=True)["state_dict"]
    b = torch.load(second, weights_only=True)["state_dict"]
    convs = [k for k, v in a.items() if k.endswith("weight") and v.dim() == 4]
    assert convs and all(torch.allclose(a[k], b[k], atol=1e-6) for k in convs)
    fresh = train_mod.train(ccp, tmp_path / "fresh.pt", epochs=1, width=8, lr=1e-12, **small)
    c = torch.load(tmp_path / "fresh.pt", weights_only=True)["state_dict"]
    assert "init" not in fresh and not all(torch.allclose(a[k], c[k]) for k in convs)
    with pytest.raises(ValueError, match="width"):
        train_mod.train(ccp, tmp_path / "bad.pt", epochs=1, width=16, init=first, **small)


def test_ensemble_checkpoint_averages_its_members(tiny_ccp, tmp_path, monkeypatch, capsys):
    """`bodylens train parser-ensemble` packs members; the parser loaded from the pack gives
    the mean of the members' logits and parses a real photo; mismatched members are refused."""
    import torch

    from bodylens.cli import main
    from bodylens.parse import train as train_mod
    from bodylens.parse.api import LocalParser
    from bodylens.parse.labels import ATR18
    from bodylens.parse.model import IN_CHANNELS, load_parser

    ccp, cache = tiny_ccp
    prepare = train_mod.prepare
    monkeypatch.setattr(train_mod, "prepare", lambda d: prepare(d, cache, progress=False))
    small = {"batch_size": 4, "train_size": (64, 96), "warm_epochs": 0, "eval_every": 1}
    members = [tmp_path / "a.pt", tmp_path / "b.pt"]
    for seed, path in enumerate(members):
        train_mod.train(ccp, path, epochs=1, width=8 + 4 * seed, seed=seed, **small)
    packed = tmp_path / "ensemble.pt"
    assert main(["train", "parser-ensemble", *map(str, members), "--out", str(packed)]) == 0
    assert "2 members" in capsys.readouterr().out

    x = torch.randn(1, IN_CHANNELS, 96, 64)
    with torch.inference_mode():
        outs = [load_parser(p)[0](x) for p in members]
        model, meta = load_parser(packed)
        mean = model(x)
    assert not torch.allclose(outs[0], outs[1])
    assert torch.allclose(mean, (outs[0] + outs[1]) / 2, atol=1e-5)
    assert [m["width"] for m in meta["members"]] == [8, 12] and meta["input_size"] == [64, 96]

    with Image.open(sorted((ccp / "images").glob("*.jpg"))[0]) as im:
        photo = np.asarray(im.convert("RGB"))
    result = LocalParser(weights=packed)(photo)
    assert result.labels.shape == photo.shape[:2] and result.classes == ATR18

    # Members from another held-out split (or one member) are refused with a clear error.
    other = torch.load(members[1], weights_only=True)
    other["meta"]["val_ids"] = other["meta"]["val_ids"][1:]
    torch.save(other, tmp_path / "other_split.pt")
    assert main(["train", "parser-ensemble", str(members[0]), str(tmp_path / "other_split.pt"),
                 "--out", str(tmp_path / "bad.pt")]) != 0  # fmt: skip
    assert "val_ids" in capsys.readouterr().err
    assert main(["train", "parser-ensemble", str(members[0]), "--out",
                 str(tmp_path / "bad.pt")]) != 0  # fmt: skip
    assert not (tmp_path / "bad.pt").exists()
    with pytest.raises(ValueError, match="ensemble"):
        train_mod.train(ccp, tmp_path / "more.pt", epochs=1, width=8, init=packed, **small)
