"""A whole HunyuanVideo sample, vgen vs diffusers' HunyuanVideoPipeline: same weights, noise and settings, one process.

What ``vgen sample`` runs for one video after start-up (vgen.flow.loop.generate: text encoders -> denoise -> VAE
decode), timed per stage with the peak GPU memory of each, against diffusers' pipeline called the way its docs call
it (text encoders, then ``pipe(...)`` with ``vae.enable_tiling()``; its stages are split by a step-end callback).
Both sample 1 video with the embedded guidance 6.0 and no true CFG (HunyuanVideo's released way), flow-Euler with
the same shift and the same initial noise. The MP4 is not written (frames end as float tensors on the host).

Random weights of the released sizes (13B DiT, Llama-3-8B-shaped text encoder, CLIP-L text, the 3D VAE) are built
straight on the GPU in bf16 (about 42 GB), tokenizers are small in-memory BPE ones (vgen's tiny tokenizers: text
encoding then costs what the 256-token LLM pass costs, not what tokenizing costs). diffusers runs first, is freed,
then vgen runs with the fast modes asked for; diffusers always runs eager bf16 (with the same --offload and memory
cap), so "x diffusers" is against diffusers' eager time.

    python benchmarks/whole_sample.py                              # 480x848x61, 50 steps
    python benchmarks/whole_sample.py --steps 10 --estimate-steps 50   # + a 50-step estimate (denoise scaled)
    python benchmarks/whole_sample.py --preset 720p --only vgen --fp8 --compile --step-cache 0.1
    python benchmarks/whole_sample.py --offload model --memory-cap-gb 32 --only vgen
    python benchmarks/whole_sample.py --tiny                       # CPU smoke run, tiny models, seconds
"""

from __future__ import annotations

import argparse
import gc
import inspect
import sys
import time

import torch
from speed_common import DTYPES, gib, on_device, pick_device, report, say, sync

PRESETS = {"480p": (61, 480, 848), "720p": (129, 720, 1280), "256": (129, 256, 256), "tiny": (5, 32, 32)}
COLUMNS = ["impl", "modes", "steps", "text s", "denoise s", "s / step", "decode s", "total s", "x diffusers",
           "text peak GiB", "denoise peak GiB", "decode peak GiB", "DiT calls", "compile s", "total @N est s",
           "frames max diff"]
PROMPT = "a red fox runs through fresh snow at dawn, cinematic, shallow depth of field"


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), default=None, help="frames x height x width (default 480p)")
    ap.add_argument("--frames", type=int), ap.add_argument("--height", type=int), ap.add_argument("--width", type=int)
    ap.add_argument("--steps", type=int, default=None, help="default 50 (2 with --tiny)")
    ap.add_argument("--shift", type=float, default=7.0)
    ap.add_argument("--estimate-steps", type=int, default=None,
                    help="also estimate the total at this many steps (denoise time scaled by steps)")
    ap.add_argument("--only", choices=["both", "vgen", "diffusers"], default="both")
    ap.add_argument("--compile", action="store_true", help="vgen sample --compile (compile time in the first run)")
    ap.add_argument("--fp8", action="store_true", help="vgen sample --fp8 (vgen.nn.fp8.to_fp8 on the DiT)")
    ap.add_argument("--step-cache", type=float, default=0.0, metavar="THRESH", help="vgen sample --step-cache")
    ap.add_argument("--offload", choices=["model", "sequential"], default=None,
                    help="vgen's --offload; diffusers' enable_model_cpu_offload / enable_sequential_cpu_offload")
    ap.add_argument("--memory-cap-gb", type=float, default=None,
                    help="cap this process's GPU memory (torch.cuda.set_per_process_memory_fraction)")
    ap.add_argument("--repeat", type=int, default=1, help="vgen samples in a row (the first pays compile)")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default=None, help="default bf16 (fp32 with --tiny)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--tiny", action="store_true", help="vgen's tiny HunyuanVideo preset on the CPU: seconds")
    ap.add_argument("--out", help="append the table to this markdown file")
    a = ap.parse_args(argv)
    check_args(ap, a)
    return a


