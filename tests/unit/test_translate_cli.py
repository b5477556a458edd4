"""`livebridge translate-worker` takes the server's translation tuning, from options and the
environment, validated like `serve`'s (the scheduler's slots, bulk batch, long-message length
and deadline cap included, on both commands); `livebridge models prepare` errors are clear."""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys

import pytest

from chatserver import cli, cli_translate, config
from chatserver.config import SettingsError
from chatserver.translation import translator_config


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli_translate.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["translate-worker", *argv])


def test_worker_tuning_options_reach_its_translator_config():
    args = parse("--redis-url", "redis://127.0.0.1:1/0", "--translation-max-batch", "8",
                 "--translation-max-wait-ms", "2.5", "--translation-max-backlog", "64",
                 "--translation-deadline", "3", "--translation-threads", "2",
                 "--translation-cache-size", "500", "--backend", "transformers", "--beam-size", "2")
    cfg = cli_translate.worker_config(args, env={})
    assert (cfg.max_batch, cfg.max_wait_ms, cfg.max_backlog, cfg.deadline_s, cfg.threads, cfg.cache_size) == \
        (8, 2.5, 64, 3.0, 2, 500)
    assert (cfg.backend, cfg.beam_size, cfg.mode, cfg.redis_url) == ("transformers", 2, "inline", "redis://127.0.0.1:1/0")


def test_worker_reads_the_servers_environment_and_options_win():
    env = {"LIVEBRIDGE_REDIS_URL": "redis://127.0.0.1:2/0", "LIVEBRIDGE_TRANSLATION_MAX_BATCH": "4",
           "LIVEBRIDGE_TRANSLATION_DEADLINE": "2", "LIVEBRIDGE_TRANSLATION_BACKEND": "ctranslate2"}
    cfg = cli_translate.worker_config(parse("--translation-deadline", "7"), env=env)
    assert (cfg.redis_url, cfg.max_batch, cfg.deadline_s, cfg.backend) == ("redis://127.0.0.1:2/0", 4, 7.0, "ctranslate2")
    assert cli_translate.worker_config(parse("--redis-url", "redis://x:1"), env={}).backend == "auto"


SCHEDULING = ["--translation-slots", "1", "--translation-bulk-batch", "4", "--translation-long-chars", "120",
              "--translation-max-deadline", "20"]


def test_worker_scheduling_options_reach_its_translator_config():
    cfg = cli_translate.worker_config(parse("--redis-url", "redis://127.0.0.1:1/0", *SCHEDULING), env={})
    assert (cfg.slots, cfg.model_slots, cfg.bulk_batch, cfg.long_chars, cfg.max_deadline_s) == (1, 1, 4, 120, 20.0)


def test_serve_scheduling_options_and_variables_reach_the_translator_config():
    serve = cli.build_parser().parse_args(["serve", *SCHEDULING])
    cfg = translator_config(config.load(serve, env={}))
    assert (cfg.slots, cfg.bulk_batch, cfg.long_chars, cfg.max_deadline_s) == (1, 4, 120, 20.0)
    env = {"LIVEBRIDGE_TRANSLATION_SLOTS": "3", "LIVEBRIDGE_TRANSLATION_BULK_BATCH": "2",
           "LIVEBRIDGE_TRANSLATION_LONG_CHARS": "500", "LIVEBRIDGE_TRANSLATION_MAX_DEADLINE": "45.5"}
    cfg = translator_config(config.load(cli.build_parser().parse_args(["serve", "--translation-slots", "2"]), env))
    assert (cfg.slots, cfg.bulk_batch, cfg.long_chars, cfg.max_deadline_s) == (2, 2, 500, 45.5)  # the option wins
    # The worker reads the same variables.
    cfg = cli_translate.worker_config(parse("--redis-url", "redis://x:1"), env=env)
    assert (cfg.slots, cfg.bulk_batch, cfg.long_chars, cfg.max_deadline_s) == (3, 2, 500, 45.5)


