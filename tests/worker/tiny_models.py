"""Tiny randomly initialised checkpoints of the worker's two model architectures, built offline.

`build_tiny_checkpoints(root)` writes, under `root`:

- `omni/`: a Qwen2.5-Omni checkpoint (thinker + talker + token2wav, `spk_dict.pt`, tokenizer, feature extractor,
  image processor, chat template) laid out like the `Qwen/Qwen2.5-Omni-3B` repository;
- `vl/`: a Qwen3-VL checkpoint with its tokenizer, image processor and chat template, laid out like
  `Qwen/Qwen3-VL-8B-Instruct`;
- `lora/`: a PEFT LoRA adapter for `vl/` shaped like `takumi123xxx/pdfme-form-field-detector-lora`
  (r 16, alpha 32, q/k/v/o_proj), briefly fine-tuned so that with it the model answers the adapter's prompts with
  `TINY_ADAPTER_ANSWER` (two boxes, the real adapter's JSON format) while the base model answers noise.

and returns their paths. The worker loads them exactly as it loads the real repositories: point `OMNI_MODEL`,
`VL_BASE_MODEL` and `VL_LORA_ADAPTER` at them. Building all three takes about 10 s on one CPU core.
The tokenizer is a small byte-level BPE trained here with `tokenizers` (no network, no Hugging Face hub).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

OMNI_SPECIAL_TOKENS = {
    "image_token": "<|IMAGE|>",
    "audio_token": "<|AUDIO|>",
    "video_token": "<|VIDEO|>",
    "vision_bos_token": "<|vision_bos|>",
    "vision_eos_token": "<|vision_eos|>",
    "vision_pad_token": "<|vision_pad|>",
    "audio_bos_token": "<|audio_bos|>",
    "audio_eos_token": "<|audio_eos|>",
}
VL_SPECIAL_TOKENS = {
    "image_token": "<|image_pad|>",
    "video_token": "<|video_pad|>",
    "vision_start_token": "<|vision_start|>",
    "vision_end_token": "<|vision_end|>",
}
# Qwen's text-to-speech control tokens; the talker reads their embeddings from the thinker.
TTS_TOKENS = ["<tts_pad>", "<tts_text_bos>", "<tts_text_eod>", "<tts_text_bos_single>"]
BASE_SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

OMNI_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'audio' or 'audio' in content %}<|audio_bos|><|AUDIO|><|audio_eos|>"
    "{% elif content['type'] == 'image' or 'image' in content %}<|vision_bos|><|IMAGE|><|vision_eos|>"
    "{% elif content['type'] == 'video' or 'video' in content %}<|vision_bos|><|VIDEO|><|vision_eos|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
VL_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_CORPUS = [
    "Please give feedback on the content and delivery: pronunciation, pace and clarity.",
    "Your pronunciation was clear, but try to slow down a little and pause between sentences.",
    "The quick brown fox jumps over the lazy dog. 0123456789",
    '{"applicant_fields": [{"bbox": [120, 80, 460, 130]}, {"bbox": [120, 200, 880, 260]}], "count": 2}',
    '```json\n{"transcript": "hello world", "feedback": "good"}\n```',
    "この画像は申請書です。申請者が記入する欄を検出してください。職員が記入する欄は除外してください。",
    "氏名、住所、電話番号、生年月日、署名、日付。",
    "You are a helpful assistant.",
    "system user assistant system user assistant",
]


def _train_tokenizer(named_tokens: dict[str, str], chat_template: str):
    """A byte-level BPE tokenizer with Qwen's special tokens, wrapped as the real Qwen2 tokenizer class."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import Qwen2TokenizerFast

    specials = BASE_SPECIAL_TOKENS + list(named_tokens.values()) + TTS_TOKENS
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=640, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    from model_worker import prompts

    corpus = [*_CORPUS, prompts.DETECTOR_SYSTEM_PROMPT, prompts.DETECTOR_USER_PROMPT,
              prompts.OMNI_SPEECH_SYSTEM_PROMPT, prompts.OMNI_FEEDBACK_INSTRUCTION, prompts.OMNI_TRANSCRIPT_INSTRUCTION]
    bpe.train_from_iterator(corpus * 4, trainer=trainer)
    model = json.loads(bpe.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    tokenizer = Qwen2TokenizerFast(
        vocab=model["vocab"], merges=merges, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        unk_token=None, extra_special_tokens={**named_tokens}, model_max_length=32768,
    )
    tokenizer.add_special_tokens({"additional_special_tokens": [*specials]}, replace_extra_special_tokens=False)
    tokenizer.chat_template = chat_template
    return tokenizer


def _vocab_size(tokenizer) -> int:
    return ((len(tokenizer) + 63) // 64) * 64


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False))


