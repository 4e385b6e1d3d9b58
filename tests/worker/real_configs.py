"""The real-size configurations of the worker's two models, written down from public sources (no hub here), for
tests that build them on the `meta` device: the memory plan's parameter counts, bytes and fit checks.

Only what changes sizes is recorded (widths, depths, heads, vocabularies, patch and merge sizes); token ids and
rope parameters that a meta build does not need are left at the config classes' defaults. Public figures to check
against (PUBLIC_PARAMETERS): the model cards / Hub pages give Qwen2.5-Omni-3B 5.54 B parameters (~5.5 B, of which
the vision tower ~0.67 B) and Qwen3-VL-8B-Instruct 8.77 B (also the "8.77B parameters" of LM Studio's card quoted in
EduardoNicacio/LLMBenchmark qwen3-VL-8b/readme.md); /work/shared/NOTES.md records the same.
"""

from __future__ import annotations

from pathlib import Path

PUBLIC_PARAMETERS = {"omni": 5.54e9, "omni_vision": 0.67e9, "detector": 8.77e9}

# Qwen2.5-Omni-3B thinker text model: the 3B's config.json as copied in the Tyr project
# (Tyr/Model/Qwen25Omni/Config.lean, "Qwen2.5-Omni-3B thinker text defaults (from HF config.json)"): vocab 151936,
# hidden 2048, intermediate 11008, 36 layers, 16 heads, 2 KV heads, head_dim 128, rope_theta 1e6, 32768 positions;
# the same as Qwen2.5-3B's config.json (e.g. huggingface.co/unsloth/Qwen2.5-3B). mrope_section [16, 24, 24] is
# Qwen2.5-Omni's (NVIDIA Megatron-Bridge Qwen25OmniModelProvider docs). Unlike Qwen2.5-3B, the Omni thinker does not
# tie lm_head to the embeddings (Qwen2_5OmniThinkerConfig's default tie_word_embeddings=False; tied, the model would
# count 5.23 B instead of the published 5.54 B).
OMNI_3B_TEXT = {
    "vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 11008, "num_hidden_layers": 36,
    "num_attention_heads": 16, "num_key_value_heads": 2, "max_position_embeddings": 32768,
    "tie_word_embeddings": False,
    "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
}
# The audio encoder (Whisper-large-v3 sized) is the same in the 3B and 7B; its sizes are transformers'
# Qwen2_5OmniAudioEncoderConfig defaults (documented against Qwen/Qwen2.5-Omni-7B), matching the module printout in
# ai-bot-pro/achatbot PR #143 (conv 128 -> 1280, 32 layers, fc1 1280 -> 5120). output_dim is the thinker's width.
OMNI_3B_AUDIO = {
    "num_mel_bins": 128, "d_model": 1280, "encoder_layers": 32, "encoder_attention_heads": 20,
    "encoder_ffn_dim": 5120, "max_source_positions": 1500, "n_window": 100, "output_dim": 2048,
}
# The vision encoder is Qwen2.5-VL's (Qwen2_5OmniVisionEncoderConfig defaults: depth 32, 16 heads, intermediate
# 3420, patch 14, merge 2, window 112, full attention in blocks 7/15/23/31) with a 1280-wide trunk (the checkpoint's
# hidden_size = embed_dim 1280; the class default 3584 is the 7B's out_hidden_size) projecting to the thinker's 2048.
# These give the ~0.67 B of the model card.
OMNI_3B_VISION = {
    "depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16, "out_hidden_size": 2048,
    "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 112,
    "fullatt_block_indexes": [7, 15, 23, 31],
}
# The 3B talker: a Qwen2.5-0.5B-sized decoder (hidden 896, intermediate 4864, 24 layers, 14 heads, 2 KV heads,
# head_dim 64; Qwen2.5-0.5B's config.json, e.g. huggingface.co/osllmai-community/Qwen2.5-0.5B) over the thinker's
# 2048-wide embeddings, with the 8448-code vocabulary. The 7B's talker has the same hidden 896 and 24 layers with
# embedding_size 3584 (the 7B's config.json as copied in huggingface.co/ACE-Step/acestep-captioner). No public copy
# of the 3B's talker block was found here; these sizes are the ones that make the whole model count the published
# 5.54 B (test_plan.py checks that total).
OMNI_3B_TALKER = {
    "vocab_size": 8448, "embedding_size": 2048, "hidden_size": 896, "intermediate_size": 4864,
    "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2, "head_dim": 64,
    "max_position_embeddings": 32768,
}
# Token2Wav (DiT + BigVGAN) is shared by the 3B and the 7B: transformers' Qwen2_5OmniDiTConfig and
# Qwen2_5OmniBigVGANConfig defaults (DiT hidden 1024, 22 layers, 16 heads x 64, ff_mult 2, 8193 code embeddings,
# 80 mel bins; BigVGAN 1536 channels, upsampling 5x3x2x2x2x2 = 240 samples per mel frame), as in alibaba/rtp-llm's
# Qwen2.5-Omni token2wav test config.
OMNI_3B_TOKEN2WAV = {
    "dit_config": {
        "hidden_size": 1024, "num_hidden_layers": 22, "num_attention_heads": 16, "head_dim": 64, "ff_mult": 2,
        "emb_dim": 512, "num_embeds": 8193, "mel_dim": 80, "repeats": 2, "block_size": 24,
        "look_ahead_layers": [10], "look_backward_layers": [0, 20], "enc_emb_dim": 192, "enc_dim": 128,
        "enc_channels": [256, 256, 256, 256, 768], "enc_kernel_sizes": [5, 3, 3, 3, 1],
        "enc_dilations": [1, 2, 3, 4, 1], "enc_attention_channels": 64, "enc_res2net_scale": 2,
        "enc_se_channels": 64,
    },
    "bigvgan_config": {
        "mel_dim": 80, "upsample_initial_channel": 1536, "resblock_kernel_sizes": [3, 7, 11],
        "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "upsample_rates": [5, 3, 2, 2, 2, 2],
        "upsample_kernel_sizes": [11, 7, 4, 4, 4, 4],
    },
}