def check_args(ap, a) -> None:
    """Fill defaults and refuse what this checkout or this combination cannot run (never a silent skip)."""
    preset = a.preset or ("tiny" if a.tiny else "480p")
    a.frames, a.height, a.width = (v if v is not None else d for v, d in
                                   zip((a.frames, a.height, a.width), PRESETS[preset], strict=True))
    a.steps = a.steps or (2 if a.tiny else 50)
    a.dtype = a.dtype or ("fp32" if a.tiny else "bf16")
    if (a.frames - 1) % 4 or a.height % 16 or a.width % 16 or min(a.steps, a.repeat) < 1:
        ap.error("frames must be 4k+1, height and width multiples of 16, steps and repeat >= 1")
    if a.step_cache < 0 or a.step_cache != a.step_cache:
        ap.error("--step-cache must be >= 0")
    from vgen.flow.loop import generate

    if a.step_cache and "step_cache" not in inspect.signature(generate).parameters:
        ap.error("--step-cache: this checkout's vgen.flow.loop.generate has no step caching yet")
    if a.compile and compile_function() is None:
        ap.error("--compile: this checkout has no vgen.compile yet")
    if a.offload and a.only == "both":
        ap.error("--offload hooks the shared modules: run one implementation per process (--only vgen|diffusers)")
    if a.only == "diffusers" and (a.compile or a.fp8 or a.step_cache):
        ap.error("--compile, --fp8 and --step-cache are vgen's modes: diffusers always runs eager bf16")
    if a.memory_cap_gb is not None and a.memory_cap_gb <= 0:
        ap.error("--memory-cap-gb must be > 0")


def compile_function():
    """vgen sample --compile's function (vgen.compile.compile_dit), or None when this checkout lacks it."""
    try:
        from vgen import compile as vgen_compile
    except ImportError:
        return None
    return getattr(vgen_compile, "compile_dit", None)


def compile_clock():
    """vgen.compile.CompileClock (seconds spent compiling since it was made), or None without it."""
    try:
        from vgen.compile import CompileClock
    except ImportError:
        return None
    return CompileClock()


# ---------------------------------------------------------------------------------------------------------------
# Models: vgen's pipeline with random weights on the device, diffusers' pipeline holding the very same tensors


def build_vgen(a, device, dtype):
    from transformers import CLIPTextConfig, CLIPTextModel, LlamaConfig, LlamaModel
    from vgen_plugins.hunyuan_video.pipeline import PRESETS as CONFIGS
    from vgen_plugins.hunyuan_video.pipeline import HunyuanVideoPipeline
    from vgen_plugins.hunyuan_video.text_encoders import CLIPPooledEncoder, LlamaPromptEncoder, tiny_tokenizers
    from vgen_plugins.hunyuan_video.transformer import HunyuanVideoTransformer3DModel
    from vgen_plugins.hunyuan_video.vae import AutoencoderKLHunyuanVideo

    spec = CONFIGS["tiny" if a.tiny else "13b"]  # read only
    tok, tok2 = tiny_tokenizers()
    llama_cfg = LlamaConfig(**{"vocab_size": len(tok), "pad_token_id": tok.pad_token_id, **spec["text_encoder"]})
    clip_cfg = CLIPTextConfig(**{"vocab_size": len(tok2), "bos_token_id": tok2.bos_token_id,
                                 "eos_token_id": tok2.eos_token_id, "pad_token_id": tok2.pad_token_id,
                                 **spec["text_encoder_2"]})
    dit = on_device(lambda: HunyuanVideoTransformer3DModel(spec["transformer"]), device, dtype, seed=0)
    torch.nn.init.normal_(dit.proj_out.weight, std=0.02)  # zero-initialised: the velocity would be the bias alone
    vae = on_device(lambda: AutoencoderKLHunyuanVideo(spec["vae"]), device, dtype, seed=1)
    llm = on_device(lambda: LlamaModel(llama_cfg), device, dtype, seed=2)
    clip = on_device(lambda: CLIPTextModel(clip_cfg), device, dtype, seed=3)
    return HunyuanVideoPipeline(dit, vae, LlamaPromptEncoder(llm, tok), CLIPPooledEncoder(clip, tok2),
                                {"_class_name": "FlowMatchEulerDiscreteScheduler", "num_train_timesteps": 1000,
                                 "shift": a.shift})


def build_diffusers(pipe, a):
    """diffusers' HunyuanVideoPipeline on the same weight tensors (built on meta, assigned) and text encoders."""
    from diffusers import AutoencoderKLHunyuanVideo, FlowMatchEulerDiscreteScheduler, HunyuanVideoTransformer3DModel
    from diffusers import HunyuanVideoPipeline as DiffusersPipeline

    from vgen.io.folders import config_json

    parts = {}
    for name, cls in (("transformer", HunyuanVideoTransformer3DModel), ("vae", AutoencoderKLHunyuanVideo)):
        mine = getattr(pipe, name)
        config = {k: v for k, v in config_json(mine.config, cls.__name__).items() if not k.startswith("_")}
        with torch.device("meta"):
            module = cls.from_config(config)
        module.load_state_dict(mine.state_dict(), strict=True, assign=True)
        parts[name] = module.eval().requires_grad_(False)
    return DiffusersPipeline(text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer,
                             text_encoder_2=pipe.text_encoder_2, tokenizer_2=pipe.tokenizer_2,
                             scheduler=FlowMatchEulerDiscreteScheduler(shift=a.shift), **parts)


