"""The model-worker: Qwen2.5-Omni (spoken feedback, chat) and a Qwen3-VL + LoRA form-field detector over HTTP."""
