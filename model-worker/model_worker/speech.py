"""Qwen2.5-Omni speech synthesis (Token2Wav) in bounded windows.

Qwen2.5-Omni turns the talker's codes (50 per second of speech) into a waveform with a DiT (flow matching,
10 solver steps, 4 DiT passes per step, each with classifier-free guidance, i.e. batch 2) that predicts a mel
spectrogram (2 frames per code), then a BigVGAN vocoder (240 samples per frame at 24 kHz). The library runs
every DiT pass over the whole answer and builds full T x T block masks for it (T = mel frames), so the memory of
one pass grows with the square of the answer's length, and `sample` refuses answers longer than the DiT's
`max_position_embeddings`.

`WindowedToken2Wav` replaces `model.token2wav` and runs every DiT pass, and the vocoder, in windows of a fixed
size, so the peak memory no longer depends on the answer's length. It is exact, not an approximation:

- The DiT's attention is block-local: in each layer a frame sees its own block of `block_size` frames, plus one
  block back in `look_backward_layers` and one ahead in `look_ahead_layers`. Through all layers an output block
  therefore depends only on `len(look_backward_layers)` blocks before it and `len(look_ahead_layers)` after it
  (2 and 1 in the real model). Every other part of a pass is per frame (embeddings, norms, MLP) or global and
  independent of the window (time step, speaker encoder on the reference mel); the rotary embedding is relative.
  So a window whose start is a block boundary and which carries those margins gives its core frames the same
  velocity as the full pass, up to float rounding. The solver itself runs over the whole answer (its state is
  80 floats per frame), starting from one initial-noise tensor drawn exactly as `sample` draws it.
- BigVGAN is convolutional with a finite receptive field (`bigvgan_context_frames`, 38 mel frames each side in
  the real model); windows carrying that much context on each side, cropped and joined, give the same samples.

Qwen's own streaming decoder (vLLM-Omni's `Qwen2_5OmniToken2WavModel.process_chunk`, "aligned with
Qwen2Code2wav") windows differently: it solves the ODE separately per chunk of 3 blocks, with 2 blocks of past and
1 of future context, sliced from one noise tensor for the whole answer, and vocodes each chunk with 20 mel frames of
overlap. That is what streaming needs (a chunk is spoken before later codes exist) but it is approximate at every
seam. Here all codes are known before synthesis starts, so each DiT pass is windowed instead: same margins, same
single noise tensor, no seams. A sequence that fits one window goes through the same single pass as the library.

The memory model (`dit_peak_bytes`, `bigvgan_peak_bytes`, `speech_peak_bytes`) counts the tensors alive at the
peak, from the configs alone, for the memory planner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from transformers.models.qwen2_5_omni.configuration_qwen2_5_omni import Qwen2_5OmniBigVGANConfig
from transformers.models.qwen2_5_omni.modeling_qwen2_5_omni import RungeKutta4ODESolver

from .generation import check_deadline

SAMPLE_RATE = 24_000  # Qwen2.5-Omni's output rate (BigVGAN's 240-sample hop at 100 mel frames per second)
DEFAULT_NUM_STEPS = 10  # Token2Wav's default solver steps (time points), as in `Qwen2_5OmniToken2WavModel.forward`
DEFAULT_ANSWER_CODES = 4096  # `generate`'s default `talker_max_new_tokens`: the longest answer, in codes
REFERENCE_MEL_FRAMES = 300  # assumed speaker reference mel length (3 s) when the caller does not give it
CFG_BATCH = 2  # classifier-free guidance runs the conditional and unconditional halves as one batch
# Anti-aliased activation (2x up, 12-tap filter; 2x down, 12-tap filter): an output sample depends on input
# samples within 3 of it through the up-sampler and 3 more through the down-sampler (see `bigvgan_context_frames`).
_ANTI_ALIAS_RADIUS = 6
_BIGVGAN_EDGE_KERNEL = 7  # conv_pre and conv_post


# -- geometry --------------------------------------------------------------------------------------------------
def block_codes(dit_config) -> int:
    """The granularity of a window boundary, in codes: window starts must fall on a DiT block boundary (so each
    window's block masks are the full pass's) and on a code boundary (each code is `repeats` frames)."""
    frames = math.lcm(dit_config.block_size, dit_config.repeats)
    return frames // dit_config.repeats


def dit_margin_codes(dit_config) -> tuple[int, int]:
    """Context (codes before, codes after) a window needs so its core is exact: one block per layer that looks
    back (ahead), rounded up to whole window-boundary units."""
    layers = range(dit_config.num_hidden_layers)
    back_blocks = len({i for i in dit_config.look_backward_layers if i in layers})
    ahead_blocks = len({i for i in dit_config.look_ahead_layers if i in layers})
    unit = block_codes(dit_config)

    def to_codes(blocks: int) -> int:
        codes = math.ceil(blocks * dit_config.block_size / dit_config.repeats)
        return math.ceil(codes / unit) * unit

    return to_codes(back_blocks), to_codes(ahead_blocks)


def dit_pass_codes(dit_config, window_codes: int) -> int:
    """The most codes one windowed DiT pass sees: the window plus its margins on both sides. A sequence up to this
    long is synthesised in one pass, exactly like the library does."""
    back, ahead = dit_margin_codes(dit_config)
    return window_codes + back + ahead


def mel_hop(bigvgan_config) -> int:
    """Waveform samples per mel frame: BigVGAN's total upsampling (each transposed conv multiplies the length by its
    rate exactly, since its padding is (kernel - rate) / 2)."""
    return math.prod(bigvgan_config.upsample_rates)


def codes_per_second(dit_config, bigvgan_config=None) -> float:
    """Codes per second of speech: 24 kHz / (hop samples per frame * frames per code) = 24000 / (240 * 2) = 50 for
    Qwen2.5-Omni. Without a BigVGAN config the library's default (the released model's) is used."""
    hop = mel_hop(bigvgan_config if bigvgan_config is not None else Qwen2_5OmniBigVGANConfig())
    return SAMPLE_RATE / (hop * dit_config.repeats)


def window_codes_for(dit_config, window_s: float) -> int:
    """The window size, in codes, for `window_s` seconds of speech: rounded to whole blocks (at least one), and capped
    so that the window plus its margins never exceeds `max_position_embeddings // repeats` codes."""
    if window_s <= 0:
        raise ValueError(f"window_s must be positive, got {window_s}")
    unit = block_codes(dit_config)
    back, ahead = dit_margin_codes(dit_config)
    cap = (dit_config.max_position_embeddings // dit_config.repeats - back - ahead) // unit * unit
    if cap < unit:
        raise ValueError(
            f"dit_config.max_position_embeddings ({dit_config.max_position_embeddings}) leaves no room for a window "
            f"of one block ({unit} codes) plus its margins ({back} + {ahead} codes)"
        )
    wanted = max(unit, round(window_s * codes_per_second(dit_config) / unit) * unit)
    return min(wanted, cap)


def bigvgan_context_frames(bigvgan_config) -> int:
    """BigVGAN's receptive radius in mel frames: context a vocoder window needs on each side so that its core
    samples equal those of one call over the whole mel (38 frames for the released model).

    Walked from the output back to the input, in samples at each stage's rate: conv_post and the final activation,
    then per stage the widest residual block (each of its units is activation, dilated conv, activation, conv) and the
    transposed conv that produced the stage (radius r over its output needs ceil((r + kernel) / rate) inputs), and
    finally conv_pre. Bounds are rounded up, so the result is never too small."""
    edge = _BIGVGAN_EDGE_KERNEL // 2
    radius = edge + _ANTI_ALIAS_RADIUS
    kernels = zip(bigvgan_config.resblock_kernel_sizes, bigvgan_config.resblock_dilation_sizes, strict=True)
    block = max(_residual_block_radius(kernel, dilations) for kernel, dilations in kernels)
    stages = list(zip(bigvgan_config.upsample_rates, bigvgan_config.upsample_kernel_sizes, strict=True))
    for rate, kernel in reversed(stages):
        radius = math.ceil((radius + block + kernel) / rate)
    return radius + edge


def _residual_block_radius(kernel: int, dilations) -> int:
    """Receptive radius (samples) of one AMP block: per unit an activation, a dilated conv, an activation, a conv."""
    return sum(2 * _ANTI_ALIAS_RADIUS + (kernel - 1) * dilation // 2 + (kernel - 1) // 2 for dilation in dilations)


@dataclass(frozen=True)
class Window:
    """One window over a sequence: it is computed over [start, end) and contributes [core_start, core_end)."""

    start: int
    end: int
    core_start: int
    core_end: int


def plan_windows(length: int, core: int, before: int, after: int) -> list[Window]:
    """Cut [0, length) into cores of `core` items, each computed with up to `before` / `after` items of context.
    A sequence that fits one window with its context (length <= core + before + after) is one window, uncut."""
    if length <= core + before + after:
        return [Window(0, length, 0, length)]
    return [
        Window(max(0, core_start - before), min(length, core_start + core + after), core_start,
               min(length, core_start + core))
        for core_start in range(0, length, core)
    ]


# -- the module ------------------------------------------------------------------------------------------------
class WindowedToken2Wav(torch.nn.Module):
    """Drop-in replacement for `Qwen2_5OmniForConditionalGeneration.token2wav` that synthesises in bounded windows
    (see the module docstring). It keeps the loaded DiT and BigVGAN and only replaces the sampling loop.

    `window_codes` is the window's core in codes (`window_codes_for` gives it for a duration); each DiT pass sees at
    most `dit_pass_codes(dit_config, window_codes)` codes, each vocoder call that many codes' frames plus
    `bigvgan_context_frames` on each side. `last_code_count` is the number of codes of the last call."""

    def __init__(self, token2wav, window_codes: int):
        super().__init__()
        dit_config = token2wav.code2wav_dit_model.config
        unit = block_codes(dit_config)
        if window_codes < unit or window_codes % unit:
            raise ValueError(f"window_codes must be a positive multiple of {unit} codes (one DiT block), "
                             f"got {window_codes}; use window_codes_for()")
        limit = dit_config.max_position_embeddings // dit_config.repeats
        if dit_pass_codes(dit_config, window_codes) > limit:
            raise ValueError(f"window_codes={window_codes} plus margins {dit_margin_codes(dit_config)} exceeds "
                             f"max_position_embeddings // repeats = {limit} codes; use window_codes_for()")
        self.token2wav = token2wav
        self.window_codes = window_codes
        self.last_code_count: int | None = None
        self.train(token2wav.training)

    @property
    def dit(self):
        return self.token2wav.code2wav_dit_model

    @property
    def bigvgan(self):
        return self.token2wav.code2wav_bigvgan_model

    @property
    def dtype(self) -> torch.dtype:
        """Like `PreTrainedModel.dtype`: `generate` checks it and calls `.float()`, which converts the wrapped model."""
        return self.token2wav.dtype

    @property
    def device(self) -> torch.device:
        return self.token2wav.device

    def dit_windows(self, code_count: int) -> list[Window]:
        """The DiT windows, in codes, for an answer of `code_count` codes."""
        back, ahead = dit_margin_codes(self.dit.config)
        return plan_windows(code_count, self.window_codes, back, ahead)

    def forward(self, code, conditioning, reference_mel, num_steps=DEFAULT_NUM_STEPS, guidance_scale=0.5,
                sway_coefficient=-1.0, deadline: float | None = None, **kwargs):
        """Same arguments and result as `Qwen2_5OmniToken2WavModel.forward` (extra keyword arguments from `generate`
        are ignored, as there). `deadline` (a time.monotonic() value; `generate(..., token2wav_deadline=...)`) is
        checked before every DiT pass: a request past its time limit stops synthesising (BackendTimeout)."""
        self.last_code_count = int(code.shape[1])
        mel = self.sample(code, conditioning, reference_mel, num_steps, guidance_scale, sway_coefficient, deadline)
        return self.vocode(mel)

    @torch.no_grad()
    def guided_velocity(self, state, code, conditioning, reference_mel, time_step, guidance_scale=0.5,
                        windows: list[Window] | None = None):
        """One guided DiT evaluation over the whole answer (`state`: batch x frames x mel), window by window, each
        window's core cut out of its output and the cores joined. This is `sample`'s ODE function, windowed."""
        windows = windows if windows is not None else self.dit_windows(code.shape[1])
        repeats = self.dit.repeats
        pieces = []
        for window in windows:
            velocity = self._guided_pass(state[:, window.start * repeats:window.end * repeats],
                                         code[:, window.start:window.end], conditioning, reference_mel, time_step,
                                         guidance_scale)
            offset = window.start * repeats
            pieces.append(velocity[:, window.core_start * repeats - offset:window.core_end * repeats - offset])
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=1)

    def _guided_pass(self, state, code, conditioning, reference_mel, time_step, guidance_scale):
        """One DiT pass exactly as `Qwen2_5OmniToken2WavDiTModel.sample` runs it (guidance off below 1e-5)."""
        speaker = conditioning.unsqueeze(1).repeat(1, state.shape[1], 1)
        if guidance_scale < 1e-5:
            return self.dit(hidden_states=state, speaker_embedding=speaker, condition_vector=reference_mel,
                            quantized_code=code, time_step=time_step, drop_audio_conditioning=False,
                            drop_code=False, apply_cfg=False)
        output = self.dit(hidden_states=state, quantized_code=code, speaker_embedding=speaker,
                          condition_vector=reference_mel, time_step=time_step, apply_cfg=True)
        guided, unconditioned = torch.chunk(output, 2, dim=0)
        return guided + (guided - unconditioned) * guidance_scale

    @torch.no_grad()
    def sample(self, code, conditioning, reference_mel, num_steps=DEFAULT_NUM_STEPS, guidance_scale=0.5,
               sway_coefficient=-1.0, deadline: float | None = None):
        """The mel spectrogram (batch x mel x frames), like `sample`: the same initial noise (one tensor for the whole
        answer, drawn as `sample` draws it), time grid and Runge-Kutta solver, with windowed DiT passes."""
        frames = code.shape[1] * self.dit.repeats
        initial_state = torch.randn([reference_mel.shape[0], frames, self.dit.mel_dim], dtype=reference_mel.dtype,
                                    device=code.device)
        time_points = torch.linspace(0, 1, num_steps, device=code.device, dtype=conditioning.dtype)
        if sway_coefficient is not None:
            time_points += sway_coefficient * (torch.cos(torch.pi / 2 * time_points) - 1 + time_points)
        windows = self.dit_windows(code.shape[1])

        def velocity(time_step, state):
            if deadline is not None:
                check_deadline(deadline)
            return self.guided_velocity(state, code, conditioning, reference_mel, time_step, guidance_scale, windows)

        trajectory = RungeKutta4ODESolver(function=velocity, initial_value=initial_state).integrate(time_points)
        # A copy of the last point, so the trajectory (num_steps states) is freed before vocoding; permuted like the
        # library's result, so a one-window answer reaches BigVGAN with the very same layout.
        return trajectory[-1].clone().permute(0, 2, 1)

    @torch.no_grad()
    def vocode(self, mel):
        """BigVGAN over `mel` (batch x mel x frames) in windows with `bigvgan_context_frames` of context on each
        side, cropped and joined; one call when the mel fits one window."""
        core = dit_pass_codes(self.dit.config, self.window_codes) * self.dit.repeats
        context = bigvgan_context_frames(self.bigvgan.config)
        windows = plan_windows(mel.shape[-1], core, context, context)
        if len(windows) == 1:
            return self.bigvgan(mel)
        hop = mel_hop(self.bigvgan.config)
        pieces = []
        for window in windows:
            audio = self.bigvgan(mel[..., window.start:window.end])
            pieces.append(audio[..., (window.core_start - window.start) * hop:(window.core_end - window.start) * hop])
        return torch.cat(pieces, dim=-1)


# -- memory model ----------------------------------------------------------------------------------------------
def dit_peak_bytes(dit_config, window_codes: int, dtype_bytes: int = 4,
                   reference_frames: int = REFERENCE_MEL_FRAMES) -> int:
    """Extra peak memory of one DiT pass (guided, batch 2, as `sample` runs it) over a window of `window_codes`
    codes: the pass covers the window plus its margins (`dit_pass_codes`), and the figure includes them.
    `reference_frames` is the speaker's reference mel length (`speaker_map[speaker]["ref_mel"].shape[1]`)."""
    return dit_pass_peak_bytes(dit_config, dit_pass_codes(dit_config, window_codes), dtype_bytes, reference_frames)