# ---------------------------------------------------------------------------------------------------------------
# Runs


class Peaks:
    """Per-stage peak GPU memory: ``mark(stage)`` closes the running stage (its peak) and starts the next."""

    def __init__(self, device):
        self.device, self.stage, self.peaks = device, None, {}

    def mark(self, stage: str | None) -> None:
        if self.device.type != "cuda":
            return
        sync(self.device)
        if self.stage is not None:
            self.peaks[self.stage] = gib(torch.cuda.max_memory_allocated(self.device))
        torch.cuda.reset_peak_memory_stats(self.device)
        self.stage = stage

    def get(self, stage: str) -> float:
        return self.peaks.get(stage, float("nan"))


def noise(a, pipe) -> torch.Tensor:
    from vgen.pipeline import latent_shape

    shape = latent_shape(pipe, 1, a.frames, a.height, a.width)
    return torch.randn(shape, generator=torch.Generator().manual_seed(0))


def run_diffusers(a, ref, device, latents) -> dict:
    from vgen_plugins.hunyuan_video.text_encoders import PROMPT_TEMPLATE

    ref.vae.enable_tiling()  # as diffusers' HunyuanVideo docs run it
    ref.set_progress_bar_config(disable=True)
    if a.offload == "model":
        ref.enable_model_cpu_offload(device=device)
    elif a.offload == "sequential":
        ref.enable_sequential_cpu_offload(device=device)
    cap_memory(a, device)
    peaks, times = Peaks(device), {}
    peaks.mark("text")
    sync(device)
    t0 = time.perf_counter()
    embeds, pooled, mask = ref.encode_prompt(prompt=[PROMPT], prompt_template={"template": PROMPT_TEMPLATE},
                                             device=device, max_sequence_length=256)
    sync(device)
    times["text"] = time.perf_counter() - t0
    peaks.mark("denoise")

    def step_end(pipeline, i, t, kwargs):
        if i == a.steps - 1:  # the last step: what follows is the decode
            peaks.mark("decode")
            times["denoise"] = time.perf_counter() - t0 - times["text"]
        return kwargs

    video = ref(prompt_embeds=embeds, pooled_prompt_embeds=pooled, prompt_attention_mask=mask, height=a.height,
                width=a.width, num_frames=a.frames, num_inference_steps=a.steps, guidance_scale=6.0,
                true_cfg_scale=1.0, latents=latents.clone(), output_type="pt", callback_on_step_end=step_end,
                prompt_template={"template": PROMPT_TEMPLATE}).frames
    frames = video.float().cpu()  # (B, T, C, H, W) in [0, 1]
    sync(device)
    total = time.perf_counter() - t0
    peaks.mark(None)
    times["decode"] = total - times["text"] - times["denoise"]
    return dict(impl="diffusers", modes="eager", times=times, total=total, peaks=peaks, calls=a.steps,
                frames=frames.permute(0, 1, 3, 4, 2))


def cap_memory(a, device) -> None:
    if a.memory_cap_gb is not None and device.type == "cuda":
        torch.cuda.empty_cache()  # what the build left cached counts against the cap
        total = torch.cuda.get_device_properties(device).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, a.memory_cap_gb * 2**30 / total), device)


def apply_modes(a, pipe, device) -> str:
    """Turn on vgen's fast modes as vgen sample does; returns their names for the table."""
    modes = []
    if a.fp8:  # as vgen sample does it: FP8 first, then compile the converted blocks
        from vgen.nn.fp8 import to_fp8

        n = to_fp8(pipe.transformer)
        modes.append(f"fp8 ({n} linears)")
    if a.compile:
        compile_function()(pipe)
        modes.append("compile")
    if a.step_cache:
        modes.append(f"step-cache {a.step_cache:g}")
    if a.offload:
        modes.append(f"offload {a.offload}")
    if a.memory_cap_gb is not None:
        modes.append(f"cap {a.memory_cap_gb:g} GB")
    return ", ".join(modes) or f"{a.dtype} eager"


