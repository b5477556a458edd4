"""A MarianMT checkpoint of the full opus-mt-en-zh architecture with random weights, built
offline, for ``livebridge bench translate --scenario mixed --full-size``.

Promise: ``build_random_marian(tokenizer_dir, out_dir)`` writes a directory that
``MarianTokenizer`` / ``MarianMTModel.from_pretrained`` and the CTranslate2 converter load
like a Helsinki-NLP checkpoint: the real model's numbers (d_model 512, 6+6 layers, 8 heads,
FFN 2048, a 65,001-token shared vocabulary; ``benchmarks.translate.OPUS_MT_EN_ZH``), seeded
random weights, and the tokenizer of ``tokenizer_dir`` (a small Marian model's sentencepiece
files, e.g. the tiny test models') with its vocabulary padded to 65,001 entries (``<pad>``
last, as in opus-mt), so every step costs what the real model's steps cost.

What it says nothing about: output quality, and output length. Random weights almost never
pick ``</s>``, so every output runs to the server's length budget (2 x input tokens + 10):
pessimistic against real translations (about 1-1.5 x the input). Built once per
(tokenizer, seed) and cached; about 300 MB on disk, never in git.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from benchmarks.translate import OPUS_MT_EN_ZH

VOCAB = OPUS_MT_EN_ZH["vocab_size"]
TOKENIZER_FILES = ("source.spm", "target.spm", "special_tokens_map.json", "tokenizer_config.json")


def build_random_marian(tokenizer_dir: str | Path, out_dir: str | Path, seed: int = 1234) -> Path:
    """Write (once) the full-size random-weight checkpoint; returns ``out_dir``."""
    import torch
    from transformers import MarianConfig, MarianMTModel

    src, out = Path(tokenizer_dir), Path(out_dir)
    if (out / "config.json").exists():
        return out
    vocab = json.loads((src / "vocab.json").read_text(encoding="utf-8"))
    pad_old = vocab.pop("<pad>")
    if max(vocab.values()) >= VOCAB - 1:
        raise ValueError(f"{src} has a vocabulary of {len(vocab) + 1}, not smaller than {VOCAB}")
    used = set(vocab.values())
    # Fillers are never produced by the tokenizer; the model (random) may emit them.
    vocab.update({f"▁x{i}": i for i in range(VOCAB - 1) if i not in used})
    vocab["<pad>"] = VOCAB - 1
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".tmp-", dir=out.parent))
    try:
        for name in TOKENIZER_FILES:
            if (src / name).exists():
                shutil.copy(src / name, tmp / name)
        (tmp / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        tc = tmp / "tokenizer_config.json"
        if tc.exists():  # the pad token's id moved to the end
            conf = json.loads(tc.read_text(encoding="utf-8"))
            added = conf.get("added_tokens_decoder", {})
            if str(pad_old) in added:
                added[str(VOCAB - 1)] = added.pop(str(pad_old))
            tc.write_text(json.dumps(conf, ensure_ascii=False, indent=2), encoding="utf-8")
        torch.manual_seed(seed)
        config = MarianConfig(**{**OPUS_MT_EN_ZH, "pad_token_id": VOCAB - 1, "decoder_start_token_id": VOCAB - 1,
                                 "eos_token_id": 0, "forced_eos_token_id": 0, "bos_token_id": None,
                                 "decoder_vocab_size": VOCAB})
        MarianMTModel(config).eval().save_pretrained(str(tmp))
        if out.exists():
            shutil.rmtree(out)
        os.rename(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def cached_random_marian(tokenizer_dir: str | Path, cache_root: str | Path, seed: int = 1234) -> Path:
    """``build_random_marian`` into ``cache_root/<hash of tokenizer and seed>/<name>``."""
    src = Path(tokenizer_dir)
    h = hashlib.sha256(f"{seed}".encode())
    for name in ("vocab.json", "source.spm", "target.spm"):
        h.update((src / name).read_bytes())
    return build_random_marian(src, Path(cache_root) / h.hexdigest()[:16] / f"opus-mt-size-{src.name}", seed)
