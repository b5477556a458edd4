"""MarianMT translation backends behind one interface: transformers and CTranslate2 int8.

Promise: a ``Backend`` translates a batch of plain sentences for a language pair it has loaded:
``translate_batch(texts, source, target) -> list[str]`` (same length, same order).  It is
synchronous and CPU-heavy: call it off the event loop, from one thread per backend.
``load_pair`` raises ``ModelUnavailable`` with a readable reason, and fails fast when offline
(it never sits in the Hub client's minutes of retries).

* ``TransformersBackend``: MarianTokenizer + MarianMTModel.generate() (transformers 5.x has no
  translation pipeline); settings go in a GenerationConfig.
* ``CTranslate2Backend``: the same checkpoint converted once to CTranslate2 int8
  (``convert_model``), cached on disk.  A model not converted ahead of time
  (``livebridge models prepare``) is converted on first use **in a subprocess**
  (``convert_in_subprocess``), never in the serving process: converting loads the whole
  checkpoint into torch, which would stay in the server's memory (about 600 MB RSS against
  310 MB, issue 12).  It is fed the tokenizer's own token ids including ``</s>``
  (CTranslate2 adds none itself).

``"auto"`` (the default) is CTranslate2 when it is installed, else transformers
(``resolve_backend``).

Multi-target checkpoints such as opus-mt-en-zh need a target tag (``>>cmn_Hans<<`` for
simplified Chinese) as the first token of every input, or they pick a script at random; the tag
must be in vocab.json or it silently becomes ``<unk>``.  ``target_tag`` checks both.

Model ids (Hub) or local directories are accepted everywhere.  ``download_models`` fetches the
default checkpoints ahead of time (``livebridge models download``).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

DEFAULT_MODELS = {
    ("en", "zh"): "Helsinki-NLP/opus-mt-en-zh",
    ("zh", "en"): "Helsinki-NLP/opus-mt-zh-en",
}
# Tags a multi-target checkpoint may use for a language, in order of preference.
TARGET_TAGS = {
    "zh": (">>cmn_Hans<<", ">>zho_Hans<<", ">>cmn<<", ">>zho<<"),
    "en": (">>eng<<",),
}
HUB_HOST = "huggingface.co"


class ModelUnavailable(RuntimeError):
    """A model could not be loaded; ``str(exc)`` is a reason fit to show users and operators."""


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding settings shared by both backends.  Greedy by default: live chat wants speed."""

    beam_size: int = 1
    no_repeat_ngram_size: int = 4
    max_ratio: float = 2.0  # output tokens per input token, plus max_extra, capped at max_cap
    max_extra: int = 10
    max_cap: int = 256
    threads: int = 0  # intra-op threads per call; 0: auto (CTranslate2: 1; transformers: torch's default)
    parallel: int = 1  # calls one model may run at once (CTranslate2 inter_threads)


class Backend(Protocol):
    name: str
    parallel_calls: int  # calls one pair's model may run at once, from different threads

    def load_pair(self, source: str, target: str, model: str) -> None: ...

    def translate_batch(self, texts: list[str], source: str, target: str) -> list[str]: ...

    @property
    def pairs(self) -> list[tuple[str, str]]: ...


# ---------------------------------------------------------------- model files


def _is_local(model: str) -> bool:
    return Path(model).expanduser().is_dir()


def _hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    try:
        with socket.create_connection((HUB_HOST, 443), timeout=timeout):
            return True
    except OSError:
        return False


def resolve_model(model: str, cache_dir: str | None = None, allow_download: bool = True) -> Path:
    """Local directory holding ``model`` (a local path, or a Hub id found in / fetched into the
    Hub cache).  Raises ModelUnavailable quickly when it is neither local nor downloadable."""
    if _is_local(model):
        return Path(model).expanduser().resolve()
    if os.sep in model.strip("/") and model.startswith((".", "/", "~")):
        raise ModelUnavailable(f"model directory {model} does not exist")
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:  # pragma: no cover - transformers depends on it
        raise ModelUnavailable(f"huggingface_hub not installed: {exc}") from exc
    try:
        return Path(snapshot_download(model, cache_dir=cache_dir, local_files_only=True))
    except Exception:
        pass
    if not allow_download:
        raise ModelUnavailable(f"model {model} is not downloaded (run `livebridge models download`)")
    if not _hub_reachable():
        raise ModelUnavailable(
            f"model {model} is not downloaded and {HUB_HOST} is unreachable (offline?); "
            "run `livebridge models download` on a machine with internet or configure a local model directory"
        )
    try:
        return Path(snapshot_download(model, cache_dir=cache_dir))
    except Exception as exc:
        raise ModelUnavailable(f"could not download model {model}: {exc}") from exc


