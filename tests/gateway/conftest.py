from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.brokers import Broker, start_broker


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with start_broker(tmp_path / "broker") as b:
        yield b
