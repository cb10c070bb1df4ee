"""The `hil` command.

  hil check BENCH             validate a bench file and print what it describes, with
                              every UI recipe entry its adb phones may use that is not
                              yet verified on a real phone
  hil doctor --bench BENCH [--json PATH] [--artifacts DIR]
                              a live check of every device the bench names before a run
                              (lock, relay read-back, gateway SSH/tcpdump/nft/disk/clock,
                              phones, aircraft links, local disk); changes nothing it does
                              not restore, powers nothing; exit 1 when a check FAILed
  hil sim [BENCH] [--fault F] start a simulated bench and serve it until Ctrl-C,
                              printing the resolved bench file to use with --bench
  hil power on|off|cycle|status [TARGET] --bench BENCH
                              power an aircraft (NAME), its controller (NAME.controller)
                              or all; status lists every relay channel and its owner
  hil power mark TARGET on|off --bench BENCH
                              record what a person checked at the bench, for a button
                              device whose state nothing else can tell
  hil report RUN_DIR          the summary of a run (claims by aircraft, links to evidence),
                              rebuilt from its evidence JSON; writes RUN_DIR/index.html;
                              exit 1 when any claim did not pass
  hil phone dump PHONE --bench BENCH [--out DIR]
                              save an adb phone's screen (uiautomator hierarchy and a
                              screenshot) and list its elements, to record UI recipes
  hil analyze CAPTURE [--json] [--catalog FILE]
                              the flows of a capture, by upload bytes, with categories
  hil history [--last N] [--html PAGE] [--history DB]
                              the last runs indexed (a row a run, a column per model and
                              claim); --html: the offline trend page (verdict grid linking
                              to the evidence, bytes per category and destinations per
                              model across runs, version changes marked)
  hil history add RUN_DIR... [--history DB]
                              index run folders (idempotent; also runs stopped before their
                              end, and runs copied from other benches)
  hil gate CANDIDATE_RUN [--baseline RUN] [--policy FILE] [--json PATH] [--junit PATH]
           [--html PAGE] [--history DB]
                              the release gate, per model: every claim passed, nothing new
                              calls home, no category grew beyond the policy; exit 0 pass,
                              1 fail, 2 inconclusive
  hil gate accept RUN [--model M] [--history DB]
                              make RUN the baseline of its models (those whose claims all
                              passed); kept in the history database

Errors are one line naming the file and the key, exit status 2; no traceback.
Each command imports what it needs when it runs: `hil analyze` never loads the bench,
link and relay modules (pymavlink alone takes a fifth of a second to import).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

DEFAULT_BENCH = Path("benches/sim.toml")


def _harness_errors() -> tuple[type[Exception], ...]:
    """The harness's own errors, which a command reports as one line; imported only once
    one of them may have been raised."""
    from hil import kinds
    from hil.bench import BenchError
    from hil.link.base import LinkError
    from hil.lock import BenchBusy
    from hil.power.relay import RelayError
    from hil.power.state import StateUnknown
    from hil.remote.phone import AppError
    from hil.remote.recipe import RecipeError
    from hil.remote.ssh import SshError

    return (BenchError, LinkError, BenchBusy, RelayError, StateUnknown, kinds.Unavailable,
            RecipeError, AppError, SshError)


def _live_bench(path):
    """The bench in this file, whose devices are live: a simulated bench's template is
    refused, naming the command that starts it (its resolved file is live)."""
    from hil import bench as benchmod

    bench = benchmod.load(path)
    if bench.place is not None and os.environ.get("LG_PLACE"):  # labgrid's own variable
        import dataclasses

        bench = dataclasses.replace(bench, place=bench.place.with_place(os.environ["LG_PLACE"]))
    if bench.kind != "real":
        raise benchmod.BenchError(
            f"bench file {bench.path} is a {bench.kind} bench: start it with `hil sim "
            f"{bench.path}` and pass the resolved bench file it prints")
    return bench


def _check(args) -> int:
    from hil import bench as benchmod

    b = benchmod.load(args.bench)
    kind = {"real": "a real bench (live devices)",
            "sim": "a simulated bench (the harness starts its devices)",
            "netns": "a netns bench (simulated devices, a real gateway in network "
                     "namespaces)"}.get(b.kind, f"a {b.kind} bench")
    print(f"bench {b.name} ({b.path}): {kind}")
    if b.place is not None:
        from hil import place as pl

        wanted = b.place.wanted if (b.place.place or b.place.tags) else "--lg-place / $LG_PLACE"
        print(f"  labgrid: {wanted} at coordinator {b.place.coordinator or '$LG_COORDINATOR'}"
              f" (acquired when a run starts; values \"{pl.FILLED}\" below: from its "
              "resources)")
    print(f"  relay: {b.relay.driver} at {b.relay.url}, {b.relay.channels} channels")
    print(f"  gateway: {b.gateway.ssh.user}@{b.gateway.ssh.host}:{b.gateway.ssh.port} "
          f"({b.gateway.lan_interface}, {b.gateway.lan_subnet})")
    if b.host_addresses:
        print(f"  bench host: {', '.join(b.host_addresses)} (its traffic is control "
              "traffic, never judged)")
    owners = b.channel_owners()
    for name, a in b.aircraft.items():
        print(f"  aircraft {name}: {a.model.name}, phone {a.phone}, power ch{a.power.relay} "
              f"({a.power.sequence}), controller ch{a.controller.relay} "
              f"({a.controller.sequence}), link {a.link}")
    free = [str(c) for c in range(b.relay.channels) if c not in owners]
    print(f"  free relay channels: {', '.join(free) or 'none'}")
    for line in _recipe_lines(b):
        print(line)
    return 0


def _doctor(args) -> int:
    import time

    from hil import doctor

    bench = _live_bench(args.bench)
    print(f"doctor: bench {bench.name} ({bench.path})", flush=True)
    start = time.monotonic()
    checks = doctor.run(bench, say=lambda line: print(line, flush=True),
                        artifacts=Path(args.artifacts))
    failed = [c for c in checks if c.status == doctor.FAIL]
    print(f"doctor: {len(checks)} checks in {time.monotonic() - start:.1f} s: "
          f"{sum(c.status == doctor.OK for c in checks)} ok, {len(failed)} FAIL, "
          f"{sum(c.status == doctor.SKIP for c in checks)} skip")
    if args.json:
        Path(args.json).write_text(doctor.to_json(checks))
        print(f"written: {args.json}")
    return 1 if failed else 0


def _recipe_lines(b) -> list[str]:
    """Each adb phone's recipes, and every recipe entry not yet verified on a real phone
    (RecipeError for a recipe file that cannot be used)."""
    from hil.remote import adb

    out, listed = [], {}
    for p in b.phones.values():
        if p.backend != "adb":
            continue
        found = adb.recipes_of(p.options)
        recipes = found.all()
        have = ", ".join(f"{r.name} ({', '.join(r.versions) or 'a template: no versions'})"
                         for r in recipes if r.package == adb.PACKAGE) or "none"
        out.append(f"  phone {p.name}: adb {p.options.serial} (adb server port "
                   f"{p.options.adb_port}); recipes for {adb.PACKAGE}: {have}")
        for r in recipes:
            listed[r.path] = r
    for path, r in listed.items():
        todo = r.unverified()
        if not todo:
            continue
        out.append(f"  recipe {path}: {len(todo)} entries not verified on a real phone:")
        out += [f"    {e.key}" + (" (placeholder: not recorded yet)" if e.placeholder else "")
                for e in todo]
    return out


def _phone_dump(args) -> int:
    import time

    from hil import bench as benchmod
    from hil.remote import adb
    from hil.remote.phone import AppCannot

    bench = _live_bench(args.bench)
    phone = bench.phones.get(args.phone)
    if phone is None:
        raise benchmod.BenchError(f"bench file {bench.path}: no phone {args.phone!r}; phones: "
                                  f"{', '.join(bench.phones)}")
    if phone.backend != "adb":
        raise benchmod.BenchError(f"bench file {bench.path}: phone.{phone.name}.backend is "
                                  f"{phone.backend!r}: `hil phone dump` reads adb phones")
    app = adb.open_app(phone)
    app.connect()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{phone.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    nodes = app.dump("dump the screen")
    stem.with_suffix(".xml").write_text(app.last_dump)
    stem.with_suffix(".png").write_bytes(app.screenshot())
    print(f"app version: {app.version() or 'not installed'}; running: {app.running()}")
    try:
        r = app.recipe()
        on = [e.name for e in r.of("screens") if all(s.find(nodes) for s in
                                                     e.data["signature"])]
        dialogs = [e.name for e in r.of("dialogs") if all(s.find(nodes) for s in
                                                          e.data["signature"])]
        print(f"recipe {r.path}: screens matched: {', '.join(on) or 'none'}; dialogs: "
              f"{', '.join(dialogs) or 'none'}")
    except AppCannot as e:
        print(f"no recipe applies: {e}")
    for n in nodes:
        if n.get("resource-id") or n.get("text") or n.get("content-desc"):
            print(f"  {n}  bounds {list(n.bounds)}"
                  + (f" checked={n.get('checked')}" if n.get("checkable") == "true" else ""))
    print(f"written: {stem.with_suffix('.xml')}\nwritten: {stem.with_suffix('.png')}")
    return 0


def _sim(args) -> int:
    import logging
    import shutil
    import signal
    import threading

    from hil import bench as benchmod
    from hil import kinds

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    template = benchmod.load(args.bench)
    if template.kind == "real":
        raise benchmod.BenchError(f"bench file {template.path} is a real bench: nothing to "
                                  "simulate")
    sim = kinds.start(template, faults=tuple(args.fault) if args.fault else None)
    resolved = sim.resolved
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: a background job ignores it
        signal.signal(sig, lambda *_: stop.set())
    try:
        adb = [p for p in resolved.phones.values() if p.backend == "adb"]
        binary = "adb"
        if adb and not shutil.which("adb"):  # the one in the adbutils wheel
            from hil.sim.adbserver import adb_binary
            binary = adb_binary() or "adb"
        phones = "".join(f"#   phone {p.name}: ANDROID_ADB_SERVER_PORT={p.options.adb_port} "
                         f"{binary} -s {p.options.serial} shell pidof dji.go.v4\n"
                         for p in adb)
        print(f"# simulated bench {resolved.name} is up; use it with:\n"
              f"#   pytest --bench {sim.resolved_path}\n"
              + (f"# its Android phones, on the bench's own adb server (any adb client):\n"
                 f"{phones}" if adb else "")
              + "# Ctrl-C stops it.\n")
        print(sim.resolved_path.read_text(), flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


def _report(args) -> int:
    from hil import report

    summary = report.build(args.run_dir)
    out = Path(args.run_dir) / "index.html"
    out.write_text(report.html(summary, out.parent))
    print(report.text(summary) + f"written: {out}")
    return 1 if set(summary.counts()) - {"pass"} else 0


def _power(args) -> int:
    import getpass

    from hil.lock import BenchLock
    from hil.power.boards import open_board
    from hil.power.manual import BenchPower, devices

    bench = _live_bench(args.bench)
    if bench.place is not None and bench.relay.url == "labgrid":
        from hil import bench as benchmod

        raise benchmod.BenchError(
            f"bench file {bench.path}: hil power does not acquire labgrid places; acquire "
            "the place with labgrid-client, then give relay.url (labgrid-client -p PLACE "
            "show lists the relay's host and port)")
    if (args.action == "mark") != (args.state is not None):
        raise ValueError("hil power mark TARGET on|off: says what a person checked at the "
                         f"bench; `hil power {args.action}` takes no state")
    if args.action != "status":
        devices(bench, args.target)  # a bad TARGET fails before the bench is touched
    with BenchLock(bench.name, bench.relay.url).acquire(timeout=args.lock_timeout):
        board = open_board(bench.relay)
        power = BenchPower(bench, board)
        try:
            if args.action == "status":
                print("\n".join(power.status()))
            elif args.action == "cycle":
                power.cycle(args.target)
            elif args.action == "mark":
                power.mark(args.target, args.state == "on", args.by or getpass.getuser())
            else:
                power.set(args.target, args.action == "on")
        finally:
            power.close()
            board.close()
    return 0


def _analyze(args) -> int:
    import gc
    import os

    # A short-lived command whose objects form no cycles worth collecting: the cyclic
    # collector would only walk the modules being imported and the flows being built.
    gc.disable()
    if "numpy" not in sys.modules:
        # No linear algebra here: OpenBLAS's thread pool, started by numpy's import, would
        # only spin beside the analysis (import numpy: 426M instructions, 395M without).
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from hil.capture import report

    return report.run(args.capture, args.catalog, args.json)


def _history(args) -> int:
    import time

    from hil import history, runfolder

    if args.args and args.args[0] == "add":
        if len(args.args) < 2:
            raise ValueError("hil history add RUN_DIR...: give at least one run folder")
        refused = 0
        with history.History(args.history) as h:
            for d in args.args[1:]:
                try:
                    run = runfolder.load(d)
                except runfolder.RunFolderError as e:
                    print(f"hil: refused: {e}", file=sys.stderr)
                    refused += 1
                    continue
                print(f"{h.add(run)}: {run.id} ({run.path})"
                      + ("" if run.complete else " (stopped before its end)"))
        return 2 if refused else 0
    if args.args:
        raise ValueError(f"hil history {' '.join(args.args)}: unknown; `hil history`, "
                         "`hil history --html PAGE` or `hil history add RUN_DIR...`")
    with history.History(args.history) as h:
        print(history.text(h, args.last), end="")
        if args.html:
            from hil import trends

            start = time.monotonic()
            out = Path(args.html)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(trends.page(h, out, last=max(args.last, 60)))
            print(f"written: {out} ({time.monotonic() - start:.1f} s)")
    return 0


def _gate(args) -> int:
    import getpass

    from hil import gate, gatereport, history, policy, runfolder

    pol = policy.load(args.policy)
    if args.args[0] == "accept":
        if len(args.args) != 2:
            raise ValueError("hil gate accept RUN: give one run folder")
        run = runfolder.load(args.args[1])
        refused = 0
        with history.History(args.history) as h:
            h.add(run)
            for model in ([args.model] if args.model else run.models()):
                if model not in run.models():
                    raise ValueError(f"hil gate accept {run.path}: no {model} in this run; "
                                     f"models: {', '.join(run.models())}")
                checks = [gate.judge_model(model, run, None, pol).checks[i] for i in (0, 1)]
                bad = [c for c in checks if c.status != gate.PASS]
                if bad:
                    refused += 1
                    print(f"{model}: NOT accepted: " + "; ".join(
                        f"{c.name}: {c.message}" for c in bad))
                    continue
                h.accept(run, model, getpass.getuser())
                print(f"{model}: accepted {run.id} as the baseline (history {h.path})")
        return 1 if refused else 0
    if len(args.args) != 1:
        raise ValueError("hil gate CANDIDATE_RUN: give one run folder (or `hil gate accept "
                         "RUN`)")
    cand = runfolder.load(args.args[0])
    baselines: dict = {}
    if args.baseline:
        given = runfolder.load(args.baseline)
        baselines = {m: given for m in cand.models()}
    else:
        with history.History(args.history) as h:
            for m in cand.models():
                row = h.baseline(m)
                if row is None:
                    baselines[m] = None
                    continue
                try:
                    baselines[m] = runfolder.load(row.path)
                except runfolder.RunFolderError as e:
                    raise runfolder.RunFolderError(
                        f"the accepted baseline of {m} cannot be read: {e}; pass --baseline "
                        "RUN or accept another run") from None
    result = gate.judge(cand, baselines, pol)
    print(gatereport.text(result), end="")
    for path, render in ((args.json, gatereport.to_json), (args.junit, gatereport.junit)):
        if path:
            Path(path).write_text(render(result))
            print(f"written: {path}")
    if args.html:
        out = Path(args.html)
        out.write_text(gatereport.page(result, out))
        print(f"written: {out}")
    return result.exit_code


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hil", description="DJI privacy-claim bench harness")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="validate a bench file")
    c.add_argument("bench", type=Path)
    c.set_defaults(fn=_check)
    d = sub.add_parser("doctor", help="check every device of a bench, live, before a run")
    d.add_argument("--bench", type=Path, required=True)
    d.add_argument("--json", metavar="PATH", help="also write the checks as a JSON list")
    d.add_argument("--artifacts", default="artifacts",
                   help="the artifacts folder whose free space is checked (default: artifacts)")
    d.set_defaults(fn=_doctor)
    s = sub.add_parser("sim", help="serve a simulated bench until Ctrl-C")
    s.add_argument("bench", type=Path, nargs="?", default=DEFAULT_BENCH)
    s.add_argument("--fault", action="append", help="fault profile (repeatable)")
    s.set_defaults(fn=_sim)
    w = sub.add_parser("power", help="power bench devices on or off by hand")
    w.add_argument("action", choices=("on", "off", "cycle", "status", "mark"),
                   help="mark: record what you checked at the bench (hil power mark spark "
                        "off), for a button device whose state nothing else can tell")
    w.add_argument("target", nargs="?", default="all",
                   help="an aircraft name, NAME.controller, or all (default)")
    w.add_argument("state", nargs="?", choices=("on", "off"), help="mark only: on or off")
    w.add_argument("--by", help="mark only: who checked (default: the login name)")
    w.add_argument("--bench", type=Path, required=True)
    w.add_argument("--lock-timeout", type=float, default=0.0,
                   help="seconds to wait for a bench another job holds (default: 0)")
    w.set_defaults(fn=_power)
    r = sub.add_parser("report", help="rebuild a run's summary from its evidence JSON")
    r.add_argument("run_dir", help="the folder of one run: artifacts/<run>/")
    r.set_defaults(fn=_report)
    ph = sub.add_parser("phone", help="a phone of a bench: dump its screen (adb)")
    ph.add_argument("action", choices=("dump",))
    ph.add_argument("phone", help="the phone's name in the bench file")
    ph.add_argument("--bench", type=Path, required=True)
    ph.add_argument("--out", default="artifacts/dumps",
                    help="folder for the hierarchy (.xml) and screenshot (.png)")
    ph.set_defaults(fn=_phone_dump)
    a = sub.add_parser("analyze", help="flows of a capture with their categories")
    a.add_argument("capture")
    a.add_argument("--catalog")
    a.add_argument("--json", action="store_true")
    a.set_defaults(fn=_analyze)
    hi = sub.add_parser("history", help="the index of runs: list, trend page, add runs")
    hi.add_argument("args", nargs="*", metavar="add RUN_DIR",
                    help="`add RUN_DIR...` indexes run folders")
    hi.add_argument("--history", metavar="DB", help="the history database (default: "
                    "$HIL_HISTORY or artifacts/history.sqlite)")
    hi.add_argument("--last", type=int, default=20, help="runs to list (default: 20)")
    hi.add_argument("--html", metavar="PAGE", help="also write the offline trend page")
    hi.set_defaults(fn=_history)
    g = sub.add_parser("gate", help="the release gate: may a candidate run's release ship?")
    g.add_argument("args", nargs="+", metavar="CANDIDATE_RUN | accept RUN")
    g.add_argument("--baseline", metavar="RUN", help="compare with this run (default: the "
                   "run last accepted for each model)")
    g.add_argument("--policy", metavar="FILE", help="the gate's policy (default: the "
                   "packaged hil/data/gate-policy.toml)")
    g.add_argument("--json", metavar="PATH")
    g.add_argument("--junit", metavar="PATH", help="JUnit XML: a test case per model and check")
    g.add_argument("--html", metavar="PAGE")
    g.add_argument("--model", help="accept only: the model to accept the run for")
    g.add_argument("--history", metavar="DB", help="the history database (default: "
                   "$HIL_HISTORY or artifacts/history.sqlite)")
    g.set_defaults(fn=_gate)
    args = p.parse_args(argv)
    try:
        return args.fn(args)
    except BrokenPipeError:  # `hil analyze x.pcap | head`: the reader has all it wants
        sys.stderr.close()
        return 0
    except Exception as e:
        if not isinstance(e, (ValueError, OSError, *_harness_errors())):
            raise
        print(f"hil: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