def download_models(models: list[str] | None = None, cache_dir: str | None = None) -> dict[str, Path]:
    """Fetch checkpoints (default: both Helsinki-NLP models) into the Hub cache; returns their dirs."""
    models = models or list(DEFAULT_MODELS.values())
    return {m: resolve_model(m, cache_dir=cache_dir, allow_download=True) for m in models}


def _fingerprint(model_dir: Path) -> str:
    h = hashlib.sha256(str(model_dir).encode())
    for f in sorted(model_dir.iterdir()):
        if f.is_file():
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()[:16]


def convert_model(model: str, out_dir: str | Path, quantization: str = "int8", force: bool = False) -> Path:
    """Convert a Marian checkpoint (Hub id or directory) to CTranslate2 in ``out_dir``.

    Written to a temporary sibling and renamed into place, so a concurrent reader never sees a
    half-converted model.  Returns ``out_dir``; does nothing if it already holds a model.
    """
    import ctranslate2

    out = Path(out_dir)
    if (out / "model.bin").exists() and not force:
        return out
    src = resolve_model(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".tmp-", dir=out.parent))
    try:
        ctranslate2.converters.TransformersConverter(str(src)).convert(
            str(tmp), quantization=quantization, force=True
        )
        if out.exists():
            shutil.rmtree(out)
        try:
            os.rename(tmp, out)
        except OSError:
            if not (out / "model.bin").exists():  # lost a race: the other writer's copy is fine
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


CONVERT_TIMEOUT = 1800.0  # seconds a conversion subprocess may take (a full opus-mt: about a minute)


def convert_in_subprocess(model_dir: str | Path, out_dir: str | Path, quantization: str = "int8",
                          timeout: float = CONVERT_TIMEOUT) -> Path:
    """:func:`convert_model` in a child Python process (``python -m translator.convert``), so
    the checkpoint's torch weights never enter this process. Raises ModelUnavailable with the
    child's last words when it fails."""
    out = Path(out_dir)
    if (out / "model.bin").exists():
        return out
    root = str(Path(__file__).resolve().parents[1])  # so the child imports this translator
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    t0 = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", "translator.convert", str(model_dir), str(out), quantization],
                              env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ModelUnavailable(f"converting {model_dir} to CTranslate2 took over {timeout:g} s") from None
    if done.returncode != 0 or not (out / "model.bin").exists():
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ModelUnavailable(f"could not convert {model_dir} to CTranslate2: {tail[0]}")
    log.info("converted %s to CTranslate2 %s in %.1fs (subprocess)", model_dir, quantization,
             time.perf_counter() - t0)
    return out


@functools.cache
def default_backend() -> str:
    """The backend "auto" means: CTranslate2 when installed (8x faster on opus-mt, issue 12).
    Looked up once per process: the status that names it is read for every message sent, and
    ``find_spec`` walks ``sys.path`` each time (15% of a node's CPU in 500 rooms x 10)."""
    return "ctranslate2" if importlib.util.find_spec("ctranslate2") is not None else "transformers"


def resolve_backend(kind: str | None) -> str:
    """A backend name as configured ("auto", "transformers", "ctranslate2") as it will run."""
    return default_backend() if kind in (None, "", "auto") else kind


def default_cache_dir() -> Path:
    return Path(os.environ.get("LIVEBRIDGE_CACHE", Path.home() / ".cache" / "livebridge"))


