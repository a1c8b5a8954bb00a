"""Build configuration beyond pyproject.toml: the optional C accelerator `ledger._speedups`.

`optional=True`: where it cannot be compiled or linked (no C compiler, no OpenSSL headers or
libcrypto), setuptools warns and installs without it, and the pure-Python ledger runs.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "ledger._speedups",
            sources=["ledger/_speedups.c"],
            libraries=["crypto"],
            optional=True,
        )
    ]
)
