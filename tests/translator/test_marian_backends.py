"""Both backends on the tiny real Marian models built by tests/tinymodel.py."""

import time

import pytest
from transformers import MarianTokenizer

from translator.backends import (
    CTranslate2Backend,
    ModelUnavailable,
    TransformersBackend,
    convert_in_subprocess,
    convert_model,
    make_backend,
    prepare_models,
    resolve_model,
    target_tag,
)

EN_ZH = {"hello": "你好", "thank you": "谢谢", "good morning": "早上好", "see you tomorrow": "明天见",
         "where are you": "你在哪里", "welcome to the room": "欢迎来到房间"}
ZH_EN = {"你好": "hello", "早上好": "good morning", "明天见": "see you tomorrow", "你在哪里": "where are you",
         "我在学中文": "i am learning chinese"}


@pytest.fixture(scope="module", params=["transformers", "ctranslate2"])
def backend(request, tiny_models, model_cache):
    if request.param == "transformers":
        b = TransformersBackend()
    else:
        b = CTranslate2Backend(ct2_dir=model_cache / "ct2")
    b.load_pair("en", "zh", str(tiny_models["en-zh"]))
    b.load_pair("zh", "en", str(tiny_models["zh-en"]))
    return b


def test_phrasebook_translations_both_directions(backend):
    assert backend.pairs == [("en", "zh"), ("zh", "en")]
    assert backend.translate_batch(list(EN_ZH), "en", "zh") == list(EN_ZH.values())
    assert backend.translate_batch(list(ZH_EN), "zh", "en") == list(ZH_EN.values())
    assert backend.translate_batch([], "en", "zh") == []


def test_batch_results_match_single_results(backend):
    singles = [backend.translate_batch([t], "en", "zh")[0] for t in EN_ZH]
    assert singles == backend.translate_batch(list(EN_ZH), "en", "zh")


def test_output_length_is_capped(backend):
    out = backend.translate_batch(["hello " * 40], "en", "zh")[0]
    assert len(out) <= 40 * 2 + 10


def test_unloaded_pair_is_a_clear_error(backend):
    with pytest.raises(ModelUnavailable, match="no model loaded for en->fr"):
        backend.translate_batch(["hello"], "en", "fr")


def test_zh_tag_is_in_vocab_and_first(tiny_models):
    tok = MarianTokenizer.from_pretrained(str(tiny_models["en-zh"]))
    assert target_tag(tok, "zh") == ">>cmn_Hans<<"
    ids = tok([">>cmn_Hans<< hello"]).input_ids[0]
    assert ids[0] == tok.convert_tokens_to_ids(">>cmn_Hans<<") != tok.unk_token_id
    assert ids[-1] == tok.eos_token_id  # the </s> CTranslate2 must be given explicitly
    assert target_tag(MarianTokenizer.from_pretrained(str(tiny_models["zh-en"])), "en") is None


def test_multi_target_model_without_the_wanted_tag_is_refused():
    class FakeTok:
        def get_vocab(self):
            return {">>fra<<": 3, ">>deu<<": 4, "hello": 5}

    with pytest.raises(ModelUnavailable, match="no tag for 'zh'"):
        target_tag(FakeTok(), "zh")


def test_ct2_conversion_is_cached_and_atomic(tiny_models, tmp_path):
    out = convert_model(str(tiny_models["zh-en"]), tmp_path / "zh-en-int8")
    assert (out / "model.bin").exists()
    mtime = (out / "model.bin").stat().st_mtime_ns
    convert_model(str(tiny_models["zh-en"]), out)  # already there: no reconversion
    assert (out / "model.bin").stat().st_mtime_ns == mtime
    assert [p.name for p in tmp_path.iterdir()] == ["zh-en-int8"]  # no temp leftovers


def test_ct2_converts_in_a_subprocess_never_in_the_serving_process(tiny_models, tmp_path, monkeypatch):
    import translator.backends as backends

    def in_process(*args, **kwargs):
        raise AssertionError("converted inside the serving process")

    monkeypatch.setattr(backends, "convert_model", in_process)
    b = CTranslate2Backend(ct2_dir=tmp_path)
    b.load_pair("en", "zh", str(tiny_models["en-zh"]))
    assert b.translate_batch(["hello"], "en", "zh") == ["你好"]
    [converted] = list(tmp_path.iterdir())
    assert (converted / "model.bin").exists()


def test_a_failed_subprocess_conversion_is_a_clear_reason(tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    with pytest.raises(ModelUnavailable, match="could not convert .*broken to CTranslate2"):
        convert_in_subprocess(broken, tmp_path / "out")


def test_models_prepared_ahead_of_time_are_where_the_backend_looks(tiny_models, tmp_path, monkeypatch):
    prepared = prepare_models({("en", "zh"): str(tiny_models["en-zh"])}, cache_dir=str(tmp_path))
    [out] = prepared.values()
    assert (out / "model.bin").exists()
    import translator.backends as backends

    monkeypatch.setattr(backends, "convert_in_subprocess", lambda *a, **k: pytest.fail("converted again"))
    b = make_backend("ctranslate2", cache_dir=str(tmp_path))
    assert b.converted_dir(resolve_model(str(tiny_models["en-zh"]))) == out
    b.load_pair("en", "zh", str(tiny_models["en-zh"]))
    assert b.translate_batch(["thank you"], "en", "zh") == ["谢谢"]


def test_auto_is_ctranslate2_when_installed():
    assert make_backend("auto").name == "ctranslate2"


def test_offline_hub_id_fails_fast_with_reason(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    with pytest.raises(ModelUnavailable, match="not downloaded"):
        resolve_model("Helsinki-NLP/opus-mt-en-zh", cache_dir=str(tmp_path))
    assert time.perf_counter() - t0 < 30
    with pytest.raises(ModelUnavailable, match="does not exist"):
        resolve_model(str(tmp_path / "no-such-model"))


def test_loading_a_broken_directory_raises_model_unavailable(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelUnavailable, match="could not load"):
        TransformersBackend().load_pair("en", "zh", str(tmp_path))