def build_tiny_omni(out: Path, dit_max_position_embeddings: int | None = None) -> Path:
    """The tiny Omni checkpoint; `dit_max_position_embeddings` (default: the library's) caps the Token2Wav DiT's
    mel length, so that long answers can be tested without long sequences. The weights do not depend on it."""
    from transformers import (
        Qwen2_5OmniConfig,
        Qwen2_5OmniForConditionalGeneration,
        Qwen2VLImageProcessorPil,
        WhisperFeatureExtractor,
    )

    out.mkdir(parents=True, exist_ok=True)
    tok = _train_tokenizer(OMNI_SPECIAL_TOKENS, OMNI_CHAT_TEMPLATE)
    ids = tok.convert_tokens_to_ids
    vocab = _vocab_size(tok)
    hidden = 64
    thinker = {
        "text_config": {
            "vocab_size": vocab, "hidden_size": hidden, "intermediate_size": 128, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 32768,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]},
            "pad_token_id": ids("<|endoftext|>"), "eos_token_id": ids("<|im_end|>"),
        },
        "audio_config": {
            "num_mel_bins": 128, "encoder_layers": 2, "encoder_attention_heads": 2, "encoder_ffn_dim": 64,
            "d_model": 32, "output_dim": hidden, "n_window": 100, "max_source_positions": 1500,
        },
        "vision_config": {
            "depth": 1, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "out_hidden_size": hidden,
            "fullatt_block_indexes": [0], "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
        },
        "audio_token_index": ids("<|AUDIO|>"), "image_token_index": ids("<|IMAGE|>"),
        "video_token_index": ids("<|VIDEO|>"), "audio_start_token_id": ids("<|audio_bos|>"),
        "audio_end_token_id": ids("<|audio_eos|>"), "vision_start_token_id": ids("<|vision_bos|>"),
        "vision_end_token_id": ids("<|vision_eos|>"), "vision_token_id": ids("<|vision_pad|>"),
        "pad_token_id": ids("<|endoftext|>"), "eos_token_id": ids("<|im_end|>"),
        "user_token_id": tok.encode("user", add_special_tokens=False)[0],
    }
    talker = {
        "vocab_size": 8448, "embedding_size": hidden, "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]},
        "audio_token_index": ids("<|AUDIO|>"), "image_token_index": ids("<|IMAGE|>"),
        "video_token_index": ids("<|VIDEO|>"), "vision_start_token_id": ids("<|vision_bos|>"),
        "vision_end_token_id": ids("<|vision_eos|>"), "audio_start_token_id": ids("<|audio_bos|>"),
        "audio_end_token_id": ids("<|audio_eos|>"),
        "tts_text_start_token_id": ids("<tts_text_bos>"), "tts_text_end_token_id": ids("<tts_text_eod>"),
        "tts_text_pad_token_id": ids("<tts_pad>"),
    }
    token2wav = {
        "dit_config": {
            "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "head_dim": 32, "ff_mult": 2,
            "emb_dim": 32, "num_embeds": 8448, "mel_dim": 80, "block_size": 24, "look_ahead_layers": [1],
            "look_backward_layers": [0], "enc_emb_dim": 32, "enc_dim": 32,
            "enc_channels": [32, 32, 32, 32, 96], "enc_attention_channels": 16, "enc_se_channels": 16,
        },
        "bigvgan_config": {"mel_dim": 80, "upsample_initial_channel": 128},
    }
    if dit_max_position_embeddings is not None:
        token2wav["dit_config"]["max_position_embeddings"] = dit_max_position_embeddings
    config = Qwen2_5OmniConfig(thinker_config=thinker, talker_config=talker, token2wav_config=token2wav)
    torch.manual_seed(0)
    model = Qwen2_5OmniForConditionalGeneration(config).eval()
    model.save_pretrained(out)
    torch.save(
        {
            "Chelsie": {
                "bos_token": ids("<tts_text_bos_single>"),
                "cond": torch.randn(1, 32),
                "ref_mel": torch.randn(1, 48, 80),
            },
            "Ethan": {
                "bos_token": ids("<tts_text_bos_single>"),
                "cond": torch.randn(1, 32),
                "ref_mel": torch.randn(1, 48, 80),
            },
        },
        out / "spk_dict.pt",
    )
    tok.save_pretrained(out)
    # Like the real repository: one preprocessor_config.json for the feature extractor and image processor.
    feature_extractor = WhisperFeatureExtractor(
        feature_size=128, sampling_rate=16000, hop_length=160, chunk_length=300, n_fft=400,
        return_attention_mask=True,
    )
    image_processor = Qwen2VLImageProcessorPil(min_pixels=3136, max_pixels=50176, patch_size=14, merge_size=2)
    preprocessor = {
        **image_processor.to_dict(), **feature_extractor.to_dict(), "processor_class": "Qwen2_5OmniProcessor",
        "image_processor_type": "Qwen2VLImageProcessor", "feature_extractor_type": "WhisperFeatureExtractor",
    }
    preprocessor.pop("mel_filters", None)
    _write_json(out / "preprocessor_config.json", preprocessor)
    (out / "chat_template.jinja").write_text(OMNI_CHAT_TEMPLATE)
    return out


