"""`privacy deny`, `privacy denylist` and the denylist `privacy check-window` consults.

The `privacy` group itself (`check`, `check-window`) lives in privacy/check.py and needs
no home; the commands here read the person's home: their own additions
(``denylist.toml``) and the organisation's, from the last accepted fleet policy.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from agent.cli.common import EXIT_USAGE
from agent.cli.common import home as _home
from agent.cli.common import out as _out
from agent.errors import UsageError
from privacy.denylist import CUSTOM, Denylist, DenyRule, default_rules


def denylist_in_force() -> Denylist:
    """The shipped list, the policy's entries (last accepted policy) and the person's."""
    from agent.runtime.consent import ConsentRuntime
    from privacy.person_denylist import load_person_rules

    paths, config = _home()
    policy = ConsentRuntime(paths, config).policy
    org = policy.denylist.as_entries() if policy is not None else []
    denylist = Denylist()
    denylist.set_additions(org, load_person_rules(paths.person_denylist))
    denylist.set_policy_from(policy.denylist if policy is not None else None)
    return denylist


def _title_text(pattern: str) -> str:
    """A title pattern as it is written in a denylist file: plain text, or ``re:...``."""
    plain = re.sub(r"\\(.)", r"\1", pattern)
    return plain if re.escape(plain) == pattern else f"re:{pattern}"


def _rule_dict(rule: DenyRule) -> dict[str, Any]:
    return {
        "category": rule.category,
        "apps": sorted(rule.apps),
        "titles": [_title_text(p.pattern) for p in rule.titles],
        "domains": list(rule.domains),
    }


def cmd_deny(args: argparse.Namespace) -> int:
    """Add an entry to your own denylist: windows that are never recorded."""
    from privacy.person_denylist import append_entry

    if not (args.app or args.title or args.domain):
        raise UsageError("give at least one of --app, --title, --domain")
    paths, _ = _home()
    rule = append_entry(
        paths.person_denylist,
        apps=args.app or [],
        titles=args.title or [],
        domains=args.domain or [],
        category=args.category,
    )
    if args.json:
        _out(json.dumps({"added": _rule_dict(rule), "file": str(paths.person_denylist)}))
        return 0
    _out(f"added to {paths.person_denylist}; a running agent applies it within seconds")
    _out("nothing of such windows is recorded from then on: no input, no frames, no title")
    return 0


def _holder(kind: str, value: str, shipped: list[DenyRule], org: list[DenyRule]) -> str | None:
    """Which list other than the person's holds ``value`` ('the list shipped ...'), if any."""
    from privacy.errors import DenylistError

    try:  # the value normalised as the lists hold it (app names, sites)
        probe = DenyRule.from_mapping({f"{kind}s": [value]})
    except DenylistError:
        return None
    lists = (("your organisation's list", org), ("the list shipped with the agent", shipped))
    for name, rules in lists:
        for rule in rules:
            if (
                probe.apps & rule.apps
                or set(probe.domains) & set(rule.domains)
                or (kind == "title" and value in [_title_text(t.pattern) for t in rule.titles])
            ):
                return name
    return None


def cmd_allow(args: argparse.Namespace) -> int:
    """Take back entries of your own denylist (never the organisation's or the shipped ones)."""
    from privacy.person_denylist import remove_values

    if not (args.app or args.title or args.domain):
        raise UsageError("give at least one of --app, --title, --domain to take back")
    paths, _ = _home()
    removed, missing = remove_values(
        paths.person_denylist,
        apps=args.app or [],
        titles=args.title or [],
        domains=args.domain or [],
    )
    refused: list[str] = []
    still: list[str] = []
    denylist = denylist_in_force()
    shipped = default_rules()
    org = list(denylist.org_rules[len(shipped) :])
    for item in missing:
        kind, value = item.split(" ", 1)
        holder = _holder(kind, value, shipped, org)
        refused.append(
            f"{item}: on {holder}; only your own entries can be taken back"
            if holder
            else f"{item}: not on your denylist (`capture-agent privacy denylist` shows it)"
        )
    for item in removed:
        kind, value = item.split(" ", 1)
        if holder := _holder(kind, value, shipped, org):
            still.append(f"{item} is still denied: it is on {holder} too")
    if args.json:
        body = {"removed": removed, "still_denied": still, "refused": refused}
        _out(json.dumps({**body, "file": str(paths.person_denylist)}))
    else:
        if removed:
            _out(
                f"removed from {paths.person_denylist}: {'; '.join(removed)}; a running agent "
                "applies it within seconds"
            )
        for line in still:
            _out(f"note: {line}")
        for line in refused:
            sys.stderr.write(f"capture-agent: not removed: {line}\n")
    return EXIT_USAGE if refused else 0


def cmd_deny_or_remove(args: argparse.Namespace) -> int:
    """`privacy deny`, or with ``--remove`` the same as `privacy allow`."""
    return cmd_allow(args) if args.remove else cmd_deny(args)


