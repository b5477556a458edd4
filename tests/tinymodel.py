"""Build a tiny, real MarianMT model pair (en-zh, zh-en) offline, for tests of every package.

Promise: ``ensure_tiny_models()`` returns ``{"en-zh": Path, "zh-en": Path}``, two directories
that ``MarianMTModel.from_pretrained`` / ``MarianTokenizer.from_pretrained`` load exactly like a
Helsinki-NLP opus-mt checkpoint (source.spm, target.spm, vocab.json, config.json,
generation_config.json, weights).  The models are trained for a few seconds on
``tests/data/phrasebook.tsv`` so they reproduce its phrases ("hello" -> "你好", "谢谢" ->
"thank you" or "thanks"); anything else comes out as plausible-looking nonsense.

The en-zh model, like opus-mt-en-zh, is multi-target: its vocab holds ``>>cmn_Hans<<`` and it
was trained with that tag in front of every source sentence.

Built once and cached outside git in ``~/.cache/livebridge/tiny-marian/<hash>/`` (the hash
covers this file and the phrasebook; ``LIVEBRIDGE_TINY_MODEL_CACHE`` overrides the root).
Concurrent builders are serialised by a file lock, and a build is written to a temporary
directory and renamed into place, so a reader never sees a half-written model.

Run ``python -m tests.tinymodel`` to build (if needed) and print the paths.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PHRASEBOOK = HERE / "data" / "phrasebook.tsv"
ZH_TAG = ">>cmn_Hans<<"
PAIRS = ("en-zh", "zh-en")

# Training settings.  Small enough to train both directions in well under a minute on 2 cores,
# large enough to memorise a few hundred short phrases.
D_MODEL = 64
LAYERS = 2
HEADS = 4
FFN = 256
BATCH = 64
MAX_STEPS = 700
TARGET_LOSS = 0.05  # mean token cross-entropy at which training stops early
SEED = 1234
LR = 3e-3


def load_phrasebook(path: Path = PHRASEBOOK) -> list[tuple[str, str]]:
    """(english, chinese) pairs from the shipped phrasebook; '#' lines are comments."""
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        en, zh = line.split("\t")
        pairs.append((en.strip(), zh.strip()))
    return pairs


def cache_root() -> Path:
    env = os.environ.get("LIVEBRIDGE_TINY_MODEL_CACHE")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "livebridge" / "tiny-marian"


def build_hash() -> str:
    h = hashlib.sha256()
    h.update(Path(__file__).read_bytes())
    h.update(PHRASEBOOK.read_bytes())
    return h.hexdigest()[:16]


def ensure_tiny_models(root: Path | None = None) -> dict[str, Path]:
    """Return {"en-zh": dir, "zh-en": dir}, building and caching them on first call."""
    root = Path(root) if root else cache_root()
    root.mkdir(parents=True, exist_ok=True)
    final = root / build_hash()
    paths = {pair: final / pair for pair in PAIRS}
    if (final / "DONE").exists():
        return paths
    with open(root / (final.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second builder waits here, then finds DONE
        if (final / "DONE").exists():
            return paths
        tmp = Path(tempfile.mkdtemp(prefix=final.name + ".tmp-", dir=root))
        try:
            timings = {}
            for pair in PAIRS:
                t0 = time.perf_counter()
                _build_pair(pair, tmp / pair)
                timings[pair] = round(time.perf_counter() - t0, 2)
            (tmp / "build.json").write_text(json.dumps({"seconds": timings}))
            (tmp / "DONE").write_text("ok\n")
            if final.exists():  # stale leftover of a crashed build without DONE
                shutil.rmtree(final)
            os.rename(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return paths


def _train_spm(lines: list[str], prefix: Path, vocab_size: int) -> None:
    import sentencepiece as spm

    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_prefix=str(prefix),
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        character_coverage=1.0,
        model_type="unigram",
        bos_id=-1,
        eos_id=-1,
        unk_id=0,
        minloglevel=2,
        num_threads=2,
    )


def _build_pair(pair: str, out: Path) -> None:
    import sentencepiece as spm
    import torch
    from transformers import GenerationConfig, MarianConfig, MarianMTModel, MarianTokenizer

    torch.set_num_threads(2)
    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    out.mkdir(parents=True)
    book = load_phrasebook()
    src_lang, tgt_lang = pair.split("-")
    src = [en if src_lang == "en" else zh for en, zh in book]
    tgt = [zh if src_lang == "en" else en for en, zh in book]

    _train_spm(src, out / "source", 400)
    _train_spm(tgt, out / "target", 400)
    for name in ("source", "target"):
        (out / f"{name}.model").rename(out / f"{name}.spm")
        (out / f"{name}.vocab").unlink()

    # One joint vocab, as in the opus-mt checkpoints: </s>=0, <unk>=1, [tag], pieces..., <pad>=last.
    vocab: dict[str, int] = {"</s>": 0, "<unk>": 1}
    if tgt_lang == "zh":
        vocab[ZH_TAG] = len(vocab)
    for name in ("source", "target"):
        sp = spm.SentencePieceProcessor(model_file=str(out / f"{name}.spm"))
        for i in range(sp.get_piece_size()):
            piece = sp.id_to_piece(i)
            if not sp.is_control(i) and not sp.is_unknown(i) and piece not in vocab:
                vocab[piece] = len(vocab)
    vocab["<pad>"] = len(vocab)
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False, indent=0), encoding="utf-8")
    pad = vocab["<pad>"]

    tokenizer_config = {
        "source_lang": src_lang,
        "target_lang": tgt_lang,
        "model_max_length": 64,
        "separate_vocabs": False,
        "tokenizer_class": "MarianTokenizer",
    }
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    (out / "special_tokens_map.json").write_text(
        json.dumps({"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"})
    )
    tok = MarianTokenizer.from_pretrained(str(out))

    config = MarianConfig(
        vocab_size=len(vocab),
        decoder_vocab_size=len(vocab),
        d_model=D_MODEL,
        encoder_layers=LAYERS,
        decoder_layers=LAYERS,
        encoder_attention_heads=HEADS,
        decoder_attention_heads=HEADS,
        encoder_ffn_dim=FFN,
        decoder_ffn_dim=FFN,
        max_position_embeddings=64,
        pad_token_id=pad,
        eos_token_id=0,
        decoder_start_token_id=pad,
        forced_eos_token_id=0,
        dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        activation_function="swish",
        scale_embedding=True,
        share_encoder_decoder_embeddings=True,
        tie_word_embeddings=True,
    )
    model = MarianMTModel(config)
    shared = model.get_input_embeddings()

    tag = (ZH_TAG + " ") if tgt_lang == "zh" else ""
    enc = tok([tag + s for s in src], text_target=tgt, padding=True, return_tensors="pt")
    labels = enc["labels"].masked_fill(enc["labels"] == pad, -100)
    n = len(src)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 30))
    model.train()
    order: list[int] = []
    ema = None
    for step in range(MAX_STEPS):
        if len(order) < BATCH:
            order = list(range(n))
            rng.shuffle(order)
        idx = torch.tensor(order[:BATCH])
        order = order[BATCH:]
        loss = model(
            input_ids=enc["input_ids"][idx],
            attention_mask=enc["attention_mask"][idx],
            labels=labels[idx],
        ).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        with torch.no_grad():
            # Tied embeddings: a non-zero <pad> row shifts every first decoder step, which
            # CTranslate2 (it embeds the start token without a padding mask) turns into a
            # lost first word.
            shared.weight[pad].zero_()
        ema = loss.item() if ema is None else 0.9 * ema + 0.1 * loss.item()
        if step > 100 and ema < TARGET_LOSS:
            break
    model.eval()
    model.generation_config = GenerationConfig(
        decoder_start_token_id=pad,
        eos_token_id=0,
        pad_token_id=pad,
        forced_eos_token_id=0,
        bad_words_ids=[[pad]],
        max_length=64,
        num_beams=1,
    )
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    (out / "train.json").write_text(json.dumps({"steps": step + 1, "loss_ema": ema}))


def main() -> int:
    t0 = time.perf_counter()
    paths = ensure_tiny_models()
    for pair, path in paths.items():
        print(f"{pair}\t{path}")
    print(f"# ready in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
