"""``livebridge translate-worker`` and ``livebridge models ...``: translation from the command line."""

from __future__ import annotations

import argparse
import sys


def register(commands) -> None:
    worker = commands.add_parser("translate-worker", help="translate jobs from a Redis stream (workers mode)")
    worker.add_argument("--redis-url", required=True)
    worker.add_argument("--backend", choices=["transformers", "ctranslate2"], default="transformers")
    worker.add_argument("--model-en-zh", default="Helsinki-NLP/opus-mt-en-zh")
    worker.add_argument("--model-zh-en", default="Helsinki-NLP/opus-mt-zh-en")
    worker.add_argument("--model-cache-dir")
    worker.add_argument("--beam-size", type=int, default=1)
    worker.add_argument("--name", help="consumer name (default: host and pid)")
    worker.set_defaults(run=_worker)

    models = commands.add_parser("models", help="download or convert translation models")
    sub = models.add_subparsers(dest="models_command", required=True)
    download = sub.add_parser("download", help="fetch the opus-mt models ahead of first use")
    download.add_argument("--model", action="append", help="model id (default: both Helsinki-NLP models)")
    download.add_argument("--model-cache-dir")
    download.set_defaults(run=_download)
    convert = sub.add_parser("convert", help="convert a model to CTranslate2 int8")
    convert.add_argument("model", help="model id or directory")
    convert.add_argument("out_dir")
    convert.set_defaults(run=_convert)


def _worker(args: argparse.Namespace) -> int:
    from translator.service import TranslatorConfig
    from translator.worker import run_worker_blocking

    config = TranslatorConfig(mode="inline", backend=args.backend, model_en_zh=args.model_en_zh,
                              model_zh_en=args.model_zh_en, cache_dir=args.model_cache_dir,
                              beam_size=args.beam_size, redis_url=args.redis_url)
    return run_worker_blocking(args.redis_url, config, consumer=args.name)


def _download(args: argparse.Namespace) -> int:
    from translator.backends import ModelUnavailable, download_models

    try:
        for model, path in download_models(args.model, cache_dir=args.model_cache_dir).items():
            print(f"{model}: {path}")
    except ModelUnavailable as exc:
        print(f"livebridge models download: {exc}", file=sys.stderr)
        return 1
    return 0


def _convert(args: argparse.Namespace) -> int:
    from translator.backends import ModelUnavailable, convert_model

    try:
        print(convert_model(args.model, args.out_dir))
    except ModelUnavailable as exc:
        print(f"livebridge models convert: {exc}", file=sys.stderr)
        return 1
    return 0
