import pytest


def pytest_addoption(parser):
    parser.addoption("--overwrite", action="store_true", help="rewrite golden files from the current output")


@pytest.fixture
def overwrite(request):
    return request.config.getoption("--overwrite")