def run_vgen(a, pipe, device, dtype, latents, placement) -> dict:
    from vgen.flow.loop import generate

    peaks = Peaks(device)
    encode, decode = pipe.encode_prompt, pipe.decode

    def encode_marked(*args, **kwargs):
        peaks.mark("text")
        out = encode(*args, **kwargs)
        peaks.mark("denoise")
        return out

    def decode_marked(*args, **kwargs):
        peaks.mark("decode")
        return decode(*args, **kwargs)

    pipe.encode_prompt, pipe.decode = encode_marked, decode_marked
    extra = {"step_cache": a.step_cache} if a.step_cache else {}
    clock = compile_clock()
    try:
        sync(device)
        t0 = time.perf_counter()
        res = generate(pipe, [PROMPT], steps=a.steps, shift=a.shift, guidance=1.0, embedded_guidance=6.0,
                       frames=a.frames, height=a.height, width=a.width, latents=latents.clone(), progress=False,
                       device=device, dtype=dtype, placement=placement, **extra)
        sync(device)
        total = time.perf_counter() - t0
    finally:
        del pipe.encode_prompt, pipe.decode
    peaks.mark(None)
    times = {"text": res.timings["encode_prompt"], "denoise": res.timings["denoise"],
             "decode": res.timings.get("decode", 0.0)}
    calls = res.info.get("model_calls", a.steps)
    cache = res.info.get("step_cache")
    if cache:
        calls = f"{cache['full_calls']} full + {cache['skipped_calls']} skipped"
    compiled = clock.read()["seconds"] if clock is not None and a.compile else float("nan")
    return dict(impl="vgen", times=times, total=total, peaks=peaks, calls=calls, frames=res.frames,
                compile=compiled)


def row(a, r: dict, ref: dict | None) -> list:
    t = r["times"]
    est = float("nan")
    if a.estimate_steps:
        est = t["text"] + t["decode"] + t["denoise"] / a.steps * a.estimate_steps
    ratio = diff = float("nan")
    if ref is not None and r is not ref:
        ratio = r["total"] / ref["total"]
        diff = (r["frames"] - ref["frames"]).abs().max().item()
    elif r is ref:
        ratio, diff = 1.0, 0.0
    return [r["impl"], r["modes"], a.steps, t["text"], t["denoise"], t["denoise"] / a.steps, t["decode"],
            r["total"], ratio, r["peaks"].get("text"), r["peaks"].get("denoise"), r["peaks"].get("decode"),
            r["calls"], r.get("compile", float("nan")), est, diff]


def free(device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def main(argv=None) -> int:
    a = parse_args(argv)
    from vgen.flow.offload import Placement

    device, dtype = pick_device(a.device), DTYPES[a.dtype]
    say("whole_sample", f"building the {'tiny' if a.tiny else '13B'} pipeline on {device}")
    pipe = build_vgen(a, device, dtype)
    latents = noise(a, pipe)
    results = []
    if a.only in ("both", "diffusers"):
        say("whole_sample", "diffusers")
        if a.offload:  # the diffusers modules share vgen's tensors: on the host, offload moves the only copy
            for m in pipe.modules().values():
                m.to("cpu")
            free(device)
        ref_pipe = build_diffusers(pipe, a)
        with torch.inference_mode():
            results.append(run_diffusers(a, ref_pipe, device, latents))
        del ref_pipe
        free(device)
    if a.only in ("both", "vgen"):
        modes = apply_modes(a, pipe, device)
        placement = Placement(pipe, device, a.offload)
        cap_memory(a, device)
        for i in range(a.repeat):
            say("whole_sample", f"vgen ({modes}), run {i + 1} of {a.repeat}")
            r = run_vgen(a, pipe, device, dtype, latents, placement)
            r["modes"] = modes + (" (1st run)" if a.repeat > 1 and i == 0 else "")
            results.append(r)
        placement.close()
    ref = next((r for r in results if r["impl"] == "diffusers"), None)
    rows = [row(a, r, ref) for r in results]
    params = sum(p.numel() for m in pipe.modules().values() for p in m.parameters())
    size = f"{params / 1e9:.2f}B" if params > 1e8 else f"{params / 1e6:.2f}M"
    title = (f"HunyuanVideo whole sample{' (tiny config)' if a.tiny else ''}: {a.frames}x{a.height}x{a.width}, "
             f"{a.steps} steps (flow-Euler, shift {a.shift:g}), embedded guidance 6, no true CFG, {a.dtype}, "
             f"{size} params in all (random), offload={a.offload}, memory cap={a.memory_cap_gb or 'none'} GB; "
             f"'total @N est' scales the denoise time to N={a.estimate_steps} steps")
    report(title, device, COLUMNS, rows, a.out, __file__, argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
