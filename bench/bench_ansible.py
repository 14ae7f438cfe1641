"""Benchmark: roll the rhel9-guide preset out to 10 targets with the collection
(postfix_wizard.hardening.apply), and with the method of linux-system-roles/postfix (a
`postconf -e` task per parameter, the Dovecot side with lineinfile and blockinfile), both
through ansible-playbook, same machine, same run.

    python bench/bench_ansible.py [-n RUNS] [--targets N] [--forks N]

Each target is a private copy of Debian 12's stock Postfix and Dovecot files on this machine
(connection local), so both methods write files and reload nothing. The parameters and the
Dovecot lines the second method writes are the ones the wizard's own plan gives for that
preset, so both end with the same settings. Each run starts from fresh copies; the medians of
wall time are printed, with the ratio. What the collection does beyond the other method is not
timed apart: validation across fields and against the installed Postfix and Dovecot, the
diff, one backup set per target, all files written or none.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "debian12"
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

COLLECTION = """
- hosts: all
  gather_facts: false
  tasks:
    - postfix_wizard.hardening.apply:
        preset: rhel9-guide
        postfix_dir: "{{ dir }}/postfix"
        dovecot_dir: "{{ dir }}/dovecot"
        backup_dir: "{{ dir }}/backups"
        reload: false
        executable: "%s"
"""

SYSTEM_ROLES = """
- hosts: all
  gather_facts: false
  tasks:
    - name: main.cf, a postconf -e per parameter (linux-system-roles/postfix's way)
      ansible.builtin.command: postconf -c {{ dir }}/postfix -e '{{ item.key }}={{ item.value }}'
      loop: %s
    - name: Dovecot's mechanisms
      ansible.builtin.lineinfile:
        path: "{{ dir }}/dovecot/conf.d/10-auth.conf"
        regexp: '^auth_mechanisms ='
        line: "%s"
    - name: Dovecot's listener for Postfix
      ansible.builtin.blockinfile:
        path: "{{ dir }}/dovecot/conf.d/10-master.conf"
        insertafter: '^service auth \\{'
        block: |
%s
"""


def system_roles_playbook() -> str:
    """The same settings as the wizard's plan for rhel9-guide on Debian 12's files."""
    from wizard.settings import presets
    from wizard.change.plan import make_plan
    from wizard.server.state import Server
    server = Server.load(SAMPLE / "postfix", SAMPLE / "dovecot")
    plan = make_plan(server, presets.load(presets.find("rhel9-guide")).settings)
    auth = next(c for c in plan.changes if c.path.name == "10-auth.conf")
    mechanisms = next(line for line in auth.new.splitlines() if line.startswith("auth_mechanisms"))
    master = next(c for c in plan.changes if c.path.name == "10-master.conf")
    old, new = master.old.splitlines(), master.new.splitlines()
    start = next(i for i, (a, b) in enumerate(zip(old, new)) if a != b)
    block = new[start:start + len(new) - len(old)]
    items = [{"key": key, "value": value} for key, value in plan.main_cf.items()]
    return SYSTEM_ROLES % (json.dumps(items), mechanisms,
                           "\n".join("          " + line for line in block))


def fresh_targets(work: Path, count: int) -> None:
    shutil.rmtree(work / "targets", ignore_errors=True)
    hosts = {}
    for number in range(1, count + 1):
        target = work / "targets" / f"mx{number}"
        shutil.copytree(SAMPLE / "postfix", target / "postfix")
        shutil.copytree(SAMPLE / "dovecot", target / "dovecot")
        hosts[f"mx{number}"] = {"ansible_connection": "local",
                                "ansible_python_interpreter": sys.executable, "dir": str(target)}
    (work / "inventory.json").write_text(json.dumps({"all": {"hosts": hosts}}))


def run(work: Path, playbook: str, forks: int, collections: Path) -> float:
    (work / "play.yml").write_text(playbook)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_NOCOLOR="1",
               PATH=os.pathsep.join([str(BIN), os.environ.get("PATH", ""), "/usr/sbin"]))
    start = time.perf_counter()
    result = subprocess.run([BIN / "ansible-playbook", "-i", "inventory.json", "play.yml",
                             "-f", str(forks)], cwd=work, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"ansible-playbook failed:\n{result.stdout[-3000:]}{result.stderr}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=5)
    parser.add_argument("--targets", type=int, default=10)
    parser.add_argument("--forks", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        work = Path(temp)
        subprocess.run([BIN / "ansible-galaxy", "collection", "build", ROOT / "ansible",
                        "--output-path", work], check=True, capture_output=True)
        subprocess.run([BIN / "ansible-galaxy", "collection", "install",
                        next(work.glob("*.tar.gz")), "-p", work / "collections"],
                       check=True, capture_output=True)
        methods = {"collection (postfix_wizard.hardening.apply)":
                   COLLECTION % (BIN / "postfix-wizard"),
                   "postconf -e per parameter + lineinfile/blockinfile": system_roles_playbook()}
        times: dict[str, list[float]] = {name: [] for name in methods}
        for _ in range(args.runs):
            for name, playbook in methods.items():
                fresh_targets(work, args.targets)
                times[name].append(run(work, playbook, args.forks, work / "collections"))
    print(f"rhel9-guide to {args.targets} targets, forks {args.forks}, {args.runs} runs each "
          "(medians of wall time)")
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, median in medians.items():
        print(f"  {name:<55} {median:6.2f} s")
    ours, theirs = medians.values()
    print(f"  collection / postconf method: {ours / theirs:.2f}x "
          "(target: not slower, 1.00x or less)")


if __name__ == "__main__":
    main()
