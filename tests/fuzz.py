"""How hard the parser fuzz tests push: their own example counts in `make test`, a hundred times that in
`make soak` (HYPOTHESIS_PROFILE=soak)."""

import os

SCALE = 100 if os.environ.get("HYPOTHESIS_PROFILE") == "soak" else 1


def examples(n: int) -> int:
    return n * SCALE
