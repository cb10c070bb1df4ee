"""The release gate: may a candidate release ship? Judged per model, without the bench.

A pure core: `judge(candidate, baselines, policy)` takes loaded run folders
(`hil.runfolder.Run`) and a `hil.policy.Policy` and returns a `GateResult`; nothing here
reads files, a database or a clock. Per model of the candidate, these checks:

- `run`: the candidate run reached its end (a run stopped before it is inconclusive);
- `claims`: every claim judged on the model passed. A failed claim fails the gate; a
  claim the policy requires that was not judged (skipped, deselected, its session failed)
  or ended in an ERROR makes it inconclusive, never a pass;
- `baseline`: there is a baseline for the model (the run last accepted for it, or the one
  given) with a traffic profile; without one the gate cannot say what changed, so it is
  inconclusive and the traffic checks are not made;
- `new destinations`, `new categories`: server names (or, without one, server addresses)
  and categories the candidate's phones reached and the baseline's never did: a failure
  (policy `fail_on_new_*`); the ones gone are listed in `gone` (never a failure);
- `growth`: per phase (scenario and phase name present on both sides) and category, the
  bytes sent that grew beyond the policy (more than `factor` times the baseline and at
  least `floor` bytes more), each with the candidate's flows behind it.

A model's verdict is `fail` if any check failed (a proven problem stands whatever else
is unknown), else `inconclusive` if any check was, else `pass`; the run's verdict is the
worst of its models'. Exit status: 0 pass, 1 fail, 2 inconclusive.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from hil.policy import Policy
from hil.runfolder import Run

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"
EXIT = {PASS: 0, FAIL: 1, INCONCLUSIVE: 2}
_RANK = {PASS: 0, INCONCLUSIVE: 1, FAIL: 2}


@dataclass
class Check:
    name: str
    status: str
    message: str
    rows: list[dict] = field(default_factory=list)  # the details, one dict per table row


@dataclass
class ModelVerdict:
    model: str
    status: str
    checks: list[Check]
    candidate_versions: dict  # aircraft -> {firmware, app_version, platform}
    baseline: dict | None  # {id, path, release, versions} or None


@dataclass
class GateResult:
    candidate: dict  # {id, path, release, started}
    policy: str
    status: str
    models: list[ModelVerdict]

    @property
    def exit_code(self) -> int:
        return EXIT[self.status]

    def to_dict(self) -> dict:
        return asdict(self)


def _worst(statuses) -> str:
    return max(statuses, key=_RANK.__getitem__, default=PASS)


def _versions(run: Run, model: str) -> dict:
    return {n: {"firmware": a.get("firmware") or "unknown",
                "app_version": a.get("app_version") or "unknown",
                "platform": a.get("platform")}
            for n, a in sorted(run.aircraft.items()) if a["model"] == model}


def check_claims(run: Run, model: str, policy: Policy) -> Check:
    verdicts, _ = run.of_model(model)
    rows, worst = [], PASS
    for name, a in sorted(run.aircraft.items()):
        if a["model"] != model:
            continue
        mine = {v["claim"]: v for v in verdicts if v["aircraft"] == name}
        required = policy.required_of(a.get("platform"))
        for claim in sorted(set(mine) | set(required), key=lambda c: (c not in required, c)):
            v = mine.get(claim)
            status = v["status"] if v else "not judged"
            if status == "fail":
                effect = FAIL
            elif status == "pass":
                effect = PASS
            else:
                effect = INCONCLUSIVE if claim in required else PASS
            worst = _worst((worst, effect))
            rows.append({"aircraft": name, "claim": claim, "status": status,
                         "required": claim in required, "effect": effect,
                         "reason": (v["reasons"][0] if v and v["reasons"] else
                                    "not judged in this run" if not v else ""),
                         "evidence": v["evidence"] if v else None})
    bad = [r for r in rows if r["effect"] != PASS]
    message = ("every claim judged passed, every required claim judged" if not bad else
               "; ".join(f"{r['claim']} {r['status']} on {r['aircraft']}" for r in bad))
    return Check("claims", worst, message, rows)


def destinations(profiles: list[dict], policy: Policy) -> dict[str, dict]:
    """destination -> {category, bytes_up, bytes_down, flows, phases, via} over the
    model's sessions (ignored categories and destinations left out)."""
    out: dict[str, dict] = {}
    for p in profiles:
        for ph in p["phases"]:
            for name, s in ph["servers"].items():
                if policy.ignored(name, s["category"]):
                    continue
                d = out.setdefault(name, {"category": s["category"], "bytes_up": 0,
                                          "bytes_down": 0, "flows": 0, "phases": [],
                                          "via": []})
                d["bytes_up"] += s["bytes_up"]
                d["bytes_down"] += s["bytes_down"]
                d["flows"] += s["flows"]
                d["phases"].append(f"{p['scenario']}/{ph['name']}")
                d["via"] += [f for f in ph["flows"] if f["destination"] == name]
    return out


