"""The worker's GPU check, for a machine with CUDA (run through gpu_check.sh; about 5-8 minutes on one large GPU).

1. The tiny checkpoints through the real worker (loaders, memory plan, dtype check, routes) on CUDA, in bf16 and
   with the detector in 4-bit NF4: readiness as measured, and one request of each kind.
2. Real-size Qwen2.5-Omni-3B (random weights, built on the GPU from the real config; no hub needed) held the way
   the worker holds it: measured device memory against the planner, thinker decode tokens/s against the
   memory-bandwidth floor (bandwidth measured here), the prefill peak, and Token2Wav's DiT pass peak against
   seconds of speech, plain versus windowed, next to the analytic model.
3. Real-size Qwen3-VL-8B-Instruct in NF4 (random weights saved once, then loaded as the worker loads it):
   measured memory against the planner, decode tokens/s against the floor.

`GPU_CHECK_DEVICE=cpu GPU_CHECK_LAYERS=1` runs the same code on CPU with one layer per stack (a smoke test of this
script only: its figures mean nothing).
"""

from __future__ import annotations

import base64
import gc
import io
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "model-worker")]

import torch  # noqa: E402

DEVICE = os.environ.get("GPU_CHECK_DEVICE", "cuda")
LAYERS = int(os.environ.get("GPU_CHECK_LAYERS", "0"))  # 0: the real depths
GIB = 1024**3
ON_CUDA = DEVICE.startswith("cuda")
# Qwen2.5-Omni's special token ids (its config.json): the thinker's rope index looks for them in the prompt.
OMNI_TOKEN_IDS = {
    "audio_token_index": 151646, "image_token_index": 151655, "video_token_index": 151656,
    "audio_start_token_id": 151647, "audio_end_token_id": 151648, "vision_start_token_id": 151652,
    "vision_end_token_id": 151653, "vision_token_id": 151654, "user_token_id": 872,
    "position_id_per_seconds": 25, "seconds_per_chunk": 2,
}


def say(text: str = "") -> None:
    print(text, flush=True)


def allocated() -> int:
    return torch.cuda.memory_allocated() if ON_CUDA else 0


def reset_peak() -> int:
    if ON_CUDA:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    return allocated()


def peak_since(base: int) -> int:
    if not ON_CUDA:
        return 0
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


def free_everything() -> None:
    gc.collect()
    if ON_CUDA:
        torch.cuda.empty_cache()


def measured_bandwidth() -> float:
    """Device memory bandwidth in bytes/s from a large copy (read + write), the floor's denominator."""
    if not ON_CUDA:
        return 50e9
    source = torch.empty(2 * GIB // 2, dtype=torch.float16, device=DEVICE)
    target = torch.empty_like(source)
    target.copy_(source)
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(10):
        target.copy_(source)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    del source, target
    free_everything()
    return 10 * 2 * 2 * GIB / seconds


def shrink(config):
    """With GPU_CHECK_LAYERS, every stack keeps that many layers (smoke runs on CPU)."""
    if not LAYERS:
        return config
    for sub in (config, *[getattr(config, n) for n in dir(config) if n.endswith("_config")]):
        for sub2 in (sub, *[getattr(sub, n, None) for n in ("text_config", "audio_config", "vision_config",
                                                              "dit_config", "bigvgan_config")]):
            for field in ("num_hidden_layers", "encoder_layers", "depth"):
                if sub2 is not None and isinstance(getattr(sub2, field, None), int):
                    setattr(sub2, field, LAYERS)
            if sub2 is not None and hasattr(sub2, "deepstack_visual_indexes"):
                sub2.deepstack_visual_indexes = [0]
            if sub2 is not None and hasattr(sub2, "fullatt_block_indexes"):
                sub2.fullatt_block_indexes = [0]
            if sub2 is not None and hasattr(sub2, "look_ahead_layers"):
                sub2.look_ahead_layers, sub2.look_backward_layers = [0], [0]
    return config


def decode_speed(model, vocab: int, weight_bytes: int, bandwidth: float, prompt: int = 512, new: int = 128) -> str:
    ids = torch.randint(0, vocab, (1, prompt), device=DEVICE)
    generate = {"max_new_tokens": new, "min_new_tokens": new, "do_sample": False}
    model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=4, do_sample=False)  # warm-up
    if ON_CUDA:
        torch.cuda.synchronize()
    started = time.perf_counter()
    model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **generate)
    if ON_CUDA:
        torch.cuda.synchronize()
    rate = new / (time.perf_counter() - started)
    ceiling = bandwidth / weight_bytes
    return (f"decode {rate:.1f} tokens/s (greedy, {new} tokens after a {prompt}-token prompt); memory-bandwidth "
            f"ceiling {ceiling:.0f} tokens/s ({weight_bytes / GIB:.2f} GiB read per token at "
            f"{bandwidth / 1e9:.0f} GB/s measured): {100 * rate / ceiling:.1f} % of it")