def build_tiny_vl(out: Path) -> Path:
    from transformers import Qwen2VLImageProcessorPil, Qwen3VLConfig, Qwen3VLForConditionalGeneration

    out.mkdir(parents=True, exist_ok=True)
    tok = _train_tokenizer(VL_SPECIAL_TOKENS, VL_CHAT_TEMPLATE)
    ids = tok.convert_tokens_to_ids
    config = Qwen3VLConfig(
        text_config={
            "vocab_size": _vocab_size(tok), "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "max_position_embeddings": 32768,
            "rope_parameters": {"rope_type": "default", "rope_theta": 5000000.0, "mrope_section": [4, 2, 2],
                                "mrope_interleaved": True},
            "pad_token_id": ids("<|endoftext|>"), "eos_token_id": ids("<|im_end|>"),
        },
        vision_config={
            "depth": 1, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "patch_size": 16,
            "spatial_merge_size": 2, "temporal_patch_size": 2, "out_hidden_size": 64,
            "num_position_embeddings": 256, "deepstack_visual_indexes": [0],
        },
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"),
    )
    torch.manual_seed(1)
    model = Qwen3VLForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = ids("<|im_end|>")
    model.generation_config.pad_token_id = ids("<|endoftext|>")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    image_processor = Qwen2VLImageProcessorPil(
        size={"shortest_edge": 4096, "longest_edge": 65536}, patch_size=16, merge_size=2, temporal_patch_size=2,
        image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5],
    )
    preprocessor = {
        **image_processor.to_dict(), "processor_class": "Qwen3VLProcessor",
        "image_processor_type": "Qwen2VLImageProcessor",
    }
    _write_json(out / "preprocessor_config.json", preprocessor)
    (out / "chat_template.jinja").write_text(VL_CHAT_TEMPLATE)
    return out


