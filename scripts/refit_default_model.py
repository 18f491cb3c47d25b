"""Rebuild the packaged default progression model (src/alscare/progression/params/
default_model.json): the literature model refitted by ``fit_cohort`` on 10,000 patients of the
synthetic generator, half followed every 3 months as in clinics (seed 1), half monthly as in
trials and PRO-ACT (seed 2). Fitted on clinic schedules alone, its 80% intervals covered 74%
on monthly data (benchmarks/bench_progression.py robustness). Deterministic; run after a
change to the generator or the fit:

    python scripts/refit_default_model.py
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from alscare import synth
from alscare.frames import combine
from alscare.progression import model as model_mod
from alscare.progression.fit import fit_cohort

# (prefix, patients, seed, generator options): clinic and trial visit schedules
PARTS = (("C", 5000, 1, {}),
         ("T", 5000, 2, {"visit_interval_days": 30.4, "visit_jitter_days": 5.0}))
OUT = Path(model_mod.__file__).parent / "params" / "default_model.json"
NOTE = ("Literature model (literature_model.json) refitted on a synthetic cohort calibrated to "
        "published natural history (data.md 0, 2, 5), half with clinic (3-monthly) and half "
        "with trial (monthly) visits; not fitted on real patients. Refit on a clinic's or "
        "registry's data with `alscare model fit`.")


def main() -> None:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=OUT.parent).stdout.strip() or "unknown"
    cohort = combine([synth.generate(n, seed, **opts).cohort for _, n, seed, opts in PARTS],
                     [prefix for prefix, *_ in PARTS])
    parts = "; ".join(f"{prefix}: alscare.synth.generate({n}, seed={seed}"
                      + "".join(f", {k}={v}" for k, v in opts.items()) + ")"
                      for prefix, n, seed, opts in PARTS)
    m = fit_cohort(cohort, source=f"{parts}; code at commit {commit}")
    # The generator's drug effects are its own assumption, not evidence: the packaged default
    # keeps the skeptical prior on a drug's effect (progression/effect.py, default_prior).
    # `cohort assess` learns the prior from the cohort's own drug starts.
    total = m["alsfrs_r_total"]
    total.response_effect_prior = {}
    m.fitted["checks"]["alsfrs_r_total"]["response_prior"]["packaged_default"] = (
        "skeptical default N(0, 0.25**2): the synthetic drug effects are not evidence")
    m.version = "default-2026.11-synth10k-mixed-visits"
    m.fitted["note"] = NOTE
    m.save(OUT)
    for name, om in m.outcomes.items():
        held_out = m.fitted["checks"][name].get("holdout_forecasts", {})
        print(f"{name}: noise_sd {om.noise_sd:.3f}, process_sd {om.process_sd:.3f}, "
              f"held-out coverage {held_out.get('coverage80_by_months_ahead')}")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