# -- 1. tiny checkpoints through the worker ----------------------------------------------------------------------
def tiny_worker(root: Path) -> None:
    from model_worker.app import create_app
    from model_worker.config import WorkerConfig
    from tests.worker.media_samples import encode_audio, form_image, image_bytes
    from tests.worker.tiny_models import build_tiny_checkpoints, worker_env

    checkpoints = build_tiny_checkpoints(root / "tiny")
    image = base64.b64encode(image_bytes(form_image(1400, 900))).decode()
    audio = encode_audio("webm_opus", seconds=3.0)
    for label, four_bit in (("bf16", "false"), ("bf16 + detector NF4", "true")):
        env = {**worker_env(checkpoints), "DEVICE": DEVICE, "DTYPE": "bfloat16", "USE_4BIT": four_bit,
               "OMNI_MAX_NEW_TOKENS": "32", "OMNI_TALKER_MAX_NEW_TOKENS": "200", "DETECTOR_MAX_NEW_TOKENS": "80"}
        started = time.perf_counter()
        app = create_app(WorkerConfig.from_env(env))
        for slot in app.extensions["model_slots"].values():
            slot.wait_loaded(600)
        say(f"[tiny, {label}] loaded in {time.perf_counter() - started:.1f} s")
        exercise(app.test_client(), audio, image)
        del app
        free_everything()


def exercise(client, audio: bytes, image: str) -> None:
    """Readiness as measured, then one request of each kind, with its timings."""
    for key, info in client.get("/readyz").json["models"].items():
        say(f"  {key}: {info['state']} device={info['device']} dtype={info['dtype']} "
            f"bytes={info['bytes_by_dtype']} error={info['error']}")
    requests = {
        "feedback": lambda: client.post("/omni/feedback", data={"audio": (io.BytesIO(audio), "a.webm")},
                                        content_type="multipart/form-data"),
        "spoken feedback": lambda: client.post(
            "/omni/feedback", data={"audio": (io.BytesIO(audio), "a.webm"), "return_audio": "true"},
            content_type="multipart/form-data"),
        "detect": lambda: client.post("/detect", json={"image_base64": image}),
    }
    for name, send in requests.items():
        response = send()
        detail = response.json.get("timings") if response.status_code == 200 else response.json
        say(f"  {name}: HTTP {response.status_code} {detail}")


# -- 2. real-size Omni-3B ------------------------------------------------------------------------------------------
def omni_real(bandwidth: float) -> None:
    from transformers import Qwen2_5OmniForConditionalGeneration

    from model_worker.config import WorkerConfig
    from model_worker.omni import _drop_vision_tower
    from model_worker.plan import plan_models
    from model_worker.speech import WindowedToken2Wav, dit_pass_codes, dit_pass_peak_bytes, window_codes_for
    from tests.worker.real_configs import omni_3b_config

    config = shrink(omni_3b_config())
    for name, value in OMNI_TOKEN_IDS.items():  # generate() scans for them; a meta-size config need not carry them
        if getattr(config.thinker_config, name, None) is None:
            setattr(config.thinker_config, name, value)
    worker = WorkerConfig.from_env({"ENABLED_MODELS": "omni", "VL_LORA_ADAPTER": "", "HF_HUB_OFFLINE": "1"})
    plan = plan_models(worker, torch.bfloat16, model_configs={"omni": config, "lora": None})[0]
    base = reset_peak()
    started = time.perf_counter()
    with torch.device(DEVICE):
        model = Qwen2_5OmniForConditionalGeneration._from_config(config, dtype=torch.bfloat16).eval()
    _drop_vision_tower(model)
    model.token2wav.float()
    free_everything()
    held = allocated() - base
    say(f"[Omni-3B real size, random weights] built in {time.perf_counter() - started:.1f} s")
    say(f"  weights on the device: measured {held / GIB:.2f} GiB, planned {plan.parts['weights'] / GIB:.2f} GiB "
        f"({100 * (held - plan.parts['weights']) / plan.parts['weights']:+.1f} %)")
    text = model.thinker.model.language_model
    decoder = sum(p.numel() * p.element_size() for p in text.layers.parameters())
    head = sum(p.numel() * p.element_size() for p in model.thinker.lm_head.parameters())
    say("  thinker " + decode_speed(model.thinker, config.thinker_config.text_config.vocab_size, decoder + head,
                                    bandwidth))
    prompt = 3400  # ~120 s of audio tokens + text, the planner's longest prompt
    ids = torch.randint(0, 1000, (1, prompt), device=DEVICE)
    before = reset_peak()
    with torch.no_grad():
        model.thinker(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=True)
    say(f"  thinker prefill of {prompt} tokens: peak +{peak_since(before) / GIB:.2f} GiB; planned activations "
        f"{plan.parts['activations'] / GIB:.2f} + its KV share")
    del ids
    free_everything()

    dit_config = model.token2wav.code2wav_dit_model.config
    windowed = WindowedToken2Wav(model.token2wav, window_codes_for(dit_config, worker.omni_speech_window_s))
    conditioning = torch.randn(1, dit_config.enc_emb_dim, device=DEVICE)
    reference = torch.randn(1, 300, dit_config.mel_dim, device=DEVICE)
    say(f"  Token2Wav one DiT pass, float32, window {windowed.window_codes} codes "
        f"({dit_pass_codes(dit_config, windowed.window_codes)} with margins):")
    say("    speech s   plain peak GiB   model    windowed peak GiB   model")
    for seconds in (10, 20, 30):
        codes = torch.randint(0, dit_config.num_embeds - 1, (1, seconds * 50), device=DEVICE)
        state = torch.randn(1, codes.shape[1] * 2, dit_config.mel_dim, device=DEVICE)
        step = torch.tensor(0.5, device=DEVICE)
        row = []
        for run in ("plain", "windowed"):
            free_everything()
            before = reset_peak()
            with torch.no_grad():
                if run == "plain":
                    windowed._guided_pass(state, codes, conditioning, reference, step, 0.5)
                else:
                    windowed.guided_velocity(state, codes, conditioning, reference, step, 0.5)
            pass_codes = codes.shape[1] if run == "plain" else dit_pass_codes(dit_config, windowed.window_codes)
            row.append((peak_since(before), dit_pass_peak_bytes(dit_config, pass_codes)))
        say(f"    {seconds:>8} {row[0][0] / GIB:>16.2f} {row[0][1] / GIB:>7.2f} {row[1][0] / GIB:>19.2f} "
            f"{row[1][1] / GIB:>7.2f}")
    codes = torch.randint(0, dit_config.num_embeds - 1, (1, 20 * 50), device=DEVICE)
    if ON_CUDA:
        torch.cuda.synchronize()
    started = time.perf_counter()
    with torch.no_grad():
        waveform = windowed(codes, conditioning=conditioning, reference_mel=reference)
    if ON_CUDA:
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - started
    say(f"  windowed synthesis of 20 s of speech (10 solver steps + vocoder): {elapsed:.1f} s, "
        f"{waveform.numel() / 24000:.1f} s of audio (real-time factor {elapsed / 20:.2f})")
    del model, windowed, waveform
    free_everything()