def target_tag(tokenizer, target: str) -> str | None:
    """The tag to put first in every input for ``target``, or None for single-target models.

    Raises ModelUnavailable when the vocab has target tags but none for ``target``.
    """
    vocab = tokenizer.get_vocab()
    tags = [t for t in vocab if t.startswith(">>") and t.endswith("<<")]
    if not tags:
        return None
    for tag in TARGET_TAGS.get(target, ()):
        if tag in vocab:
            return tag
    raise ModelUnavailable(f"multi-target model has no tag for {target!r} (has {sorted(tags)[:8]})")


# ---------------------------------------------------------------- backends


class _MarianBackend:
    """Shared loading and bookkeeping; subclasses implement ``_load`` and ``_generate``."""

    name = "base"
    parallel_calls = 1

    def __init__(self, settings: GenerationSettings | None = None, cache_dir: str | None = None):
        self.settings = settings or GenerationSettings()
        self.cache_dir = cache_dir
        self._models: dict[tuple[str, str], tuple[object, object, str | None]] = {}
        self.model_ids: dict[tuple[str, str], str] = {}
        self.load_seconds: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return sorted(self._models)

    def load_pair(self, source: str, target: str, model: str) -> None:
        t0 = time.perf_counter()
        try:
            model_dir = resolve_model(model, cache_dir=self.cache_dir)
            from transformers import MarianTokenizer

            tokenizer = MarianTokenizer.from_pretrained(str(model_dir))
            tag = target_tag(tokenizer, target)
            if tag is not None and tokenizer.convert_tokens_to_ids(tag) == tokenizer.unk_token_id:
                raise ModelUnavailable(f"target tag {tag} maps to <unk> in {model}")
            engine = self._load(model, model_dir)
        except ModelUnavailable:
            raise
        except Exception as exc:
            raise ModelUnavailable(f"could not load {model} ({source}->{target}): {type(exc).__name__}: {exc}") from exc
        with self._lock:
            self._models[(source, target)] = (tokenizer, engine, tag)
            self.model_ids[(source, target)] = model
            self.load_seconds[(source, target)] = time.perf_counter() - t0
        log.info("loaded %s %s->%s in %.2fs", self.name, source, target, self.load_seconds[(source, target)])

    def translate_batch(self, texts: list[str], source: str, target: str) -> list[str]:
        try:
            tokenizer, engine, tag = self._models[(source, target)]
        except KeyError:
            raise ModelUnavailable(f"no model loaded for {source}->{target}") from None
        if not texts:
            return []
        if tag:
            texts = [f"{tag} {t}" for t in texts]
        return self._generate(tokenizer, engine, texts)

    def _max_new_tokens(self, input_lengths: list[int]) -> int:
        s = self.settings
        return max(1, min(s.max_cap, int(max(input_lengths) * s.max_ratio) + s.max_extra))

    def _load(self, model: str, model_dir: Path) -> object:  # pragma: no cover - abstract
        raise NotImplementedError

    def _generate(self, tokenizer, engine, texts: list[str]) -> list[str]:  # pragma: no cover
        raise NotImplementedError


class TransformersBackend(_MarianBackend):
    """Reference backend: MarianMTModel.generate() in fp32 on CPU."""

    name = "transformers"

    def _load(self, model: str, model_dir: Path) -> object:
        import torch
        from transformers import MarianMTModel
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        if self.settings.threads:
            torch.set_num_threads(self.settings.threads)
        m = MarianMTModel.from_pretrained(str(model_dir))
        m.eval()
        return m

    def _generate(self, tokenizer, engine, texts: list[str]) -> list[str]:
        import torch
        from transformers import GenerationConfig

        enc = tokenizer(texts, return_tensors="pt", padding=True, truncation=True)
        lengths = enc["attention_mask"].sum(dim=1).tolist()
        base = engine.generation_config.to_dict()
        base.update(
            num_beams=self.settings.beam_size,
            do_sample=False,
            no_repeat_ngram_size=self.settings.no_repeat_ngram_size,
            # Decoder tokens counted from the start token: max_length == budget + 1.
            max_length=self._max_new_tokens(lengths) + 1,
        )
        base.pop("max_new_tokens", None)
        gc = GenerationConfig(**{k: v for k, v in base.items() if not k.startswith("_")})
        with torch.inference_mode():
            out = engine.generate(**enc, generation_config=gc)
        return tokenizer.batch_decode(out, skip_special_tokens=True)


