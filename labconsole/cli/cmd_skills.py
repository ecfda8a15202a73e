"""``labconsole skills check|list|install``: validate and install Agent Skills."""

from __future__ import annotations

import argparse
from pathlib import Path

from labconsole.errors import LabError
from labconsole.skills.format import SKILL_FILE, check_skill_dir, discover_skills, load_skill
from labconsole.skills.install import default_skills_root, install_skill


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("skills", help="validate, list and install agent skills (skills/<name>/SKILL.md)")
    p.add_argument("--root", type=Path, default=None, help="folder of skills (default: ./skills)")
    ss = p.add_subparsers(dest="skills_command", metavar="ACTION")

    c = ss.add_parser("check", help="validate skills; exit 1 when any is invalid")
    c.add_argument("paths", nargs="*", type=Path, help="skill folders or SKILL.md files (default: all)")
    c.set_defaults(func=_check)

    ls = ss.add_parser("list", help="list skills with their descriptions")
    ls.set_defaults(func=_list)

    i = ss.add_parser("install", help="copy a skill where a harness looks for skills")
    i.add_argument("name")
    h = i.add_mutually_exclusive_group(required=True)
    h.add_argument("--claude", dest="harness", action="store_const", const="claude")
    h.add_argument("--codex", dest="harness", action="store_const", const="codex")
    h.add_argument("--opencode", dest="harness", action="store_const", const="opencode")
    i.add_argument("--global", dest="global_", action="store_true", help="user scope instead of the project")
    i.add_argument("--project", type=Path, default=None, help="project folder (default: cwd)")
    i.set_defaults(func=_install)
    p.set_defaults(func=_help(p))


def _help(parser: argparse.ArgumentParser):
    def show(_: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    return show


def _root(args: argparse.Namespace) -> Path:
    return args.root or default_skills_root()


def _check(args: argparse.Namespace) -> int:
    paths = [p.parent if p.name == SKILL_FILE else p for p in args.paths] or discover_skills(_root(args))
    if not paths:
        raise LabError(f"no skills found under {_root(args)}")
    bad = 0
    for path in paths:
        problems = check_skill_dir(path)
        if problems:
            bad += 1
            for problem in problems:
                print(f"FAIL {problem}")
        else:
            print(f"ok   {path}")
    print(f"{len(paths) - bad}/{len(paths)} skills valid")
    return 1 if bad else 0


def _list(args: argparse.Namespace) -> int:
    for path in discover_skills(_root(args)):
        problems = check_skill_dir(path)
        if problems:
            print(f"{path.name:<20} INVALID ({len(problems)} problems; run `labconsole skills check`)")
            continue
        skill = load_skill(path)
        first = skill.description.splitlines()[0]
        print(f"{skill.name:<20} {first[:100]}")
    return 0


def _install(args: argparse.Namespace) -> int:
    dest = install_skill(args.name, args.harness, _root(args), project=args.project, global_=args.global_)
    print(f"installed {args.name} for {args.harness}: {dest}")
    return 0
