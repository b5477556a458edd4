"""Chinese script conversion for readers who want traditional characters.

Promise: ``to_traditional(text)`` converts simplified Chinese to traditional with OpenCC
(``s2t`` by default; ``s2tw``/``s2twp``/``s2hk`` for regional forms), leaving non-Chinese text
as is.  The models produce simplified Chinese; the server converts once per script variant its
readers use, not per reader.
"""

from __future__ import annotations

import threading
from functools import lru_cache

_lock = threading.Lock()


@lru_cache(maxsize=8)
def _converter(config: str):
    import opencc

    return opencc.OpenCC(config)


def to_traditional(text: str, config: str = "s2t") -> str:
    with _lock:  # OpenCC converters are not documented as thread-safe
        return _converter(config).convert(text)