def dit_pass_peak_bytes(dit_config, pass_codes: int, dtype_bytes: int = 4,
                        reference_frames: int = REFERENCE_MEL_FRAMES) -> int:
    """Extra peak memory of one guided DiT pass over `pass_codes` codes (the library's pass over a whole answer of
    that length, or one window with its margins): what lives through the pass plus the largest of three peaks.

    T = frames of the pass, R = reference mel frames, B = 2 (guidance):
    - speaker encoder (ECAPA-TDNN on the reference mel, run in every pass): its block outputs kept for aggregation
      and 9 tensors of the pooling width (aggregation, repeated mean and std, their concatenation, the attention
      branch, the statistics' temporaries), B x R each, beside the doubled inputs of the input embedding;
    - attention in a decoder layer: the block-difference matrix (T x T int64, kept for the rest of the pass), the
      layer's boolean mask (B x heads x T x T) and the float additive copy SDPA makes of it, plus the layer input,
      its normed copy, q, k, v and the attention output (B x T x width each);
    - MLP in a decoder layer: the block-difference matrix, the layer input, the residual sum, its normed copy and the
      two MLP activations (B x T x ff width each).
    Through the whole pass: the two code embeddings, the rotary cos/sin, and the pass's speaker and guidance tensors.
    On CUDA the memory-efficient kernel may pad the float mask to a multiple of 16 keys (one more copy of it)."""
    frames = pass_codes * dit_config.repeats
    width = dit_config.hidden_size
    inner = dit_config.num_attention_heads * dit_config.head_dim
    ff_width = int(dit_config.hidden_size * dit_config.ff_mult)
    encoder_width = sum(dit_config.enc_channels[:-1]) + 9 * dit_config.enc_channels[-1] + dit_config.mel_dim
    embedding_inputs = frames * (dit_config.mel_dim + dit_config.enc_emb_dim + dit_config.emb_dim)
    speaker = CFG_BATCH * (reference_frames * encoder_width + embedding_inputs) * dtype_bytes
    block_diff = 8 * frames * frames
    masks = CFG_BATCH * dit_config.num_attention_heads * frames * frames * (1 + dtype_bytes)
    attention = block_diff + masks + CFG_BATCH * frames * (2 * width + 4 * inner) * dtype_bytes
    mlp = block_diff + CFG_BATCH * frames * (3 * width + 2 * ff_width) * dtype_bytes
    whole_pass = frames * dtype_bytes * (
        2 * dit_config.emb_dim + 2 * CFG_BATCH * dit_config.head_dim + dit_config.enc_emb_dim
        + (CFG_BATCH + 2) * dit_config.mel_dim
    )
    return whole_pass + max(speaker, attention, mlp)


