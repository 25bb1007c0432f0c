import os

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
