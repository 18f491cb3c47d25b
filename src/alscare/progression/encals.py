"""ENCALS survival model: event-free survival from symptom onset, deterministic.

Westeneng HJ, Debray TPA, Visser AE, et al. Prognosis for patients with amyotrophic lateral
sclerosis: development and validation of a personalised prediction model. Lancet Neurol
2018;17:423-33. Outcome: death, tracheostomy or non-invasive ventilation > 23 h/day, timed
from symptom onset. Model: proportional-odds Royston-Parmar model,

    S(t | LP) = 1 / (1 + exp(s(ln t) + LP)),   t in months from onset,

with s a restricted cubic spline in ln t (knots and coefficients in ``encals.yaml``) and LP a
linear predictor of eight transformed predictors (../shared/clinical/data.md section 3.1).
Two public coefficient versions exist ("Lancet paper" with C9orf72; "TRICALS risk profile"
without); both are in ``encals.yaml`` and cross-checked in docs/encals.md.

Rules of this module:
- the median is solved (vectorised bisection on ln t), never drawn at random;
- a missing input gives no prediction and names the input, never an imputed default;
- the inputs are taken at the first visit ("data were gathered on the day of diagnosis or as
  soon as possible thereafter", paper abstract) - see ``baseline_facts``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import yaml

from alscare.scores import rate

MODEL_NAME = "ENCALS (Westeneng et al., Lancet Neurol 2018)"
OUTCOME = "death, tracheostomy or non-invasive ventilation > 23 h/day"
VERSIONS = ("lancet_paper", "tricals_risk_profile")
DEFAULT_MONTHS = (12, 24, 36)
GROUPS = ("very_short", "short", "intermediate", "long", "very_long")
# Bisection bracket for ln(months): 0.007 to 160,000 months; 48 halvings of 17 leave < 1e-13.
_LN_T_LO, _LN_T_HI, _BISECTIONS = -5.0, 12.0, 48


@cache
def params() -> dict[str, Any]:
    """The coefficients, knots and risk-group cut-points from encals.yaml."""
    text = resources.files("alscare.progression").joinpath("encals.yaml").read_text()
    return yaml.safe_load(text)


# --- predictor transformations (data.md 3.1; identical in both public scripts) -----------------

def t_delta_frs(delta_frs: np.ndarray) -> np.ndarray:
    """(dFRS + 0.1)^-0.5, dFRS = (48 - ALSFRS-R) / months since onset (points/month, >= 0)."""
    return (np.asarray(delta_frs, float) + 0.1) ** -0.5


def t_diagnostic_delay(months: np.ndarray) -> np.ndarray:
    """(delay/10)^-0.5 + ln(delay/10), delay = months from onset to diagnosis (> 0)."""
    d = np.asarray(months, float) / 10.0
    return d ** -0.5 + np.log(d)


def t_age(age_at_onset: np.ndarray) -> np.ndarray:
    """(age/100)^-2, age at onset in years."""
    return (np.asarray(age_at_onset, float) / 100.0) ** -2


def t_fvc(fvc_percent: np.ndarray) -> np.ndarray:
    """(FVC/100)^-1 + (FVC/100)^-0.5, FVC in % predicted."""
    f = np.asarray(fvc_percent, float) / 100.0
    return 1.0 / f + f ** -0.5


def coefficients(version: str) -> dict[str, float]:
    if version not in VERSIONS:
        raise ValueError(f"unknown ENCALS version {version!r}; allowed: {', '.join(VERSIONS)}")
    return {k: float(v) for k, v in params()["versions"][version]["coefficients"].items()}


def linear_predictor(x: pd.DataFrame | dict[str, Any], version: str) -> np.ndarray:
    """LP from model inputs (columns age_at_onset, diagnostic_delay_months, delta_frs,
    fvc_percent_predicted, bulbar_onset, definite_el_escorial, ftd, c9orf72; binaries 0/1).
    Higher LP = shorter survival."""
    b = coefficients(version)

    def g(c: str) -> np.ndarray:
        return np.asarray(x[c], float)

    return (b["t_delta_frs"] * t_delta_frs(g("delta_frs"))
            + b["t_diagnostic_delay"] * t_diagnostic_delay(g("diagnostic_delay_months"))
            + b["t_age"] * t_age(g("age_at_onset"))
            + b["t_fvc"] * t_fvc(g("fvc_percent_predicted"))
            + b["bulbar_onset"] * g("bulbar_onset")
            + b["definite_el_escorial"] * g("definite_el_escorial")
            + b["ftd"] * g("ftd")
            + b["c9orf72"] * g("c9orf72"))


# --- Royston-Parmar baseline ------------------------------------------------------------------

def _knots() -> tuple[float, float, float, float]:
    k = params()["baseline"]["knots_log_months"]
    return float(k["k_min"]), float(k["k1"]), float(k["k2"]), float(k["k_max"])


def spline_lambdas() -> tuple[float, float]:
    """lambda_j = (k_max - k_j) / (k_max - k_min) for the two interior knots."""
    kmin, k1, k2, kmax = _knots()
    return (kmax - k1) / (kmax - kmin), (kmax - k2) / (kmax - kmin)


def _rcs_basis(x: np.ndarray, k: float, lam: float, kmin: float, kmax: float) -> np.ndarray:
    """Royston-Parmar restricted cubic spline term v_j(x) (Royston & Parmar, Stat Med 2002)."""

    def cube(z: np.ndarray) -> np.ndarray:
        m = np.maximum(z, 0.0)
        return m * m * m

    return cube(x - k) - lam * cube(x - kmin) - (1.0 - lam) * cube(x - kmax)


def baseline_log_odds(ln_t: np.ndarray) -> np.ndarray:
    """s(ln t): the baseline cumulative log-odds of the event by t months from onset."""
    g0, g1, g2, g3 = (float(v) for v in params()["baseline"]["gamma"])
    kmin, k1, k2, kmax = _knots()
    lam1, lam2 = spline_lambdas()
    x = np.asarray(ln_t, float)
    return (g0 + g1 * x + g2 * _rcs_basis(x, k1, lam1, kmin, kmax)
            + g3 * _rcs_basis(x, k2, lam2, kmin, kmax))


def survival(months: np.ndarray | float, lp: np.ndarray | float) -> np.ndarray:
    """Event-free probability S(t | LP) at t months from onset (broadcasts t against LP)."""
    t = np.asarray(months, float)
    with np.errstate(divide="ignore"):
        s = baseline_log_odds(np.log(t))
    return 1.0 / (1.0 + np.exp(s + np.asarray(lp, float)))


def quantile_months(lp: np.ndarray, prob: float = 0.5,
                    given_event_free_at: np.ndarray | None = None) -> np.ndarray:
    """Months from onset at which S(t | LP) falls to ``prob`` (0.5: the median).

    With ``given_event_free_at`` (months from onset, per patient) the survival is conditional
    on being event-free then: solves S(t) = prob * S(t0) for t >= t0. Since
    S = 1 / (1 + exp(s(ln t) + LP)), S(t) = q  <=>  s(ln t) = ln(1/q - 1) - LP, and s is
    increasing, so the root is found by bisection on ln t (48 halvings), vectorised over the
    patients with a finite LP. NaN LP gives NaN.
    """
    lp = np.asarray(lp, float)
    out = np.full(lp.shape, np.nan)
    ok = np.isfinite(lp)
    lo = np.full(lp.shape, _LN_T_LO)
    target = np.full(lp.shape, float(prob))
    if given_event_free_at is not None:
        t0 = np.asarray(given_event_free_at, float)
        ok &= np.isfinite(t0) & (t0 > 0)
        safe_t0 = np.where(ok, t0, 1.0)
        target = prob * survival(safe_t0, np.where(ok, lp, 0.0))
        lo = np.log(safe_t0)
    if not ok.any():
        return out
    level = np.log(1.0 / target[ok] - 1.0) - lp[ok]  # s(ln t) at the root
    a, b = lo[ok], np.full(level.shape, _LN_T_HI)
    bracketed = baseline_log_odds(b) >= level
    for _ in range(_BISECTIONS):
        mid = 0.5 * (a + b)
        below = baseline_log_odds(mid) < level
        a = np.where(below, mid, a)
        b = np.where(below, b, mid)
    out[ok] = np.where(bracketed, np.exp(0.5 * (a + b)), np.nan)
    return out


def risk_group(median_months: np.ndarray) -> np.ndarray:
    """Five named prognostic groups from the predicted median (cut-points UNVERIFIED; see
    encals.yaml ``risk_groups``). None where the median is unknown."""
    bounds = params()["risk_groups"]["upper_bounds_months"]
    edges = np.array([float(bounds[g]) for g in GROUPS[:-1]])
    m = np.asarray(median_months, float)
    idx = np.searchsorted(edges, m, side="right")
    labels = np.array(GROUPS, dtype=object)[np.minimum(idx, len(GROUPS) - 1)]
    return np.where(np.isfinite(m), labels, None)


# --- inputs from the facts table --------------------------------------------------------------

def _flag(series: pd.Series, true_values: set[str], known_values: set[str]) -> pd.Series:
    """1.0 / 0.0 for a categorical fact, NaN when not recorded or not classifiable."""
    s = series.astype(object)
    out = pd.Series(np.nan, index=s.index)
    out[s.isin(true_values)] = 1.0
    out[s.isin(known_values - true_values)] = 0.0
    return out


def model_inputs(facts: pd.DataFrame) -> pd.DataFrame:
    """The eight ENCALS inputs from fact columns (NaN = not recorded):

    age_at_onset, diagnostic_delay_months, delta_fs (-> delta_frs), fvc_percent_predicted,
    onset_site == "bulbar" (other recorded sites -> 0), diagnostic_category == "definite"
    (other El Escorial categories -> 0; "gold_coast_als" says nothing about El Escorial ->
    missing), ftd (bool), gene_C9orf72 in {pathogenic, likely_pathogenic} (negative or VUS
    -> 0).
    """
    out = pd.DataFrame(index=facts.index)
    for c in ("age_at_onset", "diagnostic_delay_months", "fvc_percent_predicted"):
        out[c] = pd.to_numeric(facts[c], errors="coerce").astype(float)
    out["delta_frs"] = pd.to_numeric(facts["delta_fs"], errors="coerce").astype(float)
    out["bulbar_onset"] = _flag(
        facts["onset_site"], {"bulbar"},
        {"bulbar", "upper_limb", "lower_limb", "limb", "respiratory", "trunk", "generalized"})
    out["definite_el_escorial"] = _flag(
        facts["diagnostic_category"], {"definite"},
        {"definite", "probable", "probable_lab_supported", "possible"})
    ftd = facts["ftd"].astype(object)
    out["ftd"] = np.where(ftd.isin([True]), 1.0, np.where(ftd.isin([False]), 0.0, np.nan))
    out["c9orf72"] = _flag(facts["gene_C9orf72"], {"pathogenic", "likely_pathogenic"},
                           {"pathogenic", "likely_pathogenic", "vus", "negative"})
    return out


_REASONS = {
    "age_at_onset": "age at onset (birth or onset date not recorded)",
    "diagnostic_delay_months": "diagnostic delay (onset or diagnosis date not recorded)",
    "delta_frs": "ALSFRS-R progression rate at first visit (first ALSFRS-R or onset missing)",
    "fvc_percent_predicted": "FVC % predicted at first visit",
    "bulbar_onset": "site of onset",
    "definite_el_escorial": "El Escorial category",
    "ftd": "FTD status",
    "c9orf72": "C9orf72 status",
}


def _problems(x: pd.DataFrame, needs_c9: np.ndarray) -> pd.Series:
    """Per patient, the inputs that are missing or outside the model's domain ('' if none),
    joined with '; ' (vectorised: one string concatenation per reason)."""
    flags: list[tuple[np.ndarray, str]] = []
    for col, text in _REASONS.items():
        miss = x[col].isna().to_numpy()
        if col == "c9orf72":
            miss = miss & needs_c9
        flags.append((miss, text))
    domain = {
        "diagnostic_delay_months": "diagnostic delay must be > 0 months",
        "age_at_onset": "age at onset must be > 0 years",
        "fvc_percent_predicted": "FVC % predicted must be > 0",
        "delta_frs": "ALSFRS-R progression rate must be >= 0",
    }
    for col, text in domain.items():
        v = x[col].to_numpy(float)
        with np.errstate(invalid="ignore"):
            flags.append(((v < 0) if col == "delta_frs" else (v <= 0), text))
    out = np.full(len(x), "", dtype=object)
    for bad, text in flags:
        out = np.where(bad, np.where(out == "", text, out + "; " + text), out)
    return pd.Series(out, index=x.index, dtype=object)


def predict(facts: pd.DataFrame, version: str = "auto",
            months: Sequence[float] = DEFAULT_MONTHS) -> pd.DataFrame:
    """ENCALS prediction per patient (vectorised).

    ``facts`` needs the columns read by ``model_inputs`` (optionally ``months_since_onset``
    for the conditional median). ``version``: "lancet_paper", "tricals_risk_profile", or
    "auto" = the Lancet-paper model where C9orf72 status is known, else the TRICALS profile
    (a published model without C9orf72 - not an imputation). Returns columns version, lp,
    risk_group, risk_group_verified, median_months_from_onset, median_months_given_event_free_now,
    survival_<m>m for each requested month, missing_inputs ('' when complete). Rows with a
    missing input have NaN/None predictions.
    """
    x = model_inputs(facts)
    if version == "auto":
        use_lancet = x["c9orf72"].notna().to_numpy()
    elif version in VERSIONS:
        use_lancet = np.full(len(x), version == "lancet_paper")
    else:
        raise ValueError(f"unknown ENCALS version {version!r}; allowed: auto, "
                         + ", ".join(VERSIONS))
    problems = _problems(x, needs_c9=use_lancet)
    ok = (problems == "").to_numpy()
    xs = x.where(pd.Series(ok, index=x.index), axis=0).fillna({"c9orf72": 0.0})
    with np.errstate(invalid="ignore", divide="ignore"):
        lp = np.where(use_lancet, linear_predictor(xs, "lancet_paper"),
                      linear_predictor(xs, "tricals_risk_profile"))
    lp = np.where(ok, lp, np.nan)
    out = pd.DataFrame(index=facts.index)
    out["version"] = np.where(ok, np.where(use_lancet, VERSIONS[0], VERSIONS[1]), None)
    out["lp"] = lp
    median = quantile_months(lp)
    out["median_months_from_onset"] = median
    if "months_since_onset" in facts:
        t0 = pd.to_numeric(facts["months_since_onset"], errors="coerce").to_numpy(float)
        out["median_months_given_event_free_now"] = quantile_months(lp, 0.5, t0)
    else:
        out["median_months_given_event_free_now"] = np.nan
    out["risk_group"] = risk_group(median)
    out["risk_group_verified"] = bool(params()["risk_groups"]["verified"])
    for m in months:
        out[f"survival_{m:g}m"] = np.where(ok, survival(float(m), lp), np.nan)
    out["missing_inputs"] = problems.to_numpy()
    return out


# --- from a cohort: inputs at the first visit -------------------------------------------------

def baseline_facts(cohort: Any, facts: pd.DataFrame) -> pd.DataFrame:
    """The facts with ``delta_fs`` and ``fvc_percent_predicted`` replaced by their values at the
    first visit (the paper's inputs were gathered at diagnosis or as soon as possible after):
    delta-FS from the first scored ALSFRS-R, FVC = first recorded FVC % predicted at or before
    each patient's as-of time. Other columns unchanged."""
    out = facts.copy()
    out["delta_fs"] = rate.delta_fs(facts["first_alsfrs_r_total"].astype(float),
                                    facts["first_alsfrs_t"].astype(float),
                                    facts["onset"].astype(float))
    v = cohort.visits
    cut = v["patient_id"].map(facts["as_of"]).astype(float)
    v = v[(v["t"] <= cut) | cut.isna()]
    first = v.loc[v["fvc_percent_predicted"].notna()].groupby("patient_id", sort=False)[
        ["fvc_percent_predicted", "t"]].first()
    out["fvc_percent_predicted"] = first["fvc_percent_predicted"].reindex(facts.index)
    out["fvc_percent_predicted_t"] = first["t"].reindex(facts.index)
    return out


def outcome_reached(facts: pd.DataFrame) -> pd.Series:
    """True where the composite outcome has already happened (deceased, tracheostomy in use,
    NIV > 23 h/day): the model then has nothing to predict."""
    idx = facts.index
    dead = facts["deceased"].astype(bool) if "deceased" in facts else pd.Series(False, idx)
    trach = (facts["tracheostomy_status"].astype(object).isin(["in_use"])
             if "tracheostomy_status" in facts else pd.Series(False, idx))
    niv = (pd.to_numeric(facts["niv_hours_per_day"], errors="coerce").astype(float) > 23
           if "niv_hours_per_day" in facts else pd.Series(False, idx))
    return (dead | trach | niv.fillna(False)).astype(bool)


def assess(cohort: Any, facts: pd.DataFrame, version: str = "auto") -> pd.DataFrame:
    """Predictions for the cohort from first-visit inputs (see ``baseline_facts``)."""
    out = predict(baseline_facts(cohort, facts), version=version)
    out["outcome_reached"] = outcome_reached(facts).to_numpy()
    return out


def section(row: pd.Series | dict[str, Any]) -> dict[str, Any]:
    """The contract's ``prognosis`` section for one patient from a row of ``assess``."""
    return sections(pd.DataFrame([dict(row)]))[0]


def sections(pred: pd.DataFrame) -> list[dict[str, Any]]:
    """``prognosis`` sections for every row of ``assess`` (columns read once, then plain
    Python per patient: 10,000 patients in well under a second)."""
    n = len(pred)
    months = sorted(int(c[len("survival_"):-1]) for c in pred.columns
                    if c.startswith("survival_"))
    missing = pred["missing_inputs"].fillna("").astype(str).tolist()
    reached = (pred["outcome_reached"].astype(bool).tolist() if "outcome_reached" in pred
               else [False] * n)
    col = {c: pred[c].to_numpy() for c in ("version", "lp", "median_months_from_onset",
                                          "median_months_given_event_free_now", "risk_group",
                                          "risk_group_verified")}
    surv = {m: np.round(pred[f"survival_{m}m"].to_numpy(float), 3) for m in months}
    lp = np.round(col["lp"].astype(float), 3)
    med = np.round(col["median_months_from_onset"].astype(float), 1)
    cond = np.round(col["median_months_given_event_free_now"].astype(float), 1)
    out: list[dict[str, Any]] = []
    for i in range(n):
        miss = [p for p in missing[i].split("; ") if p]
        if miss or reached[i]:
            out.append({
                "model": MODEL_NAME, "outcome": OUTCOME, "computed": False,
                "reason": ("the outcome (" + OUTCOME + ") has already been reached"
                           if reached[i] else "missing inputs: " + "; ".join(miss)),
                "missing_inputs": miss,
            })
            continue
        out.append({
            "model": MODEL_NAME,
            "outcome": OUTCOME,
            "computed": True,
            "version": col["version"][i],
            "linear_predictor": _num(lp[i]),
            "median_months_from_onset": _num(med[i]),
            "median_months_from_onset_if_event_free_now": _num(cond[i]),
            "event_free_probability_from_onset": [
                {"months_from_onset": m, "probability": _num(surv[m][i])} for m in months],
            "risk_group": col["risk_group"][i],
            "risk_group_cutpoints_verified": bool(col["risk_group_verified"][i]),
            "inputs_at": "first visit (diagnosis or as soon as possible after)",
            "missing_inputs": [],
        })
    return out


def _num(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None
