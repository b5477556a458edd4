"""``livebridge translate-worker`` and ``livebridge models ...``: translation from the command line.

The worker's translation options are the server's (``--translation-max-batch`` ...,
``--translation-backend``, ``--model-en-zh``, ...) and read the same ``LIVEBRIDGE_*``
variables, so one environment configures the nodes and their workers alike; the command line
wins over the environment, which wins over the default (:mod:`chatserver.config`).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import get_type_hints

from chatserver import config

# Settings fields a worker takes, with the short spellings it accepted before.
WORKER_SETTINGS = {
    "translation_backend": ["--backend"],
    "model_en_zh": [],
    "model_zh_en": [],
    "model_cache_dir": [],
    "translation_beam_size": ["--beam-size"],
    "translation_deadline": [],
    "translation_max_batch": [],
    "translation_max_wait_ms": [],
    "translation_max_backlog": [],
    "translation_max_deadline": [],
    "translation_long_chars": [],
    "translation_slots": [],
    "translation_bulk_batch": [],
    "translation_threads": [],
    "translation_cache_size": [],
}


def register(commands) -> None:
    worker = commands.add_parser("translate-worker", help="translate jobs from a Redis stream (workers mode)")
    worker.add_argument("--redis-url", help="the Redis the nodes use [env LIVEBRIDGE_REDIS_URL; required]")
    fields = {f.name: f for f in dataclasses.fields(config.Settings)}
    hints = get_type_hints(config.Settings)
    for name, aliases in WORKER_SETTINGS.items():
        f = fields[name]
        worker.add_argument("--" + name.replace("_", "-"), *aliases, dest=name, default=None,
                            type=config._converter(hints[name]),
                            help=f"{f.metadata['help']} [env LIVEBRIDGE_{name.upper()}; default {f.default}]")
    worker.add_argument("--name", help="consumer name (default: host and pid)")
    worker.set_defaults(run=_worker)

    models = commands.add_parser("models", help="download, convert or prepare translation models")
    sub = models.add_subparsers(dest="models_command", required=True)
    download = sub.add_parser("download", help="fetch the opus-mt models ahead of first use")
    download.add_argument("--model", action="append", help="model id (default: both Helsinki-NLP models)")
    download.add_argument("--model-cache-dir")
    download.set_defaults(run=_download)
    convert = sub.add_parser("convert", help="convert a model to CTranslate2 int8")
    convert.add_argument("model", help="model id or directory")
    convert.add_argument("out_dir")
    convert.set_defaults(run=_convert)
    prepare = sub.add_parser("prepare", help="convert the server's models to CTranslate2 int8 where "
                                             "`serve` and `translate-worker` look for them (ahead of time)")
    for name in ("model_en_zh", "model_zh_en", "model_cache_dir"):
        f = fields[name]
        prepare.add_argument("--" + name.replace("_", "-"), dest=name, default=None,
                             help=f"{f.metadata['help']} [env LIVEBRIDGE_{name.upper()}; default {f.default}]")
    prepare.set_defaults(run=_prepare)


def worker_config(args: argparse.Namespace, env=None):
    """The worker's TranslatorConfig from its options, the environment and the defaults."""
    from chatserver.translation import translator_config

    settings = config.load(argparse.Namespace(
        translation="inline", redis_url=args.redis_url,
        **{name: getattr(args, name, None) for name in WORKER_SETTINGS}), env)
    if not settings.redis_url:
        raise config.SettingsError("translate-worker needs --redis-url (or LIVEBRIDGE_REDIS_URL)")
    return translator_config(settings)


def _worker(args: argparse.Namespace) -> int:
    from translator.worker import run_worker_blocking

    try:
        cfg = worker_config(args)
    except config.SettingsError as exc:
        print(f"livebridge translate-worker: {exc}", file=sys.stderr)
        return 2
    return run_worker_blocking(cfg.redis_url, cfg, consumer=args.name)


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


def _prepare(args: argparse.Namespace) -> int:
    from chatserver.translation import translator_config
    from translator.backends import ModelUnavailable, prepare_models

    try:
        settings = config.load(argparse.Namespace(**{n: getattr(args, n) for n in
                                                     ("model_en_zh", "model_zh_en", "model_cache_dir")}))
        cfg = translator_config(settings)
        for model, path in prepare_models(cfg.models(), cache_dir=cfg.cache_dir).items():
            print(f"{model}: {path}")
    except (ModelUnavailable, config.SettingsError) as exc:
        print(f"livebridge models prepare: {exc}", file=sys.stderr)
        return 1
    except ImportError as exc:
        print(f"livebridge models prepare: CTranslate2 is not installed ({exc})", file=sys.stderr)
        return 1
    return 0
