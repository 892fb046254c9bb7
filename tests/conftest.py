"""Shared fixtures. Tests run on a CPU without network; data-dependent tests skip when the data is absent."""
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The benchmark data directory (RLVR_ZOO_DATA_DIR), or skip with the reason."""
    value = os.environ.get("RLVR_ZOO_DATA_DIR")
    if not value:
        pytest.skip("RLVR_ZOO_DATA_DIR is not set: benchmark data tests need the local JSON lines files "
                    "(CI passes ../shared/data)")
    path = Path(value)
    if not path.is_dir():
        pytest.skip(f"RLVR_ZOO_DATA_DIR={value} is not a directory")
    return path


@pytest.fixture
def one_torch_thread():
    """Tiny-model tests are dominated by small ops: one intra-op thread avoids OpenMP oversubscription on a shared
    2-core machine (about 3x faster measured under load). The previous setting is restored afterwards."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
