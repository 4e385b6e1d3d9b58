"""A tiny random-weight Moshi checkpoint, built from small configs and saved the way Kyutai's repositories are:
`config.json` (the LM's settings + file names), `model.safetensors` (the LM), a Mimi safetensors file with its own
`mimi_config.json`, and a SentencePiece text tokenizer trained here offline on a few Japanese and English lines
(J-Moshi's is rinna's Japanese 32k SentencePiece model). The service loads it with the real `moshi` loaders.

    from tests.realtime.tiny_moshi import build_tiny_moshi
    directory = build_tiny_moshi(tmp_path / "moshi")     # MOSHI_MODEL_DIR=directory

Built deterministically (fixed seed); about 2 MB; a few seconds on CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

CORPUS = [
    "こんにちは 今日は いい 天気 ですね",
    "はい そうですね ありがとう ございます",
    "どこへ 行きますか 駅まで 歩きます",
    "hello how are you today",
    "yes I think so thank you",
]
MIMI_DIM = 32
LM_OVERRIDES = {
    "dim": 64, "n_q": 16, "dep_q": 8, "card": 64, "num_heads": 4, "num_layers": 2, "hidden_scale": 2.0,
    "context": 100, "depformer_dim": 32, "depformer_dim_feedforward": 64, "depformer_num_heads": 2,
    "depformer_num_layers": 1, "depformer_context": 8,
}


def tiny_mimi_config() -> dict:
    from moshi.models import loaders

    config = json.loads(json.dumps(loaders._mimi_config))
    config["seanet"].update(dimension=MIMI_DIM, n_filters=4)
    config["quantizer"].update(dimension=16, n_q=8, bins=LM_OVERRIDES["card"], input_dimension=MIMI_DIM,
                               output_dimension=MIMI_DIM)
    config["transformer"].update(d_model=MIMI_DIM, num_heads=2, num_layers=1, dim_feedforward=64,
                                 input_dimension=MIMI_DIM, output_dimensions=[MIMI_DIM])
    return config


def _train_tokenizer(directory: Path) -> int:
    import sentencepiece as spm

    corpus = directory / "corpus.txt"
    corpus.write_text("\n".join(CORPUS * 40), encoding="utf-8")
    # Moshi's text stream uses id 3 as padding and 0 as end-of-padding: the same ids as J-Moshi's tokenizer.
    spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(directory / "tokenizer"), vocab_size=64,
                                   model_type="unigram", character_coverage=1.0, unk_id=0, bos_id=1, eos_id=2,
                                   pad_id=3, hard_vocab_limit=False, minloglevel=2, num_threads=1)
    corpus.unlink()
    (directory / "tokenizer.vocab").unlink()
    return spm.SentencePieceProcessor(str(directory / "tokenizer.model")).vocab_size()


def build_tiny_moshi(directory: Path) -> Path:
    """Write the tiny checkpoint into `directory` (kept when already complete) and return it."""
    import torch
    from moshi.models import loaders
    from safetensors.torch import save_file

    directory = Path(directory)
    if (directory / "config.json").is_file():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    vocab = _train_tokenizer(directory)
    lm_config = {**loaders._lm_kwargs, **LM_OVERRIDES, "text_card": vocab}
    mimi_config = tiny_mimi_config()
    torch.manual_seed(1234)
    mimi = loaders.get_mimi(None, mimi_config, device="cpu", num_codebooks=LM_OVERRIDES["dep_q"])
    save_file({k: v.contiguous() for k, v in mimi.state_dict().items()}, directory / "mimi.safetensors")
    lm = loaders.get_moshi_lm(None, lm_kwargs=lm_config, device="cpu", dtype=torch.float32)
    # As released checkpoints are: bf16 on disk (the loader casts to the DTYPE asked for).
    save_file({k: v.to(torch.bfloat16).contiguous() for k, v in lm.state_dict().items()},
              directory / "model.safetensors")
    (directory / "mimi_config.json").write_text(json.dumps(mimi_config, indent=1))
    config = {**lm_config, "moshi_name": "model.safetensors", "mimi_name": "mimi.safetensors",
              "tokenizer_name": "tokenizer.model", "mimi_config_name": "mimi_config.json", "model_type": "moshi"}
    (directory / "config.json.tmp").write_text(json.dumps(config, indent=1))
    (directory / "config.json.tmp").rename(directory / "config.json")  # last: a complete checkpoint has one
    return directory


def to_moshi_0_2_2_layout(state: dict) -> dict:
    """`state` with its attention projections in the layout moshi <= 0.2.2 saved them (one stacked `in_proj_weight`
    and `out_proj.weight` per attention, the depformer's steps concatenated): the layout of J-Moshi's
    `model.safetensors`, which its README says to run with `moshi<=0.2.2`."""
    import re

    import torch

    grouped: dict[tuple[str, str], dict[int, object]] = {}
    out = {}
    for key, value in state.items():
        match = re.fullmatch(r"(.*\.)(in_projs|out_projs)\.(\d+)\.weight", key)
        if match:
            grouped.setdefault((match.group(1), match.group(2)), {})[int(match.group(3))] = value
        else:
            out[key] = value
    for (prefix, kind), parts in grouped.items():
        name = "in_proj_weight" if kind == "in_projs" else "out_proj.weight"
        out[prefix + name] = torch.cat([parts[i] for i in sorted(parts)], dim=0).contiguous()
    return out
