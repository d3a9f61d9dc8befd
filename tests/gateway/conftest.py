from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.broker_base import Broker
from harness.brokers import start_broker


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with start_broker(tmp_path / "broker") as b:
        yield b
