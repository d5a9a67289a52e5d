"""`make package` for two stages, once per test session, into a temporary folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

STAGES = ("dev", "prod")


@pytest.fixture(scope="session")
def packaged(tmp_path_factory) -> dict[str, Path]:
    """The folder of each stage's package (merge.json, sam.json, deployment.zip)."""
    from infra.package import package

    return {stage: package(stage, tmp_path_factory.mktemp(f"build-{stage}")).parent for stage in STAGES}


@pytest.fixture(scope="session")
def sam(packaged) -> dict[str, dict[str, Any]]:
    return {stage: json.loads((folder / "sam.json").read_text()) for stage, folder in packaged.items()}