def bigvgan_peak_bytes(bigvgan_config, frames: int, dtype_bytes: int = 4) -> int:
    """Extra peak memory of one BigVGAN call over `frames` mel frames, at its widest stage (channels x samples per
    frame; 5760 per frame for stages 2-6 of the released model): the stage input, the running sum of its residual
    blocks, the unit's residual and activation, and a dilated conv of the largest kernel k with its output, its
    zero-padded input and the k-times-wider column buffer of the CPU convolution: (6 + k) stage-sized tensors.
    An upper bound on CUDA, where cuDNN's workspaces are smaller than the column buffer."""
    widest = 0
    samples_per_frame = 1
    for index, rate in enumerate(bigvgan_config.upsample_rates):
        samples_per_frame *= rate
        channels = bigvgan_config.upsample_initial_channel // 2 ** (index + 1)
        widest = max(widest, channels * samples_per_frame)
    tensors = 6 + max(bigvgan_config.resblock_kernel_sizes)
    return tensors * widest * frames * dtype_bytes


def answer_state_bytes(dit_config, bigvgan_config, answer_codes: int, dtype_bytes: int = 4) -> int:
    """What grows with the answer: the solver's state over the whole answer (the trajectory of `DEFAULT_NUM_STEPS`
    states, the current value, the four Runge-Kutta slopes and their arguments, the step and the next value, the
    joined windows: 8 more), and the waveform with its windows being joined (2 copies). 80 floats per mel frame:
    about 54 MB at 4096 codes."""
    frames = answer_codes * dit_config.repeats
    solver = (DEFAULT_NUM_STEPS + 8) * frames * dit_config.mel_dim * dtype_bytes
    waveform = 2 * frames * mel_hop(bigvgan_config) * dtype_bytes
    return solver + waveform


def speech_peak_bytes(dit_config, bigvgan_config, window_codes: int, dtype_bytes: int = 4,
                      answer_codes: int = DEFAULT_ANSWER_CODES, reference_frames: int = REFERENCE_MEL_FRAMES) -> int:
    """Extra peak memory of the whole windowed speech path for answers up to `answer_codes` codes: the larger of a
    DiT pass and a vocoder window (they never run at the same time), on top of the state that grows with the answer
    (`answer_state_bytes`)."""
    vocoder_frames = (dit_pass_codes(dit_config, window_codes) * dit_config.repeats
                      + 2 * bigvgan_context_frames(bigvgan_config))
    windowed = max(dit_peak_bytes(dit_config, window_codes, dtype_bytes, reference_frames),
                   bigvgan_peak_bytes(bigvgan_config, vocoder_frames, dtype_bytes))
    return windowed + answer_state_bytes(dit_config, bigvgan_config, answer_codes, dtype_bytes)
