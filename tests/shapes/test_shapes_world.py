"""The shapes world in memory: sampling rules, rendering, sound, captions and the prompt grammar."""

import numpy as np
import pytest
from vgen_plugins.shapes.prompts import parse_prompt, random_prompts
from vgen_plugins.shapes.score import (
    count_reversals,
    find_clicks,
    label_components,
    score_video,
    tone_energies,
)
from vgen_plugins.shapes.world import (
    COLOURS,
    MIN_GAP_PX,
    SAMPLE_RATE,
    Scene,
    ShapeObject,
    boxes,
    caption,
    caption_variants,
    centres,
    contact_frames,
    render,
    render_audio,
    sample_scene,
)

N, T = 64, 17
SCENES = [sample_scene((3, i), canvas=N, frames=T) for i in range(300)]


def test_same_seed_same_scene_and_pixels():
    a, b = sample_scene((7, 11)), sample_scene((7, 11))
    assert a == b
    np.testing.assert_array_equal(render(a), render(b))
    np.testing.assert_array_equal(render_audio(a), render_audio(b))
    assert sample_scene((7, 12)) != a and sample_scene((8, 11)) != a


def test_scene_labels_round_trip():
    for scene in SCENES[:20]:
        assert Scene.from_labels(scene.to_labels()) == scene


def test_sampling_covers_the_grammar():
    objects = [o for s in SCENES for o in s.objects]
    assert {o.colour for o in objects} == set(COLOURS)
    assert {o.shape for o in objects} == {"circle", "square", "triangle"}
    assert {o.size for o in objects} == {"small", "large"}
    assert {o.motion for o in objects} == {"left", "right", "up", "down", "bouncing", "still"}
    assert {s.background for s in SCENES} == {"black", "gray"}
    two = sum(len(s.objects) == 2 for s in SCENES)
    assert 100 < two < 200  # two_object_fraction 0.5


def test_objects_stay_inside_and_move_as_specified():
    for scene in SCENES:
        for o in scene.objects:
            b = boxes(o, T, N)
            assert b.min() >= -1e-6 and b.max() <= N + 1e-6
            c = centres(o, T, N)
            d = c[-1] - c[0]
            if o.motion in ("left", "right", "up", "down"):
                assert np.isclose(np.abs(d).max(), N / 2)
            if o.motion == "still":
                assert np.allclose(d, 0)


def test_two_objects_never_overlap_and_differ_in_colour():
    pairs = [s for s in SCENES if len(s.objects) == 2]
    assert pairs
    for s in pairs:
        a, b = s.objects
        assert a.colour != b.colour
        ba, bb = boxes(a, T, N), boxes(b, T, N)
        gx = np.maximum(ba[:, 0] - bb[:, 2], bb[:, 0] - ba[:, 2])
        gy = np.maximum(ba[:, 1] - bb[:, 3], bb[:, 1] - ba[:, 3])
        assert np.all(np.maximum(gx, gy) >= max(2.0, MIN_GAP_PX - 1e-9))
    for s in pairs[:30]:  # and the pixels of the two are separate components in every frame
        frames = render(s)
        bg = np.asarray((0, 0, 0) if s.background == "black" else (96, 96, 96))
        mask = np.abs(frames.astype(int) - bg).sum(-1) > 0
        labels = label_components(mask)
        assert all(len(np.unique(labels[f])) - 1 == 2 for f in range(T))


def test_bouncing_touches_the_bottom_at_least_once():
    bouncers = [o for s in SCENES for o in s.objects if o.motion == "bouncing"]
    assert len(bouncers) > 20
    for o in bouncers:
        contacts = contact_frames(o, T, N)
        assert contacts and all(0 <= f < T for f in contacts)
        bottom = boxes(o, T, N)[:, 3]
        assert np.allclose(bottom[contacts], N)  # touching exactly at contacts
        others = np.setdiff1d(np.arange(T), contacts)
        assert np.all(bottom[others] < N - 1)  # and clearly off the floor otherwise
        assert count_reversals(centres(o, T, N)[:, 1], N / 20) >= 1


