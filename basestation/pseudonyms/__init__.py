"""The server's half of frame lookup (CPython, numpy): which ring a pseudonym belongs to.

``resolver`` keeps each ring's expected pseudonyms in a ``table``; ``search`` sweeps counters in bulk when a
ring sent many frames nobody heard. The key ring never runs these; what it runs is in ``protocol/``.
"""
