import os

# Under pytest-xdist each worker gets one core's worth of threads: two workers that each start
# a BLAS or torch thread per core fight over the cores and run slower than one would alone.
# Set before NumPy or torch is first imported, which reads them once.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_name, "1")

import pytest
from hypothesis import settings

# CI runs the same examples every time (a red build can be reproduced); a developer's runs
# explore new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def pytest_addoption(parser):
    parser.addoption(
        "--overwrite",
        action="store_true",
        help="create or rewrite the expected outputs (tests/golden, tests/bad/*.err, docs/errors.md, docs/*.svg) "
        "from the current output; review the diff before committing. Without it a missing one fails.",
    )


@pytest.fixture
def overwrite(request):
    return request.config.getoption("--overwrite")


def pytest_collection_finish(session):
    """Move everything alive after collection (torch, Keras and the test modules: millions of
    objects) out of the garbage collector's reach. Each full collection otherwise walks them
    all, a second each on this machine, and test_peak_memory collects before every trace."""
    import gc

    gc.collect()
    gc.freeze()