# What the tiny adapter is trained to answer, in the real adapter's format (0-1000 coordinates).
TINY_ADAPTER_ANSWER = {"applicant_fields": [{"bbox": [186, 155, 643, 244]}, {"bbox": [186, 322, 643, 411]}], "count": 2}


def build_tiny_lora(base: Path, out: Path, steps: int = 150) -> Path:
    """A LoRA adapter shaped like the pdfme detector's (r 16, alpha 32, q/k/v/o_proj), fine-tuned for a few seconds
    so that, like the real one, it answers the adapter's prompts with `TINY_ADAPTER_ANSWER` as JSON. The random base
    model answers noise, so the adapter's effect is visible end to end (boxes or none)."""
    from peft import LoraConfig, get_peft_model
    from PIL import Image
    from transformers import Qwen3VLForConditionalGeneration, Qwen3VLProcessor

    from model_worker.processors import load_processor
    from model_worker.prompts import DETECTOR_SYSTEM_PROMPT, DETECTOR_USER_PROMPT
    from tests.worker.media_samples import form_image

    processor = load_processor(Qwen3VLProcessor, str(base))
    model = Qwen3VLForConditionalGeneration.from_pretrained(base, dtype=torch.float32)
    lora = LoraConfig(
        r=16, lora_alpha=32, lora_dropout=0.05, bias="none", task_type="CAUSAL_LM",
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
    )
    torch.manual_seed(3)
    peft_model = get_peft_model(model, lora)
    answer = json.dumps(TINY_ADAPTER_ANSWER)
    prompt_messages = [
        {"role": "system", "content": DETECTOR_SYSTEM_PROMPT},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": DETECTOR_USER_PROMPT}]},
    ]
    batches = []
    for width, height in [(1024, 658), (800, 600), (600, 800), (1024, 1024), (400, 300)]:
        image = form_image(width, height) if width != 400 else Image.new("RGB", (width, height), "white")
        full = processor.apply_chat_template([*prompt_messages, {"role": "assistant", "content": answer}],
                                             tokenize=False)
        prompt = processor.apply_chat_template(prompt_messages, tokenize=False, add_generation_prompt=True)
        inputs = processor(text=[full], images=[image], return_tensors="pt")
        prompt_length = processor(text=[prompt], images=[image], return_tensors="pt")["input_ids"].shape[1]
        labels = inputs["input_ids"].clone()
        labels[:, :prompt_length] = -100
        inputs["labels"] = labels
        batches.append(inputs)
    optimizer = torch.optim.Adam([p for p in peft_model.parameters() if p.requires_grad], lr=8e-3)
    peft_model.train()
    for step in range(steps):
        peft_model(**batches[step % len(batches)]).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    peft_model.eval()
    peft_model.save_pretrained(out)
    return out


def build_tiny_checkpoints(root: Path | str) -> dict[str, Path]:
    """Build the three tiny checkpoints under `root`; returns {"omni", "vl", "lora"} -> directory."""
    root = Path(root)
    omni = build_tiny_omni(root / "omni")
    vl = build_tiny_vl(root / "vl")
    lora = build_tiny_lora(vl, root / "lora")
    return {"omni": omni, "vl": vl, "lora": lora}


def worker_env(checkpoints: dict[str, Path], **extra: str) -> dict[str, str]:
    """Environment variables that point the worker at tiny checkpoints (CPU, full precision, offline)."""
    env = {
        "OMNI_MODEL": str(checkpoints["omni"]),
        "VL_BASE_MODEL": str(checkpoints["vl"]),
        "VL_LORA_ADAPTER": str(checkpoints["lora"]),
        "DEVICE": "cpu",
        "USE_4BIT": "false",
        "HF_HUB_OFFLINE": "1",
    }
    env.update(extra)
    return env


if __name__ == "__main__":
    import sys

    _repo = Path(__file__).resolve().parents[2]
    sys.path[:0] = [str(_repo), str(_repo / "model-worker")]
    print(build_tiny_checkpoints(sys.argv[1] if len(sys.argv) > 1 else "/tmp/tiny-worker-checkpoints"))
