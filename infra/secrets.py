"""`make secrets STAGE=… [FILE=…]`: store the stage's secrets as SSM SecureStrings.

Each secret goes to `/chocohub/<stage>/<NAME>` (encrypted with the account's SSM key).
Values come from a local `KEY=VALUE` file (keep it out of the repository), or are asked
for, without echo, for each secret not yet stored; an empty answer skips one. Values are
never printed: the summary lists names only, and what is still missing.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from chalicelib import names
from chalicelib.parameters import REQUIRED, SECRETS
from infra.package import read_env_file


def stored_names(ssm: Any, stage: str) -> set[str]:
    found: set[str] = set()
    path = names.parameter_path(stage)
    for page in ssm.get_paginator("get_parameters_by_path").paginate(Path=path, Recursive=False):
        found.update(p["Name"][len(path) :] for p in page["Parameters"])
    return found


def store(ssm: Any, stage: str, values: dict[str, str]) -> list[str]:
    """Write each value as a SecureString (replacing an older one); returns the names written."""
    unknown = sorted(set(values) - set(SECRETS))
    if unknown:
        raise SystemExit(f"not secrets the hub reads: {', '.join(unknown)} (secrets: {', '.join(SECRETS)})")
    for name, value in values.items():
        ssm.put_parameter(
            Name=names.parameter_path(stage) + name, Value=value, Type="SecureString", Overwrite=True, Tier="Standard"
        )
    return sorted(values)


def ask(missing: list[str]) -> dict[str, str]:
    values = {}
    for name in missing:
        value = getpass.getpass(f"{name} (empty to skip): ").strip()
        if value:
            values[name] = value
    return values


def main(argv: list[str] | None = None) -> None:
    import boto3

    parser = argparse.ArgumentParser(prog="make secrets", description=__doc__)
    parser.add_argument("stage")
    parser.add_argument("--file", type=Path, help="KEY=VALUE lines (GOOGLE_SERVICE_ACCOUNT may be a path to the key)")
    args = parser.parse_args(argv)
    if not names.valid_stage(args.stage):
        raise SystemExit(f"stage {args.stage!r}: lower-case letters, digits and dashes")
    ssm = boto3.client("ssm")
    if args.file:
        values = read_env_file(args.file.expanduser())
        account = values.get("GOOGLE_SERVICE_ACCOUNT", "")
        if account and not account.lstrip().startswith("{"):
            values["GOOGLE_SERVICE_ACCOUNT"] = Path(account).expanduser().read_text(encoding="utf-8")
    elif sys.stdin.isatty():
        have = stored_names(ssm, args.stage)
        values = ask([n for n in SECRETS if n not in have])
    else:
        values = {}
    written = store(ssm, args.stage, values)
    have = stored_names(ssm, args.stage)
    path = names.parameter_path(args.stage)
    print(f"stored now under {path}: {', '.join(written) or '(nothing)'}")
    print(f"present: {', '.join(sorted(have & set(SECRETS))) or '(none)'}")
    required = [n for n in REQUIRED if n not in have]
    optional = [n for n in SECRETS if n not in have and n not in REQUIRED]
    if required:
        print(f"still missing, required: {', '.join(required)}")
    if optional:
        print(f"not set, optional: {', '.join(optional)}")
    if required:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
