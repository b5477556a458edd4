"""translator/ modules import one way: types <- jobs <- service <- worker (no cycles, none lazy)."""

import ast
from pathlib import Path

import pytest

import translator.jobs
import translator.service
import translator.types
import translator.worker

PKG = Path(translator.service.__file__).parent


def translator_imports(module: str) -> set[str]:
    tree = ast.parse((PKG / f"{module}.py").read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):  # every import statement, those inside functions too
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("translator."):
            out.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[1] for a in node.names if a.name.startswith("translator.")}
    return out


@pytest.mark.parametrize(
    "module, must_not_import",
    [
        ("types", {"service", "worker", "jobs"}),
        ("jobs", {"service", "worker"}),
        ("service", {"worker"}),
    ],
)
def test_imports_run_one_way(module, must_not_import):
    assert translator_imports(module) & must_not_import == set()


def test_public_names_stay_where_callers_find_them():
    assert translator.service.Translation is translator.types.Translation
    assert translator.service.TranslatorConfig is translator.types.TranslatorConfig
    assert translator.worker.WorkerClient is translator.jobs.WorkerClient
    assert translator.worker.stream_key is translator.jobs.stream_key
    assert translator.worker.group_name is translator.jobs.group_name
