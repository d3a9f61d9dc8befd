"""The development harness: what the tests, the benchmarks, the simulator's real-time mode and `make demo` start
around the code under test, in one place so that each of them starts it the same way.

- brokers.py: which MQTT broker a test gets, and which broker programs this machine has. The brokers, each of the
  one shape of broker_base.py: mosquitto.py (a private Mosquitto), amqtt_broker.py (amqtt in a thread or in the
  caller's event loop), conformance_brokers.py (private RabbitMQ and NATS processes); recorder.py, a recording
  subscriber; ports.py, free_port and wait_port.
- forwarder.py: Semtech UDP packet forwarders with the radio faked, asyncio and blocking.
- gateway.py: the real gateway relay in a thread, its settings, and real frames to feed it.
- ble.py: bleak scanner backends that are not an operating system's: the fake adapter the air model feeds and
  one on a bumble device (a virtual controller in tests).
- dispatch.py: the real dispatch service served by uvicorn on a free port in a thread.
- started.py: a with block for any of these helpers that has start() and stop().

Why "harness" and not "testing" or "fixtures": bench/, simulator/realtime/ and `nightwatch demo` use it as much
as tests/ does, and it holds no tests and no pytest fixtures, only the things they run against. It is a package
of its own, not part of tests/ (which is not installed, and which nothing outside tests/ imports) nor of
basestation/ (which ships to gateways and servers and carries no development backends). It is packaged in the
wheel because the installed `nightwatch demo` runs on it. Modules import only what they use, so the demo pulls
in no paho or uvicorn it does not need.
"""
