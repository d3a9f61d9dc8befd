"""``const`` for the modules that run on both runtimes, which would otherwise each carry the same fallback.

MicroPython's compiler folds ``NAME = const(value)`` by its syntax, whichever module ``const`` came from: the
value goes into the bytecode, and a name that starts with an underscore takes no room in the module at all.
CPython has no ``micropython`` module; there ``const`` returns its argument.
"""

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:

    def const(x):  # CPython: the same, except that the stub's argument is positional-only
        return x
