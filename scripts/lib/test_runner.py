"""The runner of the repository's own Python tests (scripts/lint-deploy/test_chart.py and
scripts/lint-delivery/test_checks.py): every `test_` function of a module, one line each, then
"N passed, N failed"; the exit status is 1 when any failed. Not pytest: the lint venvs hold only
what the checks need, and a test file stays a script anyone can run.
"""

import traceback


def run(namespace, expected=(AssertionError,)):
    """Runs the `test_` functions of `namespace` (a test module's `globals()`) and returns the exit
    status. A failure of an `expected` kind is shown by its message, any other by its traceback."""
    tests = [(n, f) for n, f in namespace.items() if n.startswith("test_") and callable(f)]
    passed = failed = 0
    for name, fn in tests:
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - report every kind of failure the same way
            failed += 1
            detail = str(e) if isinstance(e, expected) else traceback.format_exc()
            print(f"FAIL {name}: {detail}")
        else:
            passed += 1
            print(f"ok   {name}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0