def test_render_draws_the_palette_colours_and_shapes():
    scene = Scene(N, 1, 8.0, "gray", [ShapeObject("red", "square", "large", "still", 32.0, 32.0)])
    frame = render(scene)[0]
    assert frame.dtype == np.uint8 and frame.shape == (N, N, 3)
    assert tuple(frame[32, 32]) == COLOURS["red"][0] and tuple(frame[2, 2]) == (96, 96, 96)
    side = N / 3
    assert (side - 2) ** 2 <= (frame == COLOURS["red"][0]).all(-1).sum() <= side**2  # full pixels, rim aside
    for shape, fill in (("square", 1.0), ("circle", np.pi / 4), ("triangle", 0.5)):
        scene.objects[0].shape = shape
        f = render(scene)[0].astype(float)
        cover = (f[..., 0] - 96) / (230 - 96)  # red channel coverage, anti-aliased
        assert abs(cover.sum() / side**2 - fill) < 0.02


def test_sound_hums_each_colour_and_clicks_at_contacts():
    scene = Scene(N, T, 8.0, "black", [
        ShapeObject("cyan", "circle", "large", "still", 15.0, 15.0),
        ShapeObject("red", "square", "small", "bouncing", 45.0, 0.0, period=7, phase=3, height=20.0),
    ])
    wave = render_audio(scene)
    assert wave.dtype == np.float32 and len(wave) == round(T / 8 * SAMPLE_RATE) and np.abs(wave).max() <= 1
    energy = tone_energies(wave.astype(float), SAMPLE_RATE)
    assert sorted(sorted(energy, key=energy.get)[-2:]) == ["cyan", "red"]
    assert energy["cyan"] > 2 * energy["red"]  # large hums louder than small
    clicks = find_clicks(wave.astype(float), SAMPLE_RATE)
    assert contact_frames(scene.objects[1], T, N) == [3, 10]
    assert len(clicks) == 2 and abs(clicks[0] - 3 / 8) < 0.01 and abs(clicks[1] - 10 / 8) < 0.01
    quiet = Scene(N, T, 8.0, "black", [ShapeObject("cyan", "circle", "large", "left", 40.0, 15.0)])
    assert find_clicks(render_audio(quiet).astype(float), SAMPLE_RATE) == []


def test_parser_round_trips_every_caption_form():
    for scene in SCENES:
        for text in caption_variants(scene).values():
            p = parse_prompt(text)
            assert [(o.colour, o.shape, o.motion) for o in p.objects] == \
                [(o.colour, o.shape, o.motion) for o in scene.objects]
            with_size = "small" in text or "large" in text
            assert [o.size for o in p.objects] == [o.size if with_size else None for o in scene.objects]
            assert p.background == (scene.background if "background" in text else None)


def test_parser_is_lenient_on_form_and_strict_on_words():
    p = parse_prompt("  A Large RED circle   moving right.")
    assert (p.objects[0].size, p.objects[0].colour, p.objects[0].motion) == ("large", "red", "right")
    assert parse_prompt("a orange triangle standing still on a gray background").objects[0].motion == "still"
    for bad in ("a red circle", "a purple circle bouncing", "a red hexagon bouncing", "a red circle moving sideways",
                "a red circle bouncing and", "a red circle bouncing on a pink background", ""):
        with pytest.raises(ValueError):
            parse_prompt(bad)


def test_random_prompts_are_seeded_and_parse():
    a = random_prompts(50, seed=5)
    assert a == random_prompts(50, seed=5) and a != random_prompts(50, seed=6)
    assert random_prompts(10, seed=5) == a[:10]  # prompt i depends on (seed, i) only
    assert all(parse_prompt(t) for t in a)
    assert {len(parse_prompt(t).objects) for t in a} == {1, 2}
    assert a[0] != caption(sample_scene((5, 0)))  # not the training stream of the same seed
    short = random_prompts(40, seed=1, omit_size=1.0, omit_background=1.0)
    assert all(o.size is None for t in short for o in parse_prompt(t).objects)
    assert not any("background" in t for t in short)


def test_labelling_matches_a_brute_force_flood_fill():
    rng = np.random.default_rng(0)
    mask = rng.random((3, 20, 24)) < 0.45
    labels = label_components(mask)
    for f in range(3):
        seen = np.zeros(mask[f].shape, bool)
        for y, x in zip(*np.nonzero(mask[f]), strict=True):
            if seen[y, x]:
                continue
            stack, comp = [(y, x)], []
            seen[y, x] = True
            while stack:
                cy, cx = stack.pop()
                comp.append((cy, cx))
                for dy in (-1, 0, 1):
                    for dx in (-1, 0, 1):
                        ny, nx = cy + dy, cx + dx
                        if 0 <= ny < 20 and 0 <= nx < 24 and mask[f, ny, nx] and not seen[ny, nx]:
                            seen[ny, nx] = True
                            stack.append((ny, nx))
            ids = {labels[f, cy, cx] for cy, cx in comp}
            assert len(ids) == 1 and 0 not in ids
            assert (labels[f] == ids.pop()).sum() == len(comp)


