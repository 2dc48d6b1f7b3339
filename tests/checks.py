"""checks.py — what the Python test scripts share: a PASS or FAIL line per check, and at the
end the summary line ('N passed, M failed') and the exit status (1 on any failure).

    sys.path.insert(0, <this folder>); from checks import check, finish
"""
import sys

passed, failed = 0, 0


def check(ok, what, detail=""):
    global passed, failed
    passed, failed = passed + bool(ok), failed + (not ok)
    print(f"{'PASS' if ok else 'FAIL'}  {what}{'' if ok else '  ' + str(detail)[:2000]}")


def finish():
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
