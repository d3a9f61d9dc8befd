"""`make bench`: run every benchmark, print its figures, write bench/results/NAME.json and summary.json."""

import importlib
import json
import sys
import time

from bench.common import RESULTS, merge_summary, write

BENCHMARKS = ["protocol", "aes", "gateway", "dispatch", "flood", "e2e", "mqtt"]


def main(names: list[str]) -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name in names or BENCHMARKS:
        module = importlib.import_module(f"bench.{name}_bench")
        t = time.perf_counter()
        figures, raw = module.run(RESULTS)
        write(name, RESULTS, figures, raw)
        merge_summary(RESULTS, name, figures)
        print(f"== {name} ({time.perf_counter() - t:.1f} s)")
        for key, value in figures.items():
            print(f"  {key:32} {value}")
    print(f"results in {RESULTS}/")
    print(json.dumps(json.loads((RESULTS / "summary.json").read_text()), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