# -- 3. real-size Qwen3-VL-8B in NF4 -------------------------------------------------------------------------------
def detector_real(root: Path, bandwidth: float) -> None:
    from transformers import Qwen3VLForConditionalGeneration

    from model_worker.config import WorkerConfig
    from model_worker.detector import four_bit_config
    from model_worker.plan import plan_models
    from tests.worker.real_configs import qwen3_vl_8b_config

    config = shrink(qwen3_vl_8b_config())
    worker = WorkerConfig.from_env({"ENABLED_MODELS": "detector", "VL_LORA_ADAPTER": "", "HF_HUB_OFFLINE": "1"})
    plan = plan_models(worker, torch.bfloat16, model_configs={"detector": config, "lora": None})[0]
    started = time.perf_counter()
    with torch.device(DEVICE):
        model = Qwen3VLForConditionalGeneration._from_config(config, dtype=torch.bfloat16)
    path = root / "qwen3-vl-8b-random"
    model.save_pretrained(path)
    del model
    free_everything()
    say(f"[Qwen3-VL-8B real size, random weights] built and saved in {time.perf_counter() - started:.1f} s")
    base = reset_peak()
    started = time.perf_counter()
    kwargs = {"dtype": torch.bfloat16, "device_map": DEVICE}
    if ON_CUDA:
        kwargs["quantization_config"] = four_bit_config(torch.bfloat16)
    model = Qwen3VLForConditionalGeneration.from_pretrained(path, **kwargs).eval()
    free_everything()
    held = allocated() - base
    say(f"  loaded {'in NF4 ' if ON_CUDA else ''}in {time.perf_counter() - started:.1f} s; load peak "
        f"+{peak_since(base) / GIB:.2f} GiB")
    say(f"  weights on the device: measured {held / GIB:.2f} GiB, planned {plan.parts['weights'] / GIB:.2f} GiB "
        f"({100 * (held - plan.parts['weights']) / max(1, plan.parts['weights']):+.1f} %)")
    from model_worker.inspection import measure

    language = model.model.language_model
    read = measure(language.layers).memory_bytes + measure(model.lm_head).memory_bytes
    say("  " + decode_speed(model, config.text_config.vocab_size, read, bandwidth))
    del model
    free_everything()


def main() -> None:
    if ON_CUDA and not torch.cuda.is_available():
        raise SystemExit("no CUDA device visible to torch " + torch.__version__)
    if ON_CUDA:
        properties = torch.cuda.get_device_properties(0)
        say(f"device: {properties.name}, {properties.total_memory / GIB:.1f} GiB, torch {torch.__version__}, "
            f"CUDA {torch.version.cuda}, bf16 {torch.cuda.is_bf16_supported()}")
    bandwidth = measured_bandwidth()
    say(f"measured copy bandwidth: {bandwidth / 1e9:.0f} GB/s\n")
    with tempfile.TemporaryDirectory() as tmp:
        for stage in (lambda: tiny_worker(Path(tmp)), lambda: omni_real(bandwidth),
                      lambda: detector_real(Path(tmp), bandwidth)):
            started = time.perf_counter()
            stage()
            say(f"  ({time.perf_counter() - started:.0f} s)\n")


if __name__ == "__main__":
    main()
