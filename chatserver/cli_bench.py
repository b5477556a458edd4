"""``livebridge bench``: fan-out and translation benchmarks (code in :mod:`benchmarks`).

    livebridge bench fanout --servers livebridge,raw,socketio --members 1000 --rates 10,20,40
    livebridge bench bigroom | smallrooms | storm | redis2   [any fanout option overrides]
    livebridge bench translate --batch-sizes 1,8,32 --concurrency 1,8,32

Reports (JSON, Markdown, PNG) go to ``--out`` (default ``benchmarks/results/``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def _fanout_options(parser: argparse.ArgumentParser, preset: bool) -> None:
    d = argparse.SUPPRESS if preset else None
    parser.add_argument("--servers", type=_names, default=d,
                        help="comma-separated: livebridge, raw, socketio (default: livebridge)")
    parser.add_argument("--nodes", type=int, default=d, help="server nodes (over a private Redis when > 1)")
    parser.add_argument("--rooms", type=int, default=d)
    parser.add_argument("--members", type=_ints, default=d, help="members per room; a list runs each size")
    parser.add_argument("--senders", type=int, default=d, help="senders per room")
    parser.add_argument("--rates", "--rate", dest="rates", type=_floats, default=d,
                        help="messages/s per room; a list is a sweep on the same connections")
    parser.add_argument("--duration", type=float, default=d, help="seconds per rate step")
    parser.add_argument("--message-size", type=int, default=d, help="message text size in bytes")
    parser.add_argument("--codec", choices=["json", "msgpack"], default=d)
    parser.add_argument("--workers", type=int, default=d, help="generator processes")
    parser.add_argument("--connect-rate", type=float, default=d, help="connections/s (0: as fast as possible)")
    parser.add_argument("--connect-timeout", type=float, default=d)
    parser.add_argument("--connect-concurrency", type=int, default=d,
                        help="connections each generator process opens at once (default 200)")
    parser.add_argument("--idle", type=float, default=d, help="seconds idle before measuring idle memory")
    parser.add_argument("--drain", type=float, default=d, help="longest wait for late deliveries per step")
    parser.add_argument("--socketio-manager", choices=["redis", "memory"], default=d)
    parser.add_argument("--distinct-users", action="store_true", default=d,
                        help="every LiveBridge connection signs in as its own user (default: one guest "
                             "user per generator process, as the peers have no users)")
    parser.add_argument("--no-pin", dest="pin", action="store_false", default=d,
                        help="do not pin servers to core 0 and the generator to the others")
    parser.add_argument("--keep-going", dest="stop_on_saturation", action="store_false", default=d,
                        help="run every rate step even after the server saturates")
    parser.add_argument("--profile", default=d, metavar="DIR",
                        help="record node 0 with py-spy during the steps into DIR (needs py-spy)")
    parser.add_argument("--compare-root", default=d, metavar="DIR",
                        help="another LiveBridge checkout (a worktree of the base): the server "
                             "livebridge-compared runs its node, in the same run")
    _common(parser)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=None, help="report directory (default benchmarks/results/)")
    parser.add_argument("--name", default=None, help="report file name stem (default: scenario and time)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", default=None)


def _run_fanout(args: argparse.Namespace) -> int:
    from benchmarks import report as rpt
    from benchmarks.fanout import FanoutConfig, run_fanout
    from benchmarks.scenarios import config

    fields = set(FanoutConfig.__dataclass_fields__) - {"scenario"}
    overrides = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    scenario = getattr(args, "scenario", None)
    cfg = config(scenario, **overrides) if scenario else FanoutConfig(**overrides)
    try:
        cfg.validate()
    except ValueError as exc:
        print(f"livebridge bench: {exc}", file=sys.stderr)
        return 2
    result = run_fanout(cfg)
    name = args.name or f"{cfg.scenario}-{time.strftime('%Y%m%d-%H%M%S')}"
    files = rpt.write(result, args.out or rpt.DEFAULT_OUT, name)
    print(files["md"].read_text())
    for kind, path in files.items():
        print(f"{kind}: {path}")
    failed = [r for r in result["runs"] if "error" in r]
    for r in failed:
        print(f"{r['server']} m={r['members_per_room']} failed: {r['error']}", file=sys.stderr)
    return 1 if failed else 0


def _run_translate(args: argparse.Namespace) -> int:
    from benchmarks import report as rpt
    from benchmarks.translate import TranslateConfig, run_translate

    if args.scenario == "mixed":
        return _run_translate_mixed(args)

    fields = set(TranslateConfig.__dataclass_fields__)
    cfg = TranslateConfig(**{k: v for k, v in vars(args).items() if k in fields and v is not None})
    make_batcher, name = _translator_batcher()
    result = run_translate(cfg, make_batcher, name)
    name = args.name or f"translate-{time.strftime('%Y%m%d-%H%M%S')}"
    files = rpt.write(result, args.out or rpt.DEFAULT_OUT, name)
    print(files["md"].read_text())
    for kind, path in files.items():
        print(f"{kind}: {path}")
    return 0


def _run_translate_mixed(args: argparse.Namespace) -> int:
    """The mixed long/short scenario through the server's own TranslationService."""
    import asyncio
    import tempfile

    from benchmarks import report as rpt
    from benchmarks.translate_mixed import MixedConfig, run_mixed
    from translator.service import TranslationService
    from translator.types import TranslatorConfig

    if not (args.model_en_zh and args.model_zh_en):
        print("livebridge bench translate --scenario mixed: give --model-en-zh and --model-zh-en "
              "(model ids or directories; the tiny test models: python -m tests.tinymodel)", file=sys.stderr)
        return 2
    cache_dir = args.model_cache_dir or tempfile.mkdtemp(prefix="lb-bench-models-")
    models = {"en-zh": args.model_en_zh, "zh-en": args.model_zh_en}
    if args.full_size:
        from benchmarks.random_marian import cached_random_marian

        models = {pair: str(cached_random_marian(m, Path(cache_dir) / "random-marian")) for pair, m in models.items()}
    config = TranslatorConfig(mode="inline", backend=args.backend, model_en_zh=models["en-zh"],
                              model_zh_en=models["zh-en"], cache_dir=cache_dir, cache_size=0,
                              **{k: v for k, v in (("max_batch", args.max_batch), ("max_wait_ms", args.max_wait_ms),
                                                   ("message_share", args.message_share),
                                                   ("similar_lengths", args.similar_lengths),
                                                   ("deadline_s", args.deadline), ("threads", args.threads),
                                                   ("max_backlog", args.max_backlog), ("slots", args.slots),
                                                   ("bulk_batch", args.bulk_batch)) if v is not None})
    fields = set(MixedConfig.__dataclass_fields__)
    cfg = MixedConfig(**{k: v for k, v in vars(args).items() if k in fields and v is not None})

    async def main() -> dict:
        service = TranslationService(config)
        await service.start()
        status = service.status
        if not status["enabled"]:
            raise SystemExit(f"livebridge bench translate: {status['message']}")
        about = {"backend": status["backend"], "pairs": status["pairs"],
                 "models": "opus-mt-en-zh architecture, random weights" if args.full_size else models,
                 "max_batch": config.max_batch, "message_share": config.message_share, "similar_lengths": config.similar_lengths, "max_wait_ms": config.max_wait_ms,
                 "deadline_s": config.deadline_s, "threads": config.threads, "cache": "off",
                 **({"slots": config.model_slots, "bulk_batch": config.bulk_batch, "long_chars": config.long_chars,
                     "max_deadline_s": config.max_deadline_s} if hasattr(config, "model_slots") else {})}

        async def translate(text, source, target):
            r = await service.translate(text, source, target)
            return r.ok, r.error

        try:
            return await run_mixed(translate, cfg, about)
        finally:
            await service.close()

    result = asyncio.run(main())
    name = args.name or f"translate-mixed-{time.strftime('%Y%m%d-%H%M%S')}"
    files = rpt.write(result, args.out or rpt.DEFAULT_OUT, name)
    print(files["md"].read_text())
    for kind, path in files.items():
        print(f"{kind}: {path}")
    return 0


