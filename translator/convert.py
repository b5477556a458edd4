"""``python -m translator.convert MODEL OUT_DIR [QUANTIZATION]``: convert a Marian checkpoint
to CTranslate2 in a process of its own (how :func:`translator.backends.convert_in_subprocess`
keeps the checkpoint's torch weights out of the serving process). Exit 0 when converted, 1
with the reason on stderr when not."""

from __future__ import annotations

import sys

from translator.backends import ModelUnavailable, convert_model


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print("usage: python -m translator.convert MODEL OUT_DIR [QUANTIZATION]", file=sys.stderr)
        return 2
    try:
        convert_model(argv[0], argv[1], argv[2] if len(argv) == 3 else "int8")
    except ModelUnavailable as exc:
        print(exc, file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - reported to the parent as one line
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
