"""Nightwatch wire protocol v1: one codec for the key ring (MicroPython) and the server (CPython).

SPEC.md beside this file is normative. Modules: ``constants`` (numbers from the spec), ``crypto`` (the AES
shim), ``keys`` (key derivation and AES input blocks), ``uplink`` and ``ack`` (the two frames), ``replay`` (the
server's counter window). ``resolver`` and ``search`` are server-only (CPython, numpy).
"""
