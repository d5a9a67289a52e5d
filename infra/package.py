"""`make package STAGE=…`: the stage's deploy template and Lambda zip, under `build/<stage>/`.

Runs offline apart from pip (Chalice downloads the Lambda wheels, cached under
`.chalice/deployments/`): the merge template is written from the code's own numbers
(`infra.template`), then `chalice package --merge-template` merges it into Chalice's.
The stage's non-secret settings come from `infra/stages/<stage>.env` when it exists;
a secret found there is refused (secrets live in SSM: `make secrets`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from chalicelib.parameters import SECRETS
from infra.template import ROOT, merge_template

# Set by the template itself; a stage file may not change them.
TEMPLATE_OWNED = ("HUB_TABLE", "HUB_STAGE", "HUB_BATCH_FAILURES", "AWS_LAMBDA_FUNCTION_NAME")
# Lambda's Python runtime provides these: packaging them would only grow the zip.
PROVIDED_BY_LAMBDA = ("boto3/", "botocore/", "s3transfer/")


def read_env_file(path: Path) -> dict[str, str]:
    """`KEY=VALUE` lines (`#` starts a comment line; spaces around `=` are ignored)."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"{path}:{number}: expected KEY=VALUE")
        values[key.strip()] = value.strip()
    return values


def stage_settings(stage: str, path: Path | None = None) -> dict[str, str]:
    """The stage's non-secret settings (`infra/stages/<stage>.env`); none if absent."""
    path = path or ROOT / "infra" / "stages" / f"{stage}.env"
    if not path.exists():
        return {}
    settings = read_env_file(path)
    for key in settings:
        if key in SECRETS:
            raise SystemExit(f"{path}: {key} is a secret: store it with `make secrets STAGE={stage}`")
        if key in TEMPLATE_OWNED:
            raise SystemExit(f"{path}: {key} is set by the template itself")
    return settings


def package(stage: str, out: Path) -> Path:
    """Write `merge.json`, `sam.json` and `deployment.zip` into `out`; returns `sam.json`."""
    out.mkdir(parents=True, exist_ok=True)
    merge = out / "merge.json"
    merge.write_text(json.dumps(merge_template(stage, settings=stage_settings(stage)), indent=1), encoding="utf-8")
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"}
    chalice = Path(sys.executable).parent / "chalice"
    subprocess.run(
        [str(chalice), "package", "--stage", stage, "--merge-template", str(merge), str(out)],
        cwd=ROOT,
        env=env,
        check=True,
    )
    with zipfile.ZipFile(out / "deployment.zip") as zf:
        bundled = sorted({n.split("/")[0] for n in zf.namelist() if n.startswith(PROVIDED_BY_LAMBDA)})
    if bundled:
        raise SystemExit(
            f"{', '.join(bundled)} ended up in the zip: Lambda provides them; keep them out of requirements.txt"
        )
    return out / "sam.json"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="make package", description=__doc__)
    parser.add_argument("stage")
    parser.add_argument("--out", type=Path, help="default: build/<stage>")
    args = parser.parse_args(argv)
    sam = package(args.stage, args.out or ROOT / "build" / args.stage)
    print(f"wrote {sam} and {sam.parent / 'deployment.zip'}")


if __name__ == "__main__":
    main()
