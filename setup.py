"""The one compiled part, and an optional one: the traffic reader's hot loop
(wizard/traffic/_scan.c), built against CPython's limited API of 3.9 so that one wheel (cp39-abi3)
serves Python 3.9 and every later version. `optional=True`: where it cannot be compiled (a server
without a C compiler or Python's headers) the install still succeeds, and the reader uses the same
scanner in Python (wizard/traffic/pyscan.py), slower; `postfix-wizard --version` says which one
runs. Everything else about the package is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[Extension("wizard.traffic._scan", ["wizard/traffic/_scan.c"], optional=True,
                           py_limited_api=True, define_macros=[("Py_LIMITED_API", "0x03090000")],
                           extra_compile_args=["-O2", "-Wall"])],
    options={"bdist_wheel": {"py_limited_api": "cp39"}},
)
