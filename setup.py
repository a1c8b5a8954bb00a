"""Build configuration beyond pyproject.toml: the optional C accelerators.

`ledger._speedups` (the ledger's hot loops, SHA-256 from OpenSSL's libcrypto),
`auction_engine._speedups` (the certificate verifier's text formatting, no library) and
`auction_engine._bidpath` (the engine's path for a valid English bid, no library).
`optional=True`: where one cannot be compiled or linked (no C compiler, no OpenSSL headers or
libcrypto), setuptools warns and installs without it, and the pure-Python code runs.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "ledger._speedups",
            sources=["ledger/_speedups.c"],
            libraries=["crypto"],
            optional=True,
        ),
        Extension(
            "auction_engine._speedups",
            sources=["auction_engine/_speedups.c"],
            depends=["auction_engine/_small_int.h"],
            optional=True,
        ),
        Extension(
            "auction_engine._bidpath",
            sources=["auction_engine/_bidpath.c"],
            depends=["auction_engine/_small_int.h"],
            optional=True,
        ),
    ]
)
