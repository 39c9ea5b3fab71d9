"""Shared fixtures: what this machine has (torch, a CUDA GPU, the library), each missing piece a
skip with its reason (pytest -rs prints them)."""
import os
import sys

import pytest

try:  # an installed wheel first; else the source tree (python/), e.g. CI's CPU part
    import sparse_skeleton  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

try:
    import torch
except ImportError:
    torch = None


def gpu_unavailable_reason():
    if torch is None:
        return "no torch installed"
    if not torch.cuda.is_available():
        return "no GPU: torch.cuda.is_available() is False"
    import sparse_skeleton as sk
    try:
        sk.load()
    except OSError as e:
        return f"no library: {e}"
    return None


_REASON = gpu_unavailable_reason()


def pytest_report_header(config):
    if _REASON:
        return f"sparse_skeleton GPU tests: skipped ({_REASON})"
    import sparse_skeleton as sk
    return f"sparse_skeleton GPU tests on {sk.device_info(0)}, library {sk.library_path()}"


@pytest.fixture
def gpu():
    if _REASON:
        pytest.skip(_REASON)
    return torch.device("cuda", 0)


def pytest_terminal_summary(terminalreporter):
    if _REASON:
        terminalreporter.write_line(f"no GPU: skipped the GPU tests ({_REASON})")
