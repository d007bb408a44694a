"""`bodylens matte`: the WebM decodes with alpha (libvpx), the alpha is the person mask, the V11
grade does what its definition says, PNG frames match."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from bodylens.cli import main
from bodylens.errors import InputError
from bodylens.io.video import iter_frames, probe, read_webm_alpha
from bodylens.video.matte import ColorGrade, matte_video
from tests.videoclips import walking_cut


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return walking_cut(tmp_path_factory.mktemp("clip") / "walk1s.mp4", start=90, count=24)


@pytest.fixture(scope="module")
def matted(clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("matte")
    alphas: dict[int, np.ndarray] = {}
    result = matte_video(
        clip, out / "trainer_transparent.webm", size=(602, 722), png_dir=out / "png",
        on_frame=lambda i, rgba: alphas.__setitem__(i, rgba[..., 3].copy()),
    )  # fmt: skip
    return result, alphas


def test_webm_has_alpha_matching_the_mask(matted):
    result, alphas = matted
    info = probe(result.path)
    assert (info.width, info.height) == (602, 722)
    assert info.fps == pytest.approx(30.0)
    decoded = list(read_webm_alpha(result.path))
    assert len(decoded) == len(alphas) == 24
    for i, rgba in enumerate(decoded):
        assert rgba.shape == (722, 602, 4)
        err = np.abs(rgba[..., 3].astype(np.int16) - alphas[i].astype(np.int16))
        assert err.mean() < 2.0 and np.percentile(err, 99) < 24, i


def test_alpha_is_the_person(matted, clip):
    """Compare with an independent model: MediaPipe Pose's own person mask."""
    from bodylens.detect.pose import PoseDetector

    result, alphas = matted
    frames = list(iter_frames(clip, size=(602, 722)))
    detector = PoseDetector(static=True, segmentation=True)
    try:
        for i in (0, 12, 23):
            reference = detector(frames[i]).mask > 0.5
            ours = alphas[i] > 127
            iou = (ours & reference).sum() / (ours | reference).sum()
            assert iou > 0.7, (i, iou)
            # Mostly transparent: a walking person covers well under half the frame.
            assert 0.03 < ours.mean() < 0.4
    finally:
        detector.close()


def test_png_frames(matted):
    result, alphas = matted
    pngs = sorted(result.png_dir.glob("frame_*.png"))
    assert len(pngs) == 24
    with Image.open(pngs[5]) as img:
        assert img.mode == "RGBA" and img.size == (602, 722)
        assert np.array_equal(np.asarray(img)[..., 3], alphas[5])


def test_v11_grade_definition():
    grade = ColorGrade()
    ramp = np.repeat(np.linspace(0, 255, 256).astype(np.uint8)[None, :, None], 3, axis=2)
    out = grade(ramp).astype(int)[0]
    lab = cv2.cvtColor(grade(ramp), cv2.COLOR_RGB2LAB)[0, :, 0].astype(int)
    assert lab[0] >= 52  # the lift raises black to at least L=52 (8-bit)
    assert (np.diff(lab) >= -1).all()  # still monotonic
    assert out[-1, 0] == 255  # white stays white in red
    grey = out[128]
    assert grey[0] > grey[1] > grey[2]  # warmth: R up, B down on a neutral grey
    studio = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    assert grade(studio).shape == studio.shape


def test_v11_cli_and_errors(clip, tmp_path, capsys):
    out = tmp_path / "v11.webm"
    assert main(["matte", str(clip), "--out", str(out), "--color", "v11", "--quiet"]) == 0
    first = next(read_webm_alpha(out))
    assert first.shape == (720, 1280, 4)
    plain = next(iter_frames(clip))
    person = first[..., 3] > 200
    # Graded pixels are brighter than the source where the person is.
    assert first[..., :3][person].mean() > plain[person].mean() + 10
    assert main(["matte", str(clip), "--out", str(tmp_path / "x.mp4"), "--quiet"]) == 1
    assert "webm" in capsys.readouterr().err
    with pytest.raises(InputError):
        matte_video(clip, tmp_path / "y.webm", color="sepia")


def test_stabiliser_damps_flicker_on_a_still_person(clip):
    """Same frame with fresh sensor noise each time: the raw masks flicker, the stabilised less."""
    from bodylens.video.matte import Matter

    still = next(iter_frames(clip, size=(602, 722))).astype(np.int16)
    rng = np.random.default_rng(0)
    noisy = [
        np.clip(still + rng.normal(0, 8, still.shape), 0, 255).astype(np.uint8) for _ in range(12)
    ]
    flicker = {}
    for stabilise in (False, True):
        matter = Matter(stabilise=stabilise)
        alphas = [matter.mask(f).astype(np.float32) for f in noisy]
        matter.close()
        flicker[stabilise] = np.mean(
            [np.abs(b - a).mean() for a, b in zip(alphas[2:-1], alphas[3:], strict=True)]
        )
    assert flicker[True] < 0.7 * flicker[False], flicker
