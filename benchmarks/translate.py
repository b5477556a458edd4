"""``livebridge bench translate``: translation throughput and latency against batch size and
concurrency, with a model of the exact opus-mt-en-zh architecture and random weights.

The model is ``MarianMTModel(MarianConfig(...))`` with the real checkpoint's numbers
(d_model 512, 6+6 layers, 8 heads, FFN 2048, vocabulary 65,001, shared embeddings), so each
step costs what the real model's costs; the weights are random, so output length is fixed by
forcing ``min_new_tokens == max_new_tokens``. Inputs are random token ids of a fixed length
(tokenizing is not measured: it is microseconds beside a generate() call).

Measured in one run:

- **naive**: ``generate()`` once per message with the model's default beam size (4);
- **per-message greedy**: the same with one beam, to separate what beams cost from what
  batching gains;
- **direct batches**: ``generate()`` on batches of 1..N messages (the server's beam size);
- **batcher** (when the caller passes one: ``chatserver/cli_bench.py`` wires in
  ``translator.batcher.Batcher``, since this package may not import the translator itself):
  C concurrent requests in a closed loop through the batcher, per-request latency.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.sysinfo import machine

# opus-mt-en-zh's config.json (Helsinki-NLP/opus-mt-en-zh), the numbers that set the cost.
OPUS_MT_EN_ZH = dict(
    vocab_size=65001, d_model=512, encoder_layers=6, decoder_layers=6,
    encoder_attention_heads=8, decoder_attention_heads=8, encoder_ffn_dim=2048,
    decoder_ffn_dim=2048, max_position_embeddings=512, activation_function="swish",
    scale_embedding=True, static_position_embeddings=True, share_encoder_decoder_embeddings=True,
    pad_token_id=65000, eos_token_id=0, decoder_start_token_id=65000, bos_token_id=0,
)
TINY = dict(OPUS_MT_EN_ZH, vocab_size=1001, d_model=32, encoder_layers=1, decoder_layers=1,
            encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
            decoder_ffn_dim=64, pad_token_id=1000, decoder_start_token_id=1000)


@dataclass
class TranslateConfig:
    batch_sizes: list[int] = field(default_factory=lambda: [1, 4, 8, 16, 32])
    concurrency: list[int] = field(default_factory=lambda: [1, 8, 32, 64])
    messages: int = 64  # per batched / batcher measurement
    naive_messages: int = 8
    input_tokens: int = 16
    output_tokens: int = 16
    naive_beams: int = 4  # opus-mt-en-zh's generation_config num_beams
    beams: int = 1  # the server's default (translation_beam_size)
    threads: int = 0  # torch threads (0: leave torch's default)
    tiny: bool = False
    time_limit: float = 60.0  # seconds per measurement at most
    seed: int = 1234


class Model:
    """The random-weight Marian model and fixed-length generation."""

    def __init__(self, cfg: TranslateConfig) -> None:
        import torch
        from transformers import MarianConfig, MarianMTModel

        torch.manual_seed(cfg.seed)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.cfg = cfg
        self.config = MarianConfig(**(TINY if cfg.tiny else OPUS_MT_EN_ZH))
        self.model = MarianMTModel(self.config).eval()
        self.params = sum(p.numel() for p in self.model.parameters())
        self.torch = torch

    def ids_for(self, text: str) -> list[int]:
        """A fixed-length token id sequence standing for ``text`` (deterministic)."""
        n = self.cfg.input_tokens
        vocab = self.config.vocab_size - 1
        digest = hashlib.blake2b(text.encode(), digest_size=2 * n).digest()
        ids = [1 + int.from_bytes(digest[2 * i:2 * i + 2], "little") % (vocab - 1) for i in range(n - 1)]
        return ids + [self.config.eos_token_id]

    def generate(self, batch_ids: list[list[int]], beams: int) -> list[list[int]]:
        torch = self.torch
        input_ids = torch.tensor(batch_ids, dtype=torch.long)
        n = self.cfg.output_tokens
        with torch.inference_mode():
            out = self.model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                                      num_beams=beams, do_sample=False, min_new_tokens=n,
                                      max_new_tokens=n, early_stopping=False)
        return out.tolist()

    def batch_fn(self, texts: list[str], source: str, target: str) -> list[str]:
        """What a backend's ``translate_batch`` does, with ids for tokens (the batcher's fn)."""
        out = self.generate([self.ids_for(t) for t in texts], self.cfg.beams)
        return [" ".join(map(str, row)) for row in out]


def _stats(latencies: list[float], messages: int, seconds: float) -> dict[str, Any]:
    lat = sorted(latencies)

    def pct(p: float) -> float | None:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1) if lat else None

    return {"messages": messages, "seconds": round(seconds, 3),
            "msgs_per_s": round(messages / seconds, 3) if seconds > 0 else None,
            "p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": round(lat[-1] * 1000, 1) if lat else None}


def _texts(n: int, offset: int = 0) -> list[str]:
    return [f"message {offset + i}: are we still meeting at three?" for i in range(n)]


def measure_per_message(model: Model, cfg: TranslateConfig, beams: int, n: int) -> dict[str, Any]:
    model.generate([model.ids_for("warm up")], beams)
    latencies = []
    t0 = time.perf_counter()
    done = 0
    for text in _texts(n):
        t = time.perf_counter()
        model.generate([model.ids_for(text)], beams)
        latencies.append(time.perf_counter() - t)
        done += 1
        if time.perf_counter() - t0 > cfg.time_limit:
            break
    return {"beams": beams, "batch": 1, **_stats(latencies, done, time.perf_counter() - t0)}


def measure_batches(model: Model, cfg: TranslateConfig, batch: int) -> dict[str, Any]:
    model.generate([model.ids_for("warm up")] * batch, cfg.beams)
    latencies = []
    done = 0
    t0 = time.perf_counter()
    while done < max(cfg.messages, batch):
        texts = _texts(batch, done)
        t = time.perf_counter()
        model.generate([model.ids_for(x) for x in texts], cfg.beams)
        latencies.append(time.perf_counter() - t)
        done += batch
        if time.perf_counter() - t0 > cfg.time_limit:
            break
    return {"beams": cfg.beams, "batch": batch, **_stats(latencies, done, time.perf_counter() - t0)}


async def _through_batcher(submit, cfg: TranslateConfig, concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    counter = iter(range(10**9))
    deadline = time.perf_counter() + cfg.time_limit
    total = max(cfg.messages, concurrency)

    async def client() -> None:
        while True:
            i = next(counter)
            if i >= total or time.perf_counter() > deadline:
                return
            t = time.perf_counter()
            await submit(f"message {i}: are we still meeting at three?", "en", "zh")
            latencies.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return {"concurrency": concurrency, **_stats(latencies, len(latencies), time.perf_counter() - t0)}


def measure_batcher(model: Model, cfg: TranslateConfig, make_batcher, concurrency: int) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        batcher = make_batcher(model.batch_fn, max(cfg.batch_sizes))
        try:
            await batcher.submit("warm up", "en", "zh")
            before = getattr(batcher, "batches", None)
            result = await _through_batcher(batcher.submit, cfg, concurrency)
            if before is not None:
                calls = batcher.batches - before
                result["batches"] = calls
                result["mean_batch"] = round(result["messages"] / calls, 2) if calls else None
            return result
        finally:
            await batcher.close()

    return asyncio.run(run())


def run_translate(cfg: TranslateConfig, make_batcher: Callable | None = None,
                  batcher_name: str | None = None, progress: Callable[[str], None] = print) -> dict[str, Any]:
    import torch

    model = Model(cfg)
    report: dict[str, Any] = {
        "kind": "translate", "config": asdict(cfg), "machine": machine(),
        "model": {"architecture": "MarianMTModel (opus-mt-en-zh shape)" if not cfg.tiny else "tiny Marian",
                  "parameters": model.params, "config": TINY if cfg.tiny else OPUS_MT_EN_ZH,
                  "weights": "random (seeded)", "torch_threads": torch.get_num_threads(),
                  "torch": torch.__version__},
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    progress(f"naive: generate() per message, {cfg.naive_beams} beams")
    report["naive"] = measure_per_message(model, cfg, cfg.naive_beams, cfg.naive_messages)
    progress("per-message greedy")
    report["per_message_greedy"] = measure_per_message(model, cfg, cfg.beams, cfg.naive_messages)
    report["batches"] = []
    for b in cfg.batch_sizes:
        progress(f"direct batch {b}")
        report["batches"].append(measure_batches(model, cfg, b))
    report["batcher"] = []
    report["batcher_impl"] = batcher_name
    if make_batcher is None:
        report["batcher_note"] = "no batcher given (translator.batcher not importable): direct batches only"
    else:
        for c in cfg.concurrency:
            progress(f"batcher, {c} concurrent requests")
            report["batcher"].append(measure_batcher(model, cfg, make_batcher, c))
    naive = report["naive"]["msgs_per_s"] or 0
    best_direct = max((r["msgs_per_s"] or 0 for r in report["batches"]), default=0)
    best_batcher = max((r["msgs_per_s"] or 0 for r in report["batcher"]), default=0)
    report["summary"] = {
        "naive_msgs_per_s": naive,
        "best_direct_batch_msgs_per_s": best_direct,
        "best_batcher_msgs_per_s": best_batcher or None,
        "direct_over_naive": round(best_direct / naive, 2) if naive else None,
        "batcher_over_naive": round(best_batcher / naive, 2) if naive and best_batcher else None,
        "beams_factor": round((report["per_message_greedy"]["msgs_per_s"] or 0) / naive, 2) if naive else None,
    }
    return report


def markdown(report: dict[str, Any]) -> str:
    cfg = report["config"]
    m = report["machine"]
    s = report["summary"]
    lines = [
        "# Translation benchmark", "",
        f"{report['started_at']} on {m['cpu']} ({m['usable_cores']} cores), torch {report['model']['torch']} "
        f"with {report['model']['torch_threads']} threads.", "",
        f"Model: {report['model']['architecture']}, {report['model']['parameters']:,} parameters, random weights; "
        f"{cfg['input_tokens']} input tokens, exactly {cfg['output_tokens']} output tokens per message.", "",
        "## Summary", "",
        f"- naive (generate() per message, {cfg['naive_beams']} beams): **{s['naive_msgs_per_s']} msg/s**",
        f"- best direct batch ({cfg['beams']} beam): {s['best_direct_batch_msgs_per_s']} msg/s "
        f"= **{s['direct_over_naive']}x** naive",
        f"- best through the batcher ({report.get('batcher_impl') or 'none'}): {s['best_batcher_msgs_per_s']} msg/s "
        f"= **{s['batcher_over_naive']}x** naive",
        f"- of which beams alone (per-message greedy / naive): {s['beams_factor']}x", "",
        "## Per message", "", "| beams | msg/s | p50 ms | p99 ms |", "|---|---|---|---|",
    ]
    for key in ("naive", "per_message_greedy"):
        r = report[key]
        lines.append(f"| {r['beams']} | {r['msgs_per_s']} | {r['p50_ms']} | {r['p99_ms']} |")
    lines += ["", "## Direct batches", "", "| batch | msg/s | batch latency p50 ms | p99 ms |", "|---|---|---|---|"]
    for r in report["batches"]:
        lines.append(f"| {r['batch']} | {r['msgs_per_s']} | {r['p50_ms']} | {r['p99_ms']} |")
    if report["batcher"]:
        lines += ["", "## Through the batcher (closed loop)", "",
                  "| concurrency | msg/s | mean batch | request p50 ms | p99 ms |", "|---|---|---|---|---|"]
        for r in report["batcher"]:
            lines.append(f"| {r['concurrency']} | {r['msgs_per_s']} | {r.get('mean_batch', '-')} | "
                         f"{r['p50_ms']} | {r['p99_ms']} |")
    elif report.get("batcher_note"):
        lines += ["", f"Batcher: {report['batcher_note']}"]
    return "\n".join(lines) + "\n"


def plots(report: dict[str, Any], out_dir: Path, name: str) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
    b = report["batches"]
    ax1.plot([r["batch"] for r in b], [r["msgs_per_s"] for r in b], "o-", label="direct batch")
    if report["batcher"]:
        c = report["batcher"]
        ax1.plot([r["concurrency"] for r in c], [r["msgs_per_s"] for r in c], "s-", label="batcher (x = concurrency)")
        ax2.plot([r["concurrency"] for r in c], [r["p99_ms"] for r in c], "s-", label="batcher p99")
        ax2.plot([r["concurrency"] for r in c], [r["p50_ms"] for r in c], "s--", label="batcher p50")
    ax2.plot([r["batch"] for r in b], [r["p50_ms"] for r in b], "o-", label="direct batch latency")
    ax1.axhline(report["naive"]["msgs_per_s"], color="r", ls="--", label="naive (per message, 4 beams)")
    ax1.set_xlabel("batch size / concurrency")
    ax1.set_ylabel("messages/s")
    ax2.set_xlabel("batch size / concurrency")
    ax2.set_ylabel("latency (ms)")
    for ax in (ax1, ax2):
        ax.set_xscale("log", base=2)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = out_dir / f"{name}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return {"png": path}