# Qwen3-VL-8B-Instruct's config.json as copied in NVIDIA/TensorRT-LLM
# tests/unittest/_torch/modeling/test_modeling_qwen3vl.py (QWEN3_VL_8B_CONFIG; it trims the text model to 4 layers
# for speed and notes "36 layers for full model"); the same values, with 36 layers, in HiDream-O1's Swift test
# config and in Cosmos-Reason2-8B's Qwen3-VL config.
QWEN3_VL_8B_TEXT = {
    "vocab_size": 151936, "hidden_size": 4096, "intermediate_size": 12288, "num_hidden_layers": 36,
    "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 262144,
    "attention_bias": False, "tie_word_embeddings": False,
    "rope_parameters": {"rope_type": "default", "rope_theta": 5000000, "mrope_section": [24, 20, 20],
                        "mrope_interleaved": True},
}
QWEN3_VL_8B_VISION = {
    "depth": 27, "hidden_size": 1152, "intermediate_size": 4304, "num_heads": 16, "out_hidden_size": 4096,
    "patch_size": 16, "spatial_merge_size": 2, "temporal_patch_size": 2, "num_position_embeddings": 2304,
    "deepstack_visual_indexes": [8, 16, 24], "in_channels": 3,
}
# The pdfme form-field LoRA (JapanMarketing-Dev/pdfme-fineturning, see NOTES.md): r 16, alpha 32, q/k/v/o_proj.
PDFME_LORA = {"r": 16, "lora_alpha": 32, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}


def omni_3b_config():
    from transformers import Qwen2_5OmniConfig

    thinker = {"text_config": OMNI_3B_TEXT, "audio_config": OMNI_3B_AUDIO, "vision_config": OMNI_3B_VISION}
    return Qwen2_5OmniConfig(thinker_config=thinker, talker_config=OMNI_3B_TALKER, token2wav_config=OMNI_3B_TOKEN2WAV)


def qwen3_vl_8b_config():
    from transformers import Qwen3VLConfig

    return Qwen3VLConfig(text_config=QWEN3_VL_8B_TEXT, vision_config=QWEN3_VL_8B_VISION, tie_word_embeddings=False)


def pdfme_lora_config():
    from peft import LoraConfig

    return LoraConfig(task_type="CAUSAL_LM", **PDFME_LORA)


def save_real_configs(root: Path | str) -> dict[str, Path]:
    """config.json of both models and adapter_config.json of the LoRA under `root`, laid out like the hub
    repositories (no weights): point OMNI_MODEL, VL_BASE_MODEL and VL_LORA_ADAPTER at them."""
    root = Path(root)
    paths = {"omni": root / "omni", "vl": root / "vl", "lora": root / "lora"}
    omni_3b_config().save_pretrained(paths["omni"])
    qwen3_vl_8b_config().save_pretrained(paths["vl"])
    pdfme_lora_config().save_pretrained(paths["lora"])
    return paths
