"""Only the optional C part lives here (pyproject.toml has everything else).

livegen/live/_jack_rt.c is the JACK process callback of the daemon's native client: a plain
shared library loaded with ctypes, no Python API and no JACK headers (see the file). It is built
where a C compiler is, on Linux; where the build fails the install goes on without it and the
daemon uses its Python callback (livegen.live.jack_rt says which one runs).
"""

import sys

from setuptools import Extension, setup

jack_rt = Extension(
    "livegen.live._jack_rt",
    sources=["livegen/live/_jack_rt.c"],
    libraries=["dl", "pthread"],
    extra_compile_args=["-O2", "-std=gnu11", "-Wall"],
    optional=True,  # no compiler: installed without it, not failed
)

setup(ext_modules=[jack_rt] if sys.platform.startswith("linux") else [])
