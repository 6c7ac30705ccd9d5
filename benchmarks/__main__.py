"""``python -m benchmarks [name ...]``: run every ``bench_*.py`` (or the named ones).

Each module's ``run() -> str`` returns its markdown report; reports are printed and written
to ``benchmarks/results/<name>.md`` (ignored by git).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

from benchmarks._harness import RESULTS_DIR


def main(names: list[str]) -> None:
    import benchmarks

    available = sorted(
        info.name.removeprefix("bench_")
        for info in pkgutil.iter_modules(benchmarks.__path__)
        if info.name.startswith("bench_")
    )
    chosen = names or available
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        raise SystemExit(f"unknown benchmarks {unknown}; available: {available}")
    RESULTS_DIR.mkdir(exist_ok=True)
    for name in chosen:
        started = time.perf_counter()
        report = importlib.import_module(f"benchmarks.bench_{name}").run()
        elapsed = time.perf_counter() - started
        text = f"## {name}\n\n{report}\n\n_(ran in {elapsed:.0f} s)_\n"
        (RESULTS_DIR / f"{name}.md").write_text(text)
        print(text, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
