"""Nightwatch wire protocol v1: one codec for the key ring (MicroPython) and the server (CPython).

SPEC.md beside this file is normative. Modules: ``constants`` (numbers from the spec), ``crypto`` (the AES
shim), ``keys`` (key derivation and AES input blocks), ``uplink`` and ``ack`` (the two frames), ``replay`` (the
server's counter window, which the test vectors also run on the key ring's runtime). Only what both runtimes run
lives here: the server's pseudonym lookup is ``basestation.pseudonyms``, the vector generator ``harness.make_vectors``.
"""
