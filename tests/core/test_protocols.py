"""Every registered backend builds what its hook's Protocol (vgen.contract) says: samplers and schedules, curation
stages with the default curate settings, exporters, and pipelines from their small configs."""

import inspect

import pytest
import torch

from vgen import registry
from vgen.contract import STAGE_PROTOCOLS, FlowSampler, PipelineBase, Schedule, VideoPipeline

# the small config each pipeline is checked with (a new pipeline adds its own here)
PIPELINE_CONFIGS = {"hunyuan-video": "tiny", "shapes": "default", "shapes-edit": "tiny", "moviegen": "tiny",
                    "moviegen-shapes": "shapes"}
# how many arguments the stage of each curation kind is called with (vgen/curate/stages.py)
STAGE_ARGS = {"source": 1, "split": 1, "cut": 2, "clip": 1, "caption": 1}


def _all(kind):
    return [pytest.param(name, id=name) for name in registry.names(kind)]


def test_every_kind_has_a_protocol():
    assert set(registry.PROTOCOLS) == set(registry.HOOKS)


@pytest.mark.parametrize("name", _all("sampler"))
def test_samplers(name):
    backend = registry.get("sampler", name)
    sampler = backend.factory()
    assert isinstance(sampler, registry.PROTOCOLS["sampler"])
    assert isinstance(sampler.order, int) and isinstance(sampler.stochastic, bool)
    if backend.plugin == "vgen_plugins.samplers":
        assert isinstance(sampler, FlowSampler)
    sigmas = torch.tensor([1.0, 0.5, 0.0])
    seen = []

    def velocity(x, sigma):
        seen.append(sigma)
        return torch.zeros_like(x)

    x = sampler.sample(velocity, torch.ones(1, 2), sigmas, noise=lambda: torch.zeros(1, 2))
    assert x.dtype == torch.float32 and x.shape == (1, 2)
    assert len(seen) == sampler.model_calls(sigmas) >= 2
    # the contract's sigma: a 0-d float32 tensor, never a Python float
    assert all(isinstance(s, torch.Tensor) and s.dim() == 0 and s.dtype == torch.float32 for s in seen)


@pytest.mark.parametrize("name", _all("schedule"))
def test_schedules(name):
    fn = registry.get("schedule", name).factory()
    assert isinstance(fn, Schedule) and registry.PROTOCOLS["schedule"] is Schedule
    sigmas = fn(6, 3.0)
    assert sigmas.dtype == torch.float32 and sigmas.shape == (7,)
    assert float(sigmas[0]) == 1.0 and float(sigmas[-1]) == 0.0 and (sigmas[1:] < sigmas[:-1]).all()
    assert fn(6, None).shape == (7,)


@pytest.mark.parametrize("name", _all("curation_stage"))
def test_curation_stages(name):
    from vgen.curate.settings import CurateSettings

    backend = registry.get("curation_stage", name)
    kind = backend.meta.get("kind")
    assert kind in STAGE_PROTOCOLS, f"{name}: meta kind {kind!r}"
    stage = backend.factory(CurateSettings())
    assert isinstance(stage, STAGE_PROTOCOLS[kind]) and isinstance(stage, registry.PROTOCOLS["curation_stage"])
    inspect.signature(stage).bind(*[None] * STAGE_ARGS[kind])  # takes what its kind is called with


@pytest.mark.parametrize("name", _all("exporter"))
def test_exporters(name):
    exporter = registry.get("exporter", name).factory()
    assert isinstance(exporter, registry.PROTOCOLS["exporter"])
    assert exporter.name == name  # an engine folder's manifest finds its runtime again by this name
    inspect.signature(exporter.runtime).bind("folder", {}, "cpu")
    inspect.signature(exporter.export).bind("part", [], "folder", {})


@pytest.mark.parametrize("name", _all("editor"))
def test_editors(name):
    from vgen.contract import EditRequest

    backend = registry.get("editor", name)
    editor = backend.factory()
    assert isinstance(editor, registry.PROTOCOLS["editor"]) and editor.takes in ("prompts", "instruction")
    inspect.signature(editor.edit).bind("pipe", torch.zeros(1), EditRequest(), torch.Generator())
    own = backend.meta.get("pipeline")
    assert own is None or own in registry.names("pipeline"), f"{name}: meta pipeline {own!r} is not registered"


@pytest.mark.parametrize("name", _all("pipeline"))
def test_pipelines(name):
    assert name in PIPELINE_CONFIGS, f"add the small config to check pipeline {name!r} with"
    pipe = registry.get("pipeline", name).factory(config=PIPELINE_CONFIGS[name])
    assert isinstance(pipe, VideoPipeline) and registry.PROTOCOLS["pipeline"] is VideoPipeline
    assert isinstance(pipe, PipelineBase)
    assert pipe.transformer is pipe.trainable("dit")
    assert set(pipe.modules()) >= {"transformer", "vae"}


# the small config each audio model is checked with (a new model adds its own here)
AUDIO_CONFIGS = {"shapes-dub": "tiny", "moviegen-audio": "tiny"}


@pytest.mark.parametrize("name", _all("audio_model"))
def test_audio_models(name):
    import numpy as np

    assert name in AUDIO_CONFIGS, f"add the small config to check audio model {name!r} with"
    model = registry.get("audio_model", name).factory(config=AUDIO_CONFIGS[name])
    assert isinstance(model, registry.PROTOCOLS["audio_model"])
    wave = model.generate(np.zeros((9, 16, 16, 3), np.uint8), 8.0, 9 / 8, seed=0)
    assert wave.dtype == np.float32 and wave.shape == (1, round(9 / 8 * model.sample_rate))
    assert isinstance(model.settings(), dict) and isinstance(model.weight_files(), list)


@pytest.mark.parametrize("name", _all("video_features"))
def test_video_features(name, tmp_path):
    import numpy as np

    options = {}
    if name == "clip":  # a tiny random CLIP folder, as a user's local one
        from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

        config = CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                  image_size=32, patch_size=16, projection_dim=8)
        CLIPVisionModelWithProjection(config).save_pretrained(tmp_path / "clip")
        options = {"path": tmp_path / "clip"}
    extractor = registry.get("video_features", name).factory(**options)
    assert isinstance(extractor, registry.PROTOCOLS["video_features"])
    features = extractor(np.zeros((3, 20, 24, 3), np.uint8))
    assert features.shape == (3, extractor.dim) and features.dtype == torch.float32


@pytest.mark.parametrize("name", _all("training_target"))
def test_training_targets(name):
    inspect.signature(registry.get("training_target", name).factory).bind("settings", "device")
