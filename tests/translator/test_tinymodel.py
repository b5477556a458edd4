"""The tiny-model builder's cache: built once, concurrent builders serialised, no partial dirs."""

import threading
import time

from tests import tinymodel


def test_cached_models_have_the_standard_marian_layout(tiny_models):
    for pair, path in tiny_models.items():
        names = {p.name for p in path.iterdir()}
        assert {"source.spm", "target.spm", "vocab.json", "config.json", "generation_config.json"} <= names
        assert (path.parent / "DONE").exists()
    assert '">>cmn_Hans<<"' in (tiny_models["en-zh"] / "vocab.json").read_text(encoding="utf-8")


def test_concurrent_builders_build_once(monkeypatch, tmp_path):
    builds = []

    def fake_build(pair, out):  # the real build is exercised by the session fixture
        builds.append(pair)
        out.mkdir(parents=True)
        time.sleep(0.2)
        (out / "config.json").write_text("{}")

    monkeypatch.setattr(tinymodel, "_build_pair", fake_build)
    results = []
    threads = [threading.Thread(target=lambda: results.append(tinymodel.ensure_tiny_models(tmp_path))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(builds) == ["en-zh", "zh-en"]
    assert len({tuple(sorted(r.items())) for r in results}) == 1
    assert all((p / "config.json").exists() for p in results[0].values())
    leftovers = [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name]
    assert leftovers == []