def phase_bytes(profiles: list[dict], policy: Policy) -> dict[tuple[str, str], dict]:
    """(scenario, phase) -> {category: (bytes_up, [flows])}."""
    out: dict[tuple[str, str], dict] = {}
    for p in profiles:
        for ph in p["phases"]:
            cats = out.setdefault((p["scenario"], ph["name"]), {})
            for name, s in ph["servers"].items():  # per destination: the policy ignores some
                cat = s["category"]
                if policy.ignored(name, cat):
                    continue
                up, flows = cats.get(cat, (0, []))
                cats[cat] = (up + s["bytes_up"],
                             flows + [f for f in ph["flows"] if f["destination"] == name])
    return out


def compare(candidate: list[dict], baseline: list[dict], policy: Policy) -> list[Check]:
    """The traffic checks of one model: candidate's profiles against the baseline's."""
    cand, base = destinations(candidate, policy), destinations(baseline, policy)
    new = sorted(set(cand) - set(base))
    gone = sorted(set(base) - set(cand))
    new_rows = [{"destination": n, **{k: cand[n][k] for k in
                                      ("category", "bytes_up", "bytes_down", "flows")},
                 "phases": sorted(set(cand[n]["phases"])), "via": cand[n]["via"][:10]}
                for n in new]
    gone_rows = [{"destination": n, **{k: base[n][k] for k in
                                       ("category", "bytes_up", "bytes_down", "flows")},
                  "phases": sorted(set(base[n]["phases"]))} for n in gone]
    cats_c = {d["category"] for d in cand.values()}
    cats_b = {d["category"] for d in base.values()}
    new_cats = sorted(cats_c - cats_b)
    checks = [
        Check("new destinations", FAIL if new and policy.fail_on_new_destination else PASS,
              (f"{len(new)} new: {', '.join(new)}" if new else "none new")
              + ("" if policy.fail_on_new_destination or not new else " (not failing: "
                 "policy fail_on_new_destination = false)"), new_rows),
        Check("new categories", FAIL if new_cats and policy.fail_on_new_category else PASS,
              f"{len(new_cats)} new: {', '.join(new_cats)}" if new_cats else "none new",
              [{"category": c, "destinations": sorted(n for n, d in cand.items()
                                                      if d["category"] == c)}
               for c in new_cats]),
        Check("gone", PASS, f"{len(gone)} gone: {', '.join(gone)}" if gone else "none gone",
              gone_rows),
    ]
    pc, pb = phase_bytes(candidate, policy), phase_bytes(baseline, policy)
    grown, compared = [], 0
    for key in sorted(pc):
        if key not in pb:
            continue  # a phase the baseline did not play: nothing to compare with
        for cat, (up, flows) in sorted(pc[key].items()):
            was = pb[key].get(cat, (0, []))[0]
            compared += 1
            if up > policy.factor * was and up - was >= policy.floor:
                grown.append({"scenario": key[0], "phase": key[1], "category": cat,
                              "baseline_bytes_up": was, "candidate_bytes_up": up,
                              "factor": round(up / was, 2) if was else None,
                              "flows": sorted(flows, key=lambda f: -f["bytes_up"])[:10]})
    checks.append(Check(
        "growth", FAIL if grown else PASS,
        (f"{len(grown)} phase categories grew beyond {policy.factor:g}x and "
         f"{policy.floor} B: " + "; ".join(
             f"{g['category']} in {g['scenario']}/{g['phase']} {g['baseline_bytes_up']} -> "
             f"{g['candidate_bytes_up']} B" for g in grown)) if grown else
        f"{compared} phase categories compared, none grew beyond {policy.factor:g}x and "
        f"{policy.floor} B", grown))
    return checks


def judge_model(model: str, candidate: Run, baseline: Run | None, policy: Policy
                ) -> ModelVerdict:
    checks = [Check("run", PASS if candidate.complete else INCONCLUSIVE,
                    "the run reached its end" if candidate.complete else
                    "the run was stopped before its end: what it left is incomplete")]
    checks.append(check_claims(candidate, model, policy))
    _, cand_profiles = candidate.of_model(model)
    base_info = None
    if baseline is None:
        checks.append(Check("baseline", INCONCLUSIVE,
                            f"no accepted baseline for {model}: nothing to compare the "
                            "traffic with; accept a run with `hil gate accept RUN` or pass "
                            "--baseline RUN"))
    else:
        _, base_profiles = baseline.of_model(model)
        base_info = {"id": baseline.id, "path": str(baseline.path),
                     "release": baseline.release, "versions": _versions(baseline, model)}
        if not base_profiles or not cand_profiles:
            side = "baseline" if not base_profiles else "candidate"
            checks.append(Check("baseline", INCONCLUSIVE,
                                f"the {side} run has no traffic profile of {model}"))
        else:
            checks.append(Check("baseline", PASS, f"compared with {baseline.id}"
                                + (f" ({baseline.release})" if baseline.release else "")))
            checks += compare(cand_profiles, base_profiles, policy)
    return ModelVerdict(model, _worst(c.status for c in checks), checks,
                        _versions(candidate, model), base_info)


def judge(candidate: Run, baselines: dict[str, Run | None], policy: Policy) -> GateResult:
    """Every model of the candidate against its baseline (`baselines[model]`, or None)."""
    models = [judge_model(m, candidate, baselines.get(m), policy) for m in candidate.models()]
    return GateResult({"id": candidate.id, "path": str(candidate.path),
                       "release": candidate.release, "started": candidate.started},
                      policy.path, _worst(m.status for m in models), models)
