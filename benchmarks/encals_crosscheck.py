"""Cross-check of the two public ENCALS coefficient versions ("Lancet paper" with C9orf72 vs
"TRICALS risk profile") on a grid of patients: coefficient differences, and their effect on the
linear predictor, the median event-free survival and the risk group. Deterministic.

    python benchmarks/encals_crosscheck.py            # prints the tables recorded in docs/encals.md
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from alscare.progression import encals

GRID = {
    "age_at_onset": [40.0, 55.0, 65.0, 75.0],
    "delta_fs": [0.1, 0.3, 0.5, 1.0, 2.0],
    "diagnostic_delay_months": [3.0, 8.0, 12.0, 24.0],
    "fvc_percent_predicted": [50.0, 75.0, 90.0, 110.0],
    "onset_site": ["lower_limb", "bulbar"],
    "diagnostic_category": ["probable", "definite"],
    "ftd": [False, True],
}


def grid() -> pd.DataFrame:
    rows = [dict(zip(GRID, combo, strict=True)) for combo in itertools.product(*GRID.values())]
    df = pd.DataFrame(rows)
    df["gene_C9orf72"] = "negative"
    return df


def coefficient_table() -> pd.DataFrame:
    a = encals.coefficients("lancet_paper")
    b = encals.coefficients("tricals_risk_profile")
    t = pd.DataFrame({"lancet_paper": a, "tricals_risk_profile": b})
    t["difference"] = t["tricals_risk_profile"] - t["lancet_paper"]
    t["relative_%"] = 100 * t["difference"] / t["lancet_paper"].where(t["lancet_paper"] != 0)
    return t


def compare(df: pd.DataFrame) -> dict[str, float]:
    la = encals.predict(df, version="lancet_paper")
    tr = encals.predict(df, version="tricals_risk_profile")
    dlp = tr["lp"] - la["lp"]
    dmed = tr["median_months_from_onset"] - la["median_months_from_onset"]
    rel = dmed / la["median_months_from_onset"]
    return {
        "patients": len(df),
        "LP lancet range": f"{la['lp'].min():.2f} .. {la['lp'].max():.2f}",
        "dLP min": dlp.min(), "dLP median": dlp.median(), "dLP max": dlp.max(),
        "|dLP| max": dlp.abs().max(),
        "median months lancet range": (f"{la['median_months_from_onset'].min():.1f} .. "
                                       f"{la['median_months_from_onset'].max():.1f}"),
        "d median months min": dmed.min(), "d median months median": dmed.median(),
        "d median months max": dmed.max(),
        "|d median| / median max %": 100 * rel.abs().max(),
        "|d S(24m)| max": (tr["survival_24m"] - la["survival_24m"]).abs().max(),
        "same risk group %": 100 * (tr["risk_group"] == la["risk_group"]).mean(),
    }


def c9_effect(df: pd.DataFrame) -> dict[str, float]:
    """What a C9orf72 carrier loses when the TRICALS profile (no C9 term) is used instead."""
    carrier = df.assign(gene_C9orf72="pathogenic")
    la = encals.predict(carrier, version="lancet_paper")
    tr = encals.predict(carrier, version="tricals_risk_profile")
    dmed = la["median_months_from_onset"] - tr["median_months_from_onset"]
    return {"carrier: median (lancet - tricals) months, min": dmed.min(),
            "median": dmed.median(), "max": dmed.max()}


def main() -> None:
    pd.set_option("display.width", 140)
    print("Coefficients (encals.yaml):")
    print(coefficient_table().round(4).to_string())
    df = grid()
    print("\nGrid:", {k: v for k, v in GRID.items()})
    for k, v in compare(df).items():
        print(f"  {k:32s} {v:.4f}" if isinstance(v, float) else f"  {k:32s} {v}")
    print("\nC9orf72 carriers on the same grid:")
    for k, v in c9_effect(df).items():
        print(f"  {k:48s} {v:.2f}")
    ref = pd.DataFrame([{"age_at_onset": 60.0, "delta_fs": 0.5, "diagnostic_delay_months": 12.0,
                         "fvc_percent_predicted": 90.0, "onset_site": s,
                         "diagnostic_category": "probable", "ftd": False,
                         "gene_C9orf72": "negative"} for s in ("lower_limb", "bulbar")])
    print("\ndata.md 3.1 reference patients (age 60, dFRS 0.5, delay 12, FVC 90):")
    for v in encals.VERSIONS:
        p = encals.predict(ref, version=v)
        print(f"  {v:22s} LP {p['lp'].round(3).tolist()}  median "
              f"{p['median_months_from_onset'].round(2).tolist()} (spinal, bulbar)")
    third = pd.DataFrame([{"age_at_onset": 70.0, "delta_fs": 1.0, "diagnostic_delay_months": 8.0,
                           "fvc_percent_predicted": 75.0, "onset_site": "bulbar",
                           "diagnostic_category": "probable", "ftd": False,
                           "gene_C9orf72": "negative"}])
    for v in encals.VERSIONS:
        p = encals.predict(third, version=v)
        print(f"  age 70, dFRS 1.0, delay 8, FVC 75, bulbar, {v}: LP {p['lp'].iloc[0]:.3f} "
              f"median {p['median_months_from_onset'].iloc[0]:.2f}")
    print("\nBaseline survival S(t | LP=-4.68) at 12/24/36/60 months:",
          np.round(encals.survival(np.array([12, 24, 36, 60.0]), -4.68), 4).tolist())


if __name__ == "__main__":
    main()
