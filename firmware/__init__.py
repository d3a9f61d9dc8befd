"""Key ring firmware (MicroPython on an ESP32 with an SX1262), runnable on a host with fakes.

Layout: the same package path on every runtime. On the device the build copies ``firmware/`` and
``protocol/`` as packages under ``/lib`` (``/lib/firmware/*.mpy``, ``/lib/protocol/*.mpy``), so every module
imports ``firmware.x`` and ``protocol.x`` exactly as it does on CPython and under the MicroPython unix port.

Pure logic (no hardware, time passed in as ``now``): ``press`` (press patterns), ``feedback`` (LED,
vibration and buzzer patterns), ``airtime`` (LoRa time on air and the EU868 duty-cycle ledger),
``counter_store`` (power-cut-safe frame counters), ``retry`` (alarm retry schedule), ``power`` (sleep
policy and battery-life model), ``keyring`` (the application that ties them together).
Hardware edge: ``board_esp32`` builds the real objects; ``fakes`` stands in for them on a host.
"""
