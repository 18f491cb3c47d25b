"""Rebuild the packaged default progression model (src/alscare/progression/params/
default_model.json): the literature model refitted by ``fit_cohort`` on 10,000 patients of the
synthetic generator (seed 1). Deterministic; run after a change to the generator or the fit:

    python scripts/refit_default_model.py
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from alscare import synth
from alscare.progression import model as model_mod
from alscare.progression.fit import fit_cohort

N, SEED = 10000, 1
OUT = Path(model_mod.__file__).parent / "params" / "default_model.json"
NOTE = ("Literature model (literature_model.json) refitted on a synthetic cohort calibrated to "
        "published natural history (data.md 0, 2, 5); not fitted on real patients. Refit on a "
        "clinic's or registry's data with `alscare model fit`.")


def main() -> None:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=OUT.parent).stdout.strip() or "unknown"
    m = fit_cohort(synth.generate(N, SEED).cohort,
                   source=f"alscare.synth.generate({N}, seed={SEED}), code at commit {commit}")
    # The generator's drug effects are its own assumption, not evidence: the packaged default
    # keeps a flat prior on the slope change after a drug start (no effect assumed either
    # way). A clinic's `alscare model fit` estimates the prior from its own treated patients.
    total = m["alsfrs_r_total"]
    total.response_prior_mean, total.response_prior_sd = 0.0, 0.0
    m.fitted["checks"]["alsfrs_r_total"]["response_prior"]["packaged_default"] = (
        "flat prior (sd 0): the synthetic drug effects are not evidence")
    m.version = "default-2026.11-synth10k"
    m.fitted["note"] = NOTE
    m.save(OUT)
    for name, om in m.outcomes.items():
        held_out = m.fitted["checks"][name].get("holdout_forecasts", {})
        print(f"{name}: noise_sd {om.noise_sd:.3f}, process_sd {om.process_sd:.3f}, "
              f"held-out coverage {held_out.get('coverage80_by_months_ahead')}")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
