"""Build configuration beyond pyproject.toml: the optional C extension.

`ledger._speedups`, the ledger's byte kernels (ledger/_accel.py), built against Python's stable ABI
(3.11 and later) with SHA-256 from OpenSSL's libcrypto; the rules and the engine are Python only.
`optional=True`: where it cannot be compiled or linked (no C compiler, no OpenSSL headers or
libcrypto), setuptools warns and installs without it, and the pure-Python twins run.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "ledger._speedups",
            sources=["ledger/_speedups.c"],
            libraries=["crypto"],
            py_limited_api=True,
            optional=True,
        ),
    ]
)