def _translator_batcher():
    """The translator's inline batcher, wired here (benchmarks/ may not import translator/)."""
    try:
        from translator.batcher import Batcher
    except ImportError:
        return None, None

    def make(fn, max_batch: int):
        return Batcher(fn, max_batch=max_batch, max_wait_ms=5.0, max_backlog=100_000)

    return make, "translator.batcher.Batcher(max_wait_ms=5)"


def register(commands) -> None:
    bench = commands.add_parser("bench", help="load-test fan-out and translation (reports in benchmarks/results/)")
    sub = bench.add_subparsers(dest="bench_command", required=True)

    fanout = sub.add_parser("fanout", help="fan-out: servers, rooms, members, senders, rates, codec")
    _fanout_options(fanout, preset=False)
    fanout.set_defaults(run=_run_fanout, scenario=None)

    from benchmarks.scenarios import SCENARIOS

    for name, preset in SCENARIOS.items():
        p = sub.add_parser(name, help=preset["help"], description=preset["help"])
        _fanout_options(p, preset=True)
        p.set_defaults(run=_run_fanout, scenario=name)

    from benchmarks import joinstorm

    storm = sub.add_parser("joinstorm", help="distinct users join one room at once: joins/s, CPU per join")
    joinstorm.add_arguments(storm)
    storm.set_defaults(run=lambda args: joinstorm.run(args))

    translate = sub.add_parser("translate", help="translation throughput/latency vs batch size and concurrency")
    translate.add_argument("--batch-sizes", type=_ints, default=None, help="batch sizes for direct generate()")
    translate.add_argument("--concurrency", type=_ints, default=None,
                           help="concurrent requests through the translator's batcher")
    translate.add_argument("--messages", type=int, default=None, help="messages per measurement")
    translate.add_argument("--naive-messages", type=int, default=None, help="messages for the naive baseline")
    translate.add_argument("--output-tokens", type=int, default=None, help="fixed output length (tokens)")
    translate.add_argument("--input-tokens", type=int, default=None, help="input length (tokens)")
    translate.add_argument("--naive-beams", type=int, default=None, help="beam size of the naive baseline (model default 4)")
    translate.add_argument("--beams", type=int, default=None, help="beam size of the batched runs (server default 1)")
    translate.add_argument("--threads", type=int, default=None,
                           help="sweep: torch threads; mixed: the translator's --translation-threads "
                                "(0: CTranslate2 runs each call on 1 thread, --slots calls side by side)")
    translate.add_argument("--tiny", action="store_true", default=None,
                           help="a tiny model of the same shape family (for smoke tests), not opus-mt size")
    translate.add_argument("--time-limit", type=float, default=None, help="seconds per measurement at most")
    mixed = translate.add_argument_group(
        "--scenario mixed", "short lines at --rate while long messages are in flight, both directions, "
        "through the server's TranslationService (docs/benchmarks.md)")
    mixed.add_argument("--scenario", choices=["sweep", "mixed"], default="sweep",
                       help="sweep (default): batch size and concurrency; mixed: short lines beside long ones")
    mixed.add_argument("--model-en-zh", help="model id or directory (mixed)")
    mixed.add_argument("--model-zh-en", help="model id or directory (mixed)")
    mixed.add_argument("--model-cache-dir", help="where converted models go (default: a temporary directory)")
    mixed.add_argument("--full-size", action="store_true", default=False,
                       help="build and use models of the full opus-mt-en-zh architecture with random weights, "
                            "with the given models' tokenizers")
    mixed.add_argument("--backend", default="auto", choices=["auto", "ctranslate2", "transformers"])
    mixed.add_argument("--rate", type=float, default=None, help="short lines per second, both directions together (5)")
    mixed.add_argument("--seconds", type=float, default=None, help="seconds per phase (30)")
    mixed.add_argument("--long-chars", type=int, default=None, help="characters of each long message (1900)")
    mixed.add_argument("--long-in-flight", type=int, default=None, help="long messages per direction in flight (1)")
    mixed.add_argument("--max-batch", type=int, default=None, help="the translator's max batch (16)")
    mixed.add_argument("--message-share", type=int, default=None,
                       help="sentences of one message per model call at most (0: the max batch)")
    mixed.add_argument("--similar-lengths", action=argparse.BooleanOptionalAction, default=None,
                       help="batch only sentences of similar length, short lines apart from long ones (default on)")
    mixed.add_argument("--max-wait-ms", type=float, default=None, help="the translator's batch wait (5)")
    mixed.add_argument("--max-backlog", type=int, default=None, help="the translator's backlog in messages (256)")
    mixed.add_argument("--deadline", type=float, default=None, help="the translator's deadline, seconds (5)")
    mixed.add_argument("--slots", type=int, default=None, help="model calls at once on the node (0: one per core)")
    mixed.add_argument("--bulk-batch", type=int, default=None,
                       help="sentences per model call in the bulk lane (long messages, background work; 8)")
    _common(translate)
    translate.set_defaults(run=_run_translate)
