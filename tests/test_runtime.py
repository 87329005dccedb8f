"""Loading ONNX Runtime: the installed package's library, and clear errors for anything else."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import pytest

import seqmaxent as sm
from seqmaxent.network import runtime
FAKE_RUNTIME = textwrap.dedent("""
    // Exports OrtGetApiBase like ONNX Runtime 1.16: it knows no API version newer than 16.
    struct OrtApiBase {
      const void* (*GetApi)(unsigned version);
      const char* (*GetVersionString)();
    };
    static const void* get_api(unsigned version) { return version <= 16 ? (const void*)1 : nullptr; }
    static const char* version_string() { return "1.16.3"; }
    static OrtApiBase base = {get_api, version_string};
    extern "C" const OrtApiBase* OrtGetApiBase() { return &base; }
""")


def load_in_subprocess(path: str) -> subprocess.CompletedProcess:
    code = f"from seqmaxent import _core\n_core.load_runtime({path!r})"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_installed_runtime_is_loaded():
    assert runtime.version().startswith("1.")
    assert "CPUExecutionProvider" in runtime.providers()


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++ to build a fake runtime")
def test_too_old_runtime_says_which_version_is_needed(tmp_path):
    (tmp_path / "fake.cpp").write_text(FAKE_RUNTIME)
    lib = tmp_path / "libonnxruntime.so.1.16.3"
    subprocess.run(["g++", "-shared", "-fPIC", "-o", str(lib), str(tmp_path / "fake.cpp")], check=True)
    out = load_in_subprocess(str(lib))
    assert out.returncode == 1
    assert "onnxruntime 1.16.3 is too old: seqmaxent needs onnxruntime >= 1.21" in out.stderr


def test_not_a_runtime_library(tmp_path):
    out = load_in_subprocess(str(tmp_path / "missing.so"))
    assert out.returncode == 1 and "cannot load ONNX Runtime from" in out.stderr
    out = load_in_subprocess(sm._core.__file__)  # a shared library, but not ONNX Runtime
    assert out.returncode == 1 and "not an ONNX Runtime library" in out.stderr


def test_a_second_runtime_is_refused():
    runtime.ensure_loaded()
    with pytest.raises(RuntimeError, match="already loaded from"):
        sm._core.load_runtime("/elsewhere/libonnxruntime.so")
