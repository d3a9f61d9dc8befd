"""Run every ``test_*`` function of the named test modules; exit 1 if any fails. Works on both runtimes:
``micropython tests/firmware/mp/mprun.py tests.firmware.mp.test_fw_press`` (with MICROPYPATH set to the
repository root and ``.frozen``)."""

import sys


def main(names) -> int:
    failed = 0
    ran = 0
    for name in names:
        __import__(name)
        mod = sys.modules[name]
        for attr in sorted(dir(mod)):
            if not attr.startswith("test_"):
                continue
            fn = getattr(mod, attr)
            ran += 1
            try:
                fn()
            except Exception as e:  # report every failure, not just the first
                failed += 1
                print("FAIL", name + "." + attr, type(e).__name__, e)
                if hasattr(sys, "print_exception"):
                    sys.print_exception(e)  # type: ignore[attr-defined]
    print("ran", ran, "failed", failed)
    return 1 if failed or not ran else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
