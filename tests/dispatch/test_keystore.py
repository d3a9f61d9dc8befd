"""Device keys at rest: sealed in the database, opened only with the sealing key and only for their own row."""

import asyncio
import os
from pathlib import Path

import pytest

from basestation.dispatch.core.state import DispatchState
from basestation.dispatch.io.keystore import KeySealer, KeyStoreError
from basestation.dispatch.io.migrate import upgrade
from basestation.dispatch.io.store import Store


def test_sealed_keys_never_touch_the_disk_in_clear(tmp_path: Path) -> None:
    db_file = tmp_path / "d.db"
    url = f"sqlite+aiosqlite:///{db_file}"
    upgrade(url)
    sealing, root = os.urandom(32), os.urandom(16)

    async def go() -> None:
        store = Store(url, KeySealer(sealing))
        await store.add_device(11, root, None, 0)
        state = DispatchState()
        await store.load(state, 0)
        assert 11 in state.resolver
        assert await store.device_key(11) == root
        await store.close()
        with pytest.raises(KeyStoreError):
            other = Store(url, KeySealer(os.urandom(32)))
            try:
                await other.load(DispatchState(), 0)
            finally:
                await other.close()

    asyncio.run(go())
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("d.db*"))
    assert root not in raw


def test_a_sealed_key_opens_only_for_its_own_device() -> None:
    sealer = KeySealer(os.urandom(32))
    blob = sealer.seal(1, bytes(16))
    assert sealer.open(1, blob) == bytes(16)
    with pytest.raises(KeyStoreError):
        sealer.open(2, blob)
    with pytest.raises(KeyStoreError):
        KeySealer(None).open(1, blob)
    with pytest.raises(KeyStoreError):
        KeySealer(b"short")
