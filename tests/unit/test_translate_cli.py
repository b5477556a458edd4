"""`livebridge translate-worker` takes the server's translation tuning, from options and the
environment, validated like `serve`'s; `livebridge models prepare` errors are clear."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from chatserver import cli_translate
from chatserver.config import SettingsError


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


def test_models_prepare_names_a_missing_model_directory(tmp_path):
    done = subprocess.run([sys.executable, "-m", "chatserver.cli", "models", "prepare", "--model-en-zh",
                           str(tmp_path / "nope"), "--model-zh-en", str(tmp_path / "nope2"),
                           "--model-cache-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "livebridge models prepare:" in done.stderr and "nope" in done.stderr and "Traceback" not in done.stderr