class CTranslate2Backend(_MarianBackend):
    """Fast backend: CTranslate2 int8, converted once from the checkpoint and cached on disk.

    The compute backend is left to CTranslate2 (DNNL/AVX2 on AMD; forcing MKL there is 30-40x
    slower). Each model runs ``settings.parallel`` calls at once (``inter_threads``, weights
    shared) on ``settings.threads`` intra-op threads each (0: one): on this 2-core machine a
    call on one thread was faster than on two even alone (a short en->zh line 111 vs 151 ms,
    16 long sentences 1.3 vs 2.0 s at full size), and two one-thread calls side by side do
    not slow each other (docs/benchmarks.md).
    """

    name = "ctranslate2"

    @property
    def parallel_calls(self) -> int:
        return max(1, self.settings.parallel)

    def __init__(self, settings: GenerationSettings | None = None, cache_dir: str | None = None,
                 ct2_dir: str | Path | None = None, quantization: str = "int8"):
        super().__init__(settings, cache_dir)
        self.ct2_dir = Path(ct2_dir) if ct2_dir else default_cache_dir() / "ct2"
        self.quantization = quantization

    def converted_dir(self, model_dir: Path) -> Path:
        return self.ct2_dir / f"{model_dir.name}-{self.quantization}-{_fingerprint(model_dir)}"

    def _load(self, model: str, model_dir: Path) -> object:
        import ctranslate2

        out = self.converted_dir(model_dir)
        if not (out / "model.bin").exists():  # not prepared ahead of time
            convert_in_subprocess(model_dir, out, self.quantization)
        return ctranslate2.Translator(
            str(out), device="cpu", compute_type=self.quantization,
            inter_threads=self.parallel_calls, intra_threads=self.settings.threads or 1,
        )

    def _generate(self, tokenizer, engine, texts: list[str]) -> list[str]:
        ids = tokenizer(texts, truncation=True)["input_ids"]  # ends with </s>: CT2 needs it
        tokens = [tokenizer.convert_ids_to_tokens(x) for x in ids]
        results = engine.translate_batch(
            tokens,
            beam_size=self.settings.beam_size,
            no_repeat_ngram_size=self.settings.no_repeat_ngram_size,
            max_decoding_length=self._max_new_tokens([len(x) for x in ids]),
        )
        return [
            tokenizer.decode(tokenizer.convert_tokens_to_ids(r.hypotheses[0]), skip_special_tokens=True)
            for r in results
        ]


BACKENDS = {"transformers": TransformersBackend, "ctranslate2": CTranslate2Backend}


def make_backend(kind: str, settings: GenerationSettings | None = None, cache_dir: str | None = None) -> _MarianBackend:
    """A backend by name ("auto", "transformers" or "ctranslate2")."""
    kind = resolve_backend(kind)
    try:
        cls = BACKENDS[kind]
    except KeyError:
        raise ModelUnavailable(f"unknown translation backend {kind!r} (use {sorted(BACKENDS)})") from None
    if cls is CTranslate2Backend:
        ct2 = Path(cache_dir) / "ct2" if cache_dir else None
        return CTranslate2Backend(settings, cache_dir=cache_dir, ct2_dir=ct2)
    return cls(settings, cache_dir=cache_dir)


def prepare_models(models: dict[tuple[str, str], str], cache_dir: str | None = None,
                   quantization: str = "int8") -> dict[str, Path]:
    """Convert each model (Hub id or directory) to CTranslate2 where the server and workers
    given the same ``cache_dir`` look for it, ahead of time (``livebridge models prepare``);
    returns {model: converted dir}. Downloads what is missing."""
    backend = make_backend("ctranslate2", cache_dir=cache_dir)
    assert isinstance(backend, CTranslate2Backend)
    backend.quantization = quantization
    out = {}
    for model in models.values():
        model_dir = resolve_model(model, cache_dir=cache_dir)
        out[model] = convert_model(str(model_dir), backend.converted_dir(model_dir), quantization)
    return out