def cmd_denylist(args: argparse.Namespace) -> int:
    """Show every denylist in force: shipped, your organisation's and your own."""
    denylist = denylist_in_force()
    shipped = default_rules()
    org = list(denylist.org_rules[len(shipped) :])
    person = list(denylist.person_rules)
    judge = denylist.classifier
    taxonomy_rows: list[dict[str, Any]] = [
        {
            "category": c.name,
            "enforced": c.name in judge.enforced,
            "floor": c.floor,
            "covers": c.about,
        }
        for c in judge.taxonomy.categories
    ]
    if args.json:
        _out(
            json.dumps(
                {
                    "categories": taxonomy_rows,
                    "packs": list(judge.taxonomy.packs),
                    "work_domains": ["".join(d) for d in judge.work_domains],
                    "url_detail": denylist.url_detail,
                    "shipped": [_rule_dict(r) for r in shipped],
                    "organisation": [_rule_dict(r) for r in org],
                    "yours": [_rule_dict(r) for r in person],
                },
                indent=2,
            )
        )
        return 0
    enforced = [str(c["category"]) for c in taxonomy_rows if c["enforced"]]
    off = [str(c["category"]) for c in taxonomy_rows if not c["enforced"]]
    _out(
        f"categories never recorded: {', '.join(enforced)}"
        + (f" (your organisation turned off: {', '.join(off)})" if off else "")
        + f"; language packs {', '.join(judge.taxonomy.packs)}"
    )
    if judge.work_domains:
        _out("your organisation's work sites: " + ", ".join("".join(d) for d in judge.work_domains))
    categories: dict[str, int] = {}
    for rule in shipped:
        categories[rule.category] = categories.get(rule.category, 0) + 1
    _out(
        f"shipped with the agent: {len(shipped)} entries ("
        + ", ".join(f"{c} {n}" for c, n in sorted(categories.items()))
        + "); `--json` lists them"
    )
    for title, rules in (("your organisation's (fleet policy)", org), ("yours", person)):
        _out(f"{title}: {len(rules) or 'none'}")
        for rule in rules:
            parts = [
                f"{k} {', '.join(v)}" for k, v in _rule_dict(rule).items() if k != "category" and v
            ]
            _out(f"  [{rule.category}] " + "; ".join(parts))
    _out(
        "add your own with `capture-agent privacy deny`, take yours back with "
        "`capture-agent privacy allow`; nobody can remove the shipped or the organisation's"
    )
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `privacy` group: `check` and `check-window` (privacy/check.py, no home
    needed), then `deny` and `denylist`, which read the person's home."""
    from privacy.check import register_cli

    privacy_sub = register_cli(sub, denylist_loader=denylist_in_force)
    from agent.cli.browser_host import register as register_browser_host

    register_browser_host(privacy_sub)
    p = privacy_sub.add_parser(
        "deny",
        help="never record windows of an app, title or site (your own denylist)",
        description=(cmd_deny.__doc__ or "") + " Repeat an option to list several; the entry is "
        "added to denylist.toml in your capture home, which you may also edit by hand.",
        epilog='example: capture-agent privacy deny --app signal --title "re:^Journal"',
    )
    p.add_argument(
        "--app",
        action="append",
        metavar="NAME",
        help="WM_CLASS, process name or macOS bundle id (exact, any case)",
    )
    p.add_argument(
        "--title",
        action="append",
        metavar="PATTERN",
        help="window-title text (any case), or a regular expression after re:",
    )
    p.add_argument(
        "--domain",
        action="append",
        metavar="SITE",
        help="a site as it appears in browser titles or URLs (example.test)",
    )
    p.add_argument(
        "--category",
        default=CUSTOM,
        help=f"a short lowercase word for your own bookkeeping (default {CUSTOM}); "
        "never stored with recordings",
    )
    p.add_argument(
        "--remove",
        action="store_true",
        help="take these values back out of your own denylist (same as `privacy allow`)",
    )
    p.add_argument("--json", action="store_true", help="print the added entry as JSON")
    p.set_defaults(func=cmd_deny_or_remove)
    p = privacy_sub.add_parser(
        "allow",
        help="take back entries of your own denylist (not the shipped or the organisation's)",
        description=(cmd_allow.__doc__ or "")
        + " Give the values as you gave them to `privacy deny`; an entry left with "
        "nothing goes whole. Exit 2 when a value is not yours to remove.",
        epilog="example: capture-agent privacy allow --app signal",
    )
    p.add_argument("--app", action="append", metavar="NAME", help="an app you denied")
    p.add_argument("--title", action="append", metavar="PATTERN", help="a title you denied")
    p.add_argument("--domain", action="append", metavar="SITE", help="a site you denied")
    p.add_argument("--json", action="store_true", help="print what was removed as JSON")
    p.set_defaults(func=cmd_allow)
    p = privacy_sub.add_parser(
        "denylist", help="show every denylist in force", description=cmd_denylist.__doc__
    )
    p.add_argument("--json", action="store_true", help="print every entry as JSON")
    p.set_defaults(func=cmd_denylist)
