"""Every built-in rotator passes the rotator contract (broker.testing.RotatorContract) against
a stand-in of its registry's API that checks the vendor's documented request shapes."""

from __future__ import annotations

import pytest

from broker.testing import RotatorContract
from tests.support.vendors.artifactory import ArtifactoryStandIn
from tests.support.vendors.dockerhub import DockerHubStandIn
from tests.support.vendors.gitlab import GitLabStandIn
from tests.support.vendors.harbor import HarborStandIn
from tests.support.vendors.quay import QuayStandIn


@pytest.fixture(params=[HarborStandIn, QuayStandIn, GitLabStandIn, ArtifactoryStandIn,
                        DockerHubStandIn], ids=lambda cls: cls.rotator)
def vendor(request, tmp_path):
    stand_in = request.param(tmp_path)
    yield stand_in
    stand_in.stop()


class TestRotators(RotatorContract):
    pass
