"""`python -m chalicelib`: operators' commands on the hub named by the environment.

python -m chalicelib replay                 list the dead letters and their reasons
python -m chalicelib replay all             replay every dead letter (through today's code)
python -m chalicelib replay ID [ID ...]     replay some
python -m chalicelib discard ID --reason …  drop one for good, saying why
python -m chalicelib sync                   queue what the sheet owes (rows added by hand)
"""

from __future__ import annotations

import argparse
import sys

from chalicelib import dead_letters
from chalicelib.bootstrap import get_hub
from chalicelib.errors import HubError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chalicelib", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    replay = sub.add_parser("replay", help="list or replay dead letters")
    replay.add_argument("ids", nargs="*", help="letter ids, or `all`; none lists them")
    discard = sub.add_parser("discard", help="drop a dead letter for good")
    discard.add_argument("id")
    discard.add_argument("--reason", required=True)
    sub.add_parser("sync", help="queue the marketing email of consenting rows never sent one")
    args = parser.parse_args(argv)

    try:
        hub = get_hub()
        if args.command == "replay" and not args.ids:
            letters = hub.dead_letters.list()
            for letter in letters:
                print(dead_letters.describe(letter))
            print(f"{len(letters)} dead letters")
        elif args.command == "replay":
            print(dead_letters.replay(hub.dead_letters, args.ids).summary())
        elif args.command == "discard":
            if not dead_letters.discard(hub.dead_letters, args.id, args.reason):
                print(f"no dead letter {args.id}", file=sys.stderr)
                return 1
            print(f"discarded {args.id}")
        elif args.command == "sync":
            print(f"queued {hub.sync_sheet()} marketing emails")
    except HubError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
