"""Translation by separate worker processes fed through Redis, and the models commands."""

import os
import subprocess
import sys
import time

from clients.client import LiveBridgeClient
from tests.harness import ROOT
from tests.tinymodel import ensure_tiny_models


def cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "chatserver.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, **kw)


async def test_server_in_workers_mode_gets_translations_from_a_worker_process(fresh_redis, start_server):
    models = ensure_tiny_models()
    worker = subprocess.Popen(
        [sys.executable, "-m", "chatserver.cli", "translate-worker", "--redis-url", fresh_redis.url,
         "--model-en-zh", str(models["en-zh"]), "--model-zh-en", str(models["zh-en"]), "--name", "w1"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        server = start_server("--translation", "workers", "--redis-url", fresh_redis.url,
                              "--secret", "w" * 32, "--allow-guests")
        _, health = server.get("/healthz")
        assert health["translation"]["mode"] == "workers"
        deadline = time.monotonic() + 60
        while not health["translation"]["available"]:  # the worker is still loading its models
            assert worker.poll() is None and time.monotonic() < deadline, "the worker never came up"
            time.sleep(0.1)
            _, health = server.get("/healthz")
        assert health["translation"]["backend"] == "ctranslate2"  # what the worker runs ("auto": installed)
        ann = LiveBridgeClient(server.url, name="Ann", lang="en")
        li = LiveBridgeClient(server.url, name="Li", lang="zh")
        await ann.connect()
        await li.connect()
        try:
            await ann.join("workers")
            await li.join("workers")
            ack = await ann.send("workers", "good morning")
            translated = await li.wait_for(lambda e: e["type"] == "translation", timeout=60)
            assert (translated["message_id"], translated["text"]) == (ack["id"], "早上好")
        finally:
            await ann.close()
            await li.close()
    finally:
        worker.terminate()
        output = worker.communicate(timeout=30)[0].decode(errors="replace")
    assert worker.returncode == 0, output


def test_models_convert_makes_a_ctranslate2_model(tmp_path):
    models = ensure_tiny_models()
    result = cli("models", "convert", str(models["en-zh"]), str(tmp_path / "ct2"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "ct2" / "model.bin").exists()


def test_models_download_says_plainly_when_it_cannot(tmp_path):
    result = cli("models", "download", "--model", "Helsinki-NLP/opus-mt-en-zh", "--model-cache-dir", str(tmp_path),
                 env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 1
    assert "livebridge models download:" in result.stderr and "Traceback" not in result.stderr