def test_scheduling_defaults_are_the_translators():
    cfg = translator_config(config.load(None, {}))
    assert (cfg.slots, cfg.bulk_batch, cfg.long_chars, cfg.max_deadline_s) == (0, 8, 300, 60.0)


@pytest.mark.parametrize("argv, message", [
    (["--translation-slots", "-1"], r"--translation-slots must be 0-64 \(0: one per core\), got -1"),
    (["--translation-slots", "65"], r"--translation-slots .* got 65"),
    (["--translation-bulk-batch", "0"], r"--translation-bulk-batch must be at least 1, got 0"),
    (["--translation-long-chars", "0"], r"--translation-long-chars must be at least 1, got 0"),
    (["--translation-max-deadline", "0"], r"--translation-max-deadline must be positive, got 0"),
])
def test_bad_scheduling_values_are_named_by_serve_and_the_worker(argv, message):
    with pytest.raises(SettingsError, match=message):
        config.load(cli.build_parser().parse_args(["serve", *argv]), env={})
    with pytest.raises(SettingsError, match=message):
        cli_translate.worker_config(parse("--redis-url", "redis://x:1", *argv), env={})


def test_a_bad_scheduling_variable_is_named():
    with pytest.raises(SettingsError, match="LIVEBRIDGE_TRANSLATION_SLOTS: .*'two'"):
        config.load(None, {"LIVEBRIDGE_TRANSLATION_SLOTS": "two"})
    with pytest.raises(SettingsError, match="--translation-bulk-batch .* got 0"):
        config.load(None, {"LIVEBRIDGE_TRANSLATION_BULK_BATCH": "0"})


@pytest.mark.parametrize("argv, message", [
    (["--redis-url", "redis://x:1", "--translation-max-batch", "0"], "--translation-max-batch"),
    (["--redis-url", "redis://x:1", "--translation-deadline", "-1"], "--translation-deadline"),
    ([], "needs --redis-url"),
])
def test_bad_worker_settings_are_named(argv, message):
    with pytest.raises(SettingsError, match=message):
        cli_translate.worker_config(parse(*argv), env={})


def test_the_worker_command_says_what_is_wrong_and_exits_2():
    done = subprocess.run([sys.executable, "-m", "chatserver.cli", "translate-worker", "--redis-url",
                           "redis://127.0.0.1:1/0", "--translation-max-backlog", "0"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "--translation-max-backlog" in done.stderr and "Traceback" not in done.stderr


def test_serve_says_which_scheduling_value_is_wrong_and_exits_2():
    done = subprocess.run([sys.executable, "-m", "chatserver.cli", "serve", "--translation-slots", "-3"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "livebridge serve: --translation-slots must be 0-64" in done.stderr and "got -3" in done.stderr
    assert "Traceback" not in done.stderr


def test_models_prepare_names_a_missing_model_directory(tmp_path):
    done = subprocess.run([sys.executable, "-m", "chatserver.cli", "models", "prepare", "--model-en-zh",
                           str(tmp_path / "nope"), "--model-zh-en", str(tmp_path / "nope2"),
                           "--model-cache-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "livebridge models prepare:" in done.stderr and "nope" in done.stderr and "Traceback" not in done.stderr


def test_threads_help_says_what_0_means_now_on_both_commands():
    # threads=0 changed meaning with the scheduler (CTranslate2: 1 thread per call, slots calls at once).
    fields = {f.name: f for f in dataclasses.fields(config.Settings)}
    assert "1 thread" in fields["translation_threads"].metadata["help"]
    assert "--translation-slots" in fields["translation_threads"].metadata["help"]
    for argv in (["serve", "--help"], ["translate-worker", "--help"]):
        done = subprocess.run([sys.executable, "-m", "chatserver.cli", *argv], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "each call on 1 thread" in " ".join(done.stdout.split())
