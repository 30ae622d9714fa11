"""Only the optional C part lives here (pyproject.toml has everything else).

livegen/live/_jack_rt.c is the JACK process callback of the daemon's native client: a plain
shared library loaded with ctypes, no Python API and no JACK headers (see the file). It is built
where a C compiler is, on Linux; where the build fails the install goes on without it and the
daemon uses its Python callback (livegen.live.jack_rt says which one runs).
"""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

LIBRARY_FILE = "_jack_rt.so.0"  # livegen.live.jack_rt loads this name


class BuildJackRtLibrary(build_ext):
    """Names the library so that nothing takes it for a Python module: with an extension-module
    suffix, tools that import every module of the package (pkgutil, the runtime-imports test)
    failed on it ("does not define module export function"), since it has no Python API."""

    def get_ext_filename(self, fullname: str) -> str:
        filename = super().get_ext_filename(fullname)
        if fullname.split(".")[-1] == "_jack_rt":
            return os.path.join(os.path.dirname(filename), LIBRARY_FILE)
        return filename


jack_rt = Extension(
    "livegen.live._jack_rt",
    sources=["livegen/live/_jack_rt.c"],
    libraries=["dl", "pthread"],
    extra_compile_args=["-O2", "-std=gnu11", "-Wall"],
    optional=True,  # no compiler: installed without it, not failed
)

setup(
    ext_modules=[jack_rt] if sys.platform.startswith("linux") else [],
    cmdclass={"build_ext": BuildJackRtLibrary},
)
