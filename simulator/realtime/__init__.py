"""Real-time mode of the simulator (docs/simulator.md, "Real time").

The city of a scenario drives the real system on the wall clock: key rings run the real firmware logic on the
fakes of firmware/fakes.py, their frames cross the radio model (waited out in real time) to the real gateway relay
code (fed through the Semtech UDP protocol and a fake BLE adapter), which publishes to a real broker; the real
dispatch service pushes to simulated responders over its live stream, and its ACKs travel back to the rings.
Every hop is timestamped on one clock.
"""
