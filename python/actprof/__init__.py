"""actprof's Python side: the library binding (actprof._lib) and, in
actprof.torch, live profiles of a running PyTorch model."""

from ._lib import Error, Profile  # noqa: F401