def test_scorer_on_rendered_frames_and_wrong_prompts():
    scene = Scene(N, T, 8.0, "black", [
        ShapeObject("blue", "triangle", "large", "right", 12.0, 40.0),
        ShapeObject("yellow", "circle", "small", "still", 50.0, 10.0),
    ])
    frames = render(scene)
    good = score_video(frames, caption(scene))
    assert good["all_correct"] and good["extra_objects"] == 0
    assert score_video(frames, "a blue triangle moving right and a yellow circle standing still")["all_correct"]
    wrong = {
        "colour": "a large green triangle moving right and a small yellow circle standing still",
        "shape": "a large blue square moving right and a small yellow circle standing still",
        "size": "a small blue triangle moving right and a small yellow circle standing still",
        "motion": "a large blue triangle moving left and a small yellow circle standing still",
    }
    for attribute, prompt in wrong.items():
        r = score_video(frames, prompt)
        assert not r[attribute] and not r["all_correct"], attribute
        assert all(r[k] for k in ("colour", "shape", "size", "motion") if k != attribute), attribute
    one = score_video(frames, "a large blue triangle moving right")  # the yellow circle is not named
    assert one["extra_objects"] == 1 and not one["all_correct"] and one["colour"]
    empty = score_video(np.zeros_like(frames), caption(scene))
    assert empty["missing_objects"] == 2 and not empty["all_correct"]


def test_mixed_caption_forms_vary_and_parse(tmp_path):
    from vgen_plugins.shapes.dataset import ShapesSettings, make_clip
    from vgen_plugins.shapes.prompts import parse_prompt

    settings = ShapesSettings(caption_form="mixed")
    records = [make_clip(i, settings, str(tmp_path)) for i in range(24)]
    forms = {next(k for k, v in r["captions"].items() if v == r["caption"]) for r in records}
    assert len(forms) >= 3  # several of full / no_size / no_background / minimal
    for r in records:
        parse_prompt(r["caption"])
    again = make_clip(5, settings, str(tmp_path / "again"))
    assert again["caption"] == records[5]["caption"]


def test_shape_weights_make_a_shape_commoner_and_equal_weights_change_nothing():
    from collections import Counter

    heavy = [sample_scene((3, i), canvas=N, frames=T, shape_weights="triangle=4") for i in range(300)]
    count = Counter(o.shape for s in heavy for o in s.objects)
    assert count["triangle"] > 2 * count["circle"] and count["triangle"] > 2 * count["square"], count
    for s in heavy:  # the rules still hold
        assert len({o.colour for o in s.objects}) == len(s.objects)
    same = [sample_scene((3, i), canvas=N, frames=T, shape_weights="circle=2,square=2,triangle=2") for i in range(50)]
    assert [s.to_labels() for s in same] == [s.to_labels() for s in SCENES[:50]]


@pytest.mark.parametrize("bad", ["hexagon=2", "triangle=-1", "triangle", "triangle=x", "circle=0,square=0,triangle=0"])
def test_bad_shape_weights_are_refused(bad):
    with pytest.raises(ValueError, match="shape"):
        sample_scene((3, 0), shape_weights=bad)


def test_seeds_keep_their_scenes():
    """A seed means the same scenes from one version to the next: the test prompts every reported score used
    (scripts/eval_default_model.sh) and the data sets the recipes name. Pinned from the draws the default model's
    scores were first measured on (a change in the order of the draws once swapped colour and shape)."""
    assert random_prompts(3, seed=20261125, omit_size=0.3, omit_background=0.3) == [
        "a small blue triangle bouncing and a small green square bouncing",
        "a orange triangle bouncing on a black background",
        "a blue triangle moving down and a cyan square moving down on a gray background"]
    assert [caption(sample_scene(seed, two_object_fraction=0.6)) for seed in [(0, 0), (4, 0)]] == [
        "a small magenta square moving right on a gray background",
        "a large orange triangle standing still and a large white square moving down on a gray background"]
