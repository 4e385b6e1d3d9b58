"""WindowedToken2Wav: Qwen2.5-Omni's Token2Wav in bounded windows (model_worker/speech.py).

On tiny random checkpoints: a short answer is bit-identical to the library's token2wav; a long one that the library
refuses (more mel frames than the DiT's max_position_embeddings) is synthesised and matches the library's result on
a checkpoint with the same weights and room for it; the windowed vocoder equals one vocoder call; and the real
`generate` works with it in place of `model.token2wav`. At the real DiT size (slow): one pass's peak memory stays
flat as the answer grows, matches the analytic model, and the library's pass grows.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import Qwen2_5OmniForConditionalGeneration, Qwen2_5OmniProcessor
from transformers.models.qwen2_5_omni.configuration_qwen2_5_omni import (
    Qwen2_5OmniBigVGANConfig,
    Qwen2_5OmniDiTConfig,
)

from model_worker.processors import load_processor
from model_worker.prompts import OMNI_SPEECH_SYSTEM_PROMPT
from model_worker.speech import (
    Window,
    WindowedToken2Wav,
    bigvgan_context_frames,
    bigvgan_peak_bytes,
    block_codes,
    codes_per_second,
    dit_margin_codes,
    dit_pass_codes,
    dit_peak_bytes,
    mel_hop,
    plan_windows,
    speech_peak_bytes,
    window_codes_for,
)
from tests.worker.tiny_models import build_tiny_omni

REPO = Path(__file__).resolve().parents[2]
# The tiny DiT (block 24 frames, one block of look-back and one of look-ahead) with room for 96 mel frames = 48
# codes per pass: windows of 24 codes plus 12 + 12 codes of margins.
SMALL_MAX_POSITIONS = 96
LONG_CODES = 150  # 300 mel frames: 7 windows


@pytest.fixture(scope="module", autouse=True)
def no_onednn():
    """oneDNN makes the first Token2Wav forward of a process take seconds on CPU (NOTES.md)."""
    previous = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    yield
    torch.backends.mkldnn.enabled = previous


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """The tiny Omni checkpoint twice: with the DiT capped at SMALL_MAX_POSITIONS, and with the library's default
    cap (32768). The weights do not depend on the cap."""
    root = tmp_path_factory.mktemp("speech")
    return {
        "small": build_tiny_omni(root / "small", dit_max_position_embeddings=SMALL_MAX_POSITIONS),
        "roomy": build_tiny_omni(root / "roomy"),
    }


@pytest.fixture(scope="module")
def omni_models(checkpoints):
    """(small, roomy) full Omni models loaded from those checkpoints with from_pretrained, identical weights."""
    small, roomy = (Qwen2_5OmniForConditionalGeneration.from_pretrained(checkpoints[name]).eval()
                    for name in ("small", "roomy"))
    small_weights, roomy_weights = small.state_dict(), roomy.state_dict()
    assert all(torch.equal(small_weights[name], roomy_weights[name]) for name in small_weights)
    return small, roomy


@pytest.fixture(scope="module")
def speaker(omni_models):
    params = omni_models[0].speaker_map["Chelsie"]
    return {"conditioning": params["cond"].float(), "reference_mel": params["ref_mel"].float()}


def random_codes(count: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 8192, (1, count), generator=torch.Generator().manual_seed(seed))


def synthesise(token2wav, codes, speaker, seed: int):
    torch.manual_seed(seed)
    with torch.no_grad():
        return token2wav(codes, **speaker)


def test_geometry_from_the_real_config():
    dit, bigvgan = Qwen2_5OmniDiTConfig(), Qwen2_5OmniBigVGANConfig()
    # The released DiT: hidden 1024, 22 layers, 16 heads, block 24, look-back in layers 0 and 20, look-ahead in 10.
    assert (dit.hidden_size, dit.num_hidden_layers, dit.num_attention_heads, dit.block_size) == (1024, 22, 16, 24)
    assert mel_hop(bigvgan) == 240 and dit.repeats == 2
    assert codes_per_second(dit, bigvgan) == codes_per_second(dit) == 50.0
    assert block_codes(dit) == 12 and dit_margin_codes(dit) == (24, 12)
    assert bigvgan_context_frames(bigvgan) == 38
    assert [window_codes_for(dit, s) for s in (0.1, 1.0, 2.0, 10.0)] == [12, 48, 96, 504]
    assert window_codes_for(dit, 1e6) == 16344  # capped: 16344 + 36 = 16380 <= 32768 // 2, whole blocks
    assert dit_pass_codes(dit, 16344) <= dit.max_position_embeddings // dit.repeats
    tiny = Qwen2_5OmniDiTConfig(max_position_embeddings=SMALL_MAX_POSITIONS, look_ahead_layers=[1],
                                look_backward_layers=[0], num_hidden_layers=2)
    assert window_codes_for(tiny, 10.0) == 24 and dit_pass_codes(tiny, 24) == 48
    with pytest.raises(ValueError, match="positive"):
        window_codes_for(dit, 0)
    with pytest.raises(ValueError, match="no room"):
        window_codes_for(Qwen2_5OmniDiTConfig(max_position_embeddings=48), 1.0)


def test_windows_cover_the_sequence_once():
    assert plan_windows(48, 24, 12, 12) == [Window(0, 48, 0, 48)]  # fits with its context: uncut
    windows = plan_windows(LONG_CODES, 24, 12, 12)
    assert [(w.core_start, w.core_end) for w in windows] == [(s, min(s + 24, LONG_CODES)) for s in range(0, 150, 24)]
    assert all(w.start == max(0, w.core_start - 12) and w.end == min(LONG_CODES, w.core_end + 12) for w in windows)
    assert all(w.end - w.start <= 48 for w in windows)


def test_memory_model_is_bounded_by_the_window():
    dit, bigvgan = Qwen2_5OmniDiTConfig(), Qwen2_5OmniBigVGANConfig()
    window = window_codes_for(dit, 10.0)
    short, long = (speech_peak_bytes(dit, bigvgan, window, answer_codes=codes) for codes in (500, 4096))
    assert long - short < 64 * 2**20  # only the solver state and the waveform grow: 80 floats + 480 samples a frame
    assert dit_peak_bytes(dit, 2 * window) > 3 * dit_peak_bytes(dit, window)  # quadratic in the window
    assert bigvgan_peak_bytes(bigvgan, 200) == 2 * bigvgan_peak_bytes(bigvgan, 100)


def test_constructor_refuses_windows_the_dit_cannot_take(omni_models):
    token2wav = omni_models[0].token2wav
    with pytest.raises(ValueError, match="multiple of 12"):
        WindowedToken2Wav(token2wav, window_codes=20)
    with pytest.raises(ValueError, match="exceeds"):
        WindowedToken2Wav(token2wav, window_codes=36)  # 36 + 24 codes = 120 frames > 96


@pytest.mark.parametrize("codes", [30, 48])
def test_an_answer_that_fits_one_window_is_exactly_the_plain_result(omni_models, speaker, codes):
    token2wav = omni_models[0].token2wav
    windowed = WindowedToken2Wav(token2wav, window_codes=24)
    plain = synthesise(token2wav, random_codes(codes, 1), speaker, seed=5)
    assert torch.equal(synthesise(windowed, random_codes(codes, 1), speaker, seed=5), plain)
    assert windowed.last_code_count == codes and windowed.window_codes == 24
    assert windowed.dtype == token2wav.dtype and windowed.device == token2wav.device


def test_it_converts_like_the_model_generate_expects(omni_models):
    """`generate` checks `token2wav.dtype` and calls `.float()` when the model was loaded in half precision."""
    windowed = WindowedToken2Wav(copy.deepcopy(omni_models[0].token2wav), window_codes=24).to(torch.bfloat16)
    assert windowed.dtype == torch.bfloat16
    assert windowed.float() is windowed and windowed.dtype == windowed.token2wav.dtype == torch.float32
    assert not windowed.training


def test_a_long_answer_is_synthesised_past_the_dits_limit_without_seams(omni_models, speaker):
    small, roomy = omni_models[0].token2wav, omni_models[1].token2wav
    codes = random_codes(LONG_CODES, 2)
    with pytest.raises(ValueError, match=r"Requested mel length \(300\) exceeds"):
        synthesise(small, codes, speaker, seed=7)
    windowed = WindowedToken2Wav(small, window_codes=window_codes_for(small.code2wav_dit_model.config, 0.5))
    assert len(windowed.dit_windows(LONG_CODES)) == 7
    waveform = synthesise(windowed, codes, speaker, seed=7)
    repeats, hop = small.code2wav_dit_model.repeats, mel_hop(small.code2wav_bigvgan_model.config)
    assert waveform.shape == (LONG_CODES * repeats * hop,)
    assert torch.isfinite(waveform).all()
    # The library's result for the same seed, on the same weights with room for 300 frames. Each windowed DiT pass
    # equals the full pass up to float rounding (the margins cover the attention's reach), so the only difference
    # is rounding: measured 2.4e-7 at most in the mel (values up to ~4), 1.9e-7 relative L2 in the waveform.
    # The bounds leave 40-50x for other BLAS builds and thread counts.
    reference = synthesise(roomy, codes, speaker, seed=7)
    assert (waveform - reference).norm() / reference.norm() < 1e-5
    torch.manual_seed(7)
    mel = windowed.sample(codes, **speaker)
    torch.manual_seed(7)
    reference_mel = roomy.code2wav_dit_model.sample(speaker["conditioning"], speaker["reference_mel"], codes)
    error = (mel - reference_mel).abs().max(dim=1).values[0]  # per frame
    assert error.max() < 1e-5
    seams = [w.core_start * repeats for w in windowed.dit_windows(LONG_CODES)[1:]]
    assert error[[frame + offset for frame in seams for offset in (-1, 0)]].max() < 1e-5


def test_vocoder_windows_are_exact(omni_models):
    bigvgan = omni_models[0].token2wav.code2wav_bigvgan_model
    windowed = WindowedToken2Wav(omni_models[0].token2wav, window_codes=24)
    context, hop = bigvgan_context_frames(bigvgan.config), mel_hop(bigvgan.config)
    mel = torch.randn(1, 80, 400, generator=torch.Generator().manual_seed(3)) - 5
    with torch.no_grad():
        whole = bigvgan(mel)
        assert len(plan_windows(400, 96, context, context)) == 5
        assert torch.allclose(windowed.vocode(mel), whole, rtol=0, atol=1e-6 * whole.abs().max())
        # The receptive field is within the computed context: moving one frame changes no sample further away.
        nudged = mel.clone()
        nudged[..., 200] += 3.0
        changed = (bigvgan(nudged) != whole).nonzero().flatten()
    assert changed.numel() > 0
    assert changed.min() >= (200 - context) * hop and changed.max() < (201 + context) * hop


def _speech_inputs(processor):
    conversation = [
        {"role": "system", "content": [{"type": "text", "text": OMNI_SPEECH_SYSTEM_PROMPT}]},
        {"role": "user", "content": [{"type": "text", "text": "Please give feedback on my pace."}]},
    ]
    text = processor.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
    return processor(text=[text], return_tensors="pt", padding=True)


def _generate(model, inputs, seed: int):
    torch.manual_seed(seed)
    return model.generate(**inputs, generation_mode="audio", speaker="Chelsie", thinker_max_new_tokens=8,
                          talker_max_new_tokens=80)


def test_generate_speaks_with_the_windowed_token2wav(omni_models, checkpoints):
    """The real `generate` with `model.token2wav` replaced, on the capped checkpoint (where the library's token2wav
    refuses an 80-code answer), against the library on the uncapped one with the same weights and seed."""
    small, roomy = omni_models
    inputs = _speech_inputs(load_processor(Qwen2_5OmniProcessor, str(checkpoints["small"])))
    plain = small.token2wav
    with pytest.raises(ValueError, match="max_position_embeddings"):
        _generate(small, inputs, seed=0)
    windowed = WindowedToken2Wav(plain, window_codes=12)
    small.token2wav = windowed
    try:
        sequences, waveform = _generate(small, inputs, seed=0)
    finally:
        small.token2wav = plain
    reference_sequences, reference = _generate(roomy, inputs, seed=0)
    assert torch.equal(sequences, reference_sequences)
    codes = windowed.last_code_count
    assert len(windowed.dit_windows(codes)) > 1
    frames = codes * small.token2wav.code2wav_dit_model.repeats
    assert waveform.shape == (frames * mel_hop(small.token2wav.code2wav_bigvgan_model.config),) == reference.shape
    assert waveform.dtype == torch.float32 and torch.isfinite(waveform).all()
    assert (waveform - reference).norm() / reference.norm() < 1e-5


@pytest.mark.slow
def test_real_size_dit_pass_memory_is_bounded_by_the_window():
    """One guided DiT pass at the real size (random weights, float32, CPU), measured in a fresh process by
    benchmarks/speech_memory.py: 1 s windows (48 codes, 84 with margins), 2 / 4 / 8 s of speech. Measured here with
    2 threads: windowed 20.1 / 19.4 / 19.9 MiB, plain 19.6 / 49.3 MiB (2 / 4 s); the model says 20.5 MiB for the
    window and 20.9 / 47.1 MiB for the plain passes. A pass this small peaks in the speaker encoder, which does not
    depend on the window; the masks take over from about 120 codes."""
    command = [sys.executable, str(REPO / "benchmarks" / "speech_memory.py"), "--json", "--window-s", "1",
               "--seconds", "2", "4", "8", "--plain-seconds", "2", "4", "--threads", "2"]
    result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True, timeout=240).stdout)
    rows = {row["seconds"]: row for row in result["rows"]}
    windowed = [rows[s]["windowed_peak_bytes"] for s in (2.0, 4.0, 8.0)]
    assert [rows[s]["windows"] for s in (2.0, 4.0, 8.0)] == [3, 5, 9]
    assert max(windowed) - min(windowed) < 0.2 * max(windowed)  # flat while the speech grows 4x
    model = result["window_model_bytes"]
    assert all(abs(peak - model) < 0.25 * model for peak in windowed)  # model within 25 % (measured -5..+7 %)
    plain_2s, plain_4s = rows[2.0]["plain_peak_bytes"], rows[4.0]["plain_peak_bytes"]
    assert plain_4s > 2 * plain_2s and plain_4s > 2 * max(windowed)
    assert abs(plain_4s - rows[4.0]["plain_model_bytes"]) < 0.25 * plain_4s
