"""The one compiled part: the traffic reader's hot loop (wizard/traffic/_scan.c), built against
CPython's limited API so that one wheel serves Python 3.11 and every later version. Everything
else about the package is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[Extension("wizard.traffic._scan", ["wizard/traffic/_scan.c"],
                           py_limited_api=True, extra_compile_args=["-O2", "-Wall"])],
    options={"bdist_wheel": {"py_limited_api": "cp39"}},
)
