"""Find the ONNX Runtime shared library of the installed onnxruntime package and load it into the core."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from .. import _core

MIN_VERSION = f"1.{_core.ort_api_version()}"  # ONNX Runtime release of the C API the core was built for


@functools.lru_cache(maxsize=None)
def library_path() -> str:
    """Path of libonnxruntime.so.* inside the onnxruntime (or onnxruntime-gpu) package."""
    spec = importlib.util.find_spec("onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("onnxruntime is not installed: pip install onnxruntime (or onnxruntime-gpu)")
    capi = Path(next(iter(spec.submodule_search_locations))) / "capi"
    found = sorted(capi.glob("libonnxruntime.so*"), key=lambda p: len(p.name), reverse=True)
    if not found:
        raise ImportError(f"no libonnxruntime.so in {capi}; reinstall onnxruntime >= {MIN_VERSION}")
    return str(found[0])


def ensure_loaded() -> None:
    """Load the runtime into the core once per process."""
    if not _core.runtime_loaded():
        _core.load_runtime(library_path())


def version() -> str:
    ensure_loaded()
    return _core.runtime_version()


def providers() -> list[str]:
    ensure_loaded()
    return _core.available_providers()


def kernels() -> str:
    """The core's kernel level in use, and those this CPU can run."""
    return (f"{_core.kernel_level()} (this CPU runs {', '.join(_core.kernel_levels())}; "
            f"SEQMAXENT_KERNELS=generic|avx2|avx512 forces a lower level)")
