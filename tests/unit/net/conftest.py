from __future__ import annotations

import logging

import pytest

from chainnode.net.testing import Cluster, LocalPKI


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    return LocalPKI(tmp_path_factory.mktemp("net-pki"))


@pytest.fixture
async def cluster(pki, caplog):
    caplog.set_level(logging.DEBUG, logger="chainnode.net")
    c = Cluster(pki)
    yield c
    await c.close()
