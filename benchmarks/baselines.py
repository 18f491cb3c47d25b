"""Scoring metrics and the two baselines a clinician could use (issue 4, item 6).

Baselines:
- response: post- vs pre-treatment least-squares ALSFRS-R slopes; "not responding" when the
  post-start decline is at least 0.8 x the pre-start decline (less than the 20% slowing judged
  clinically meaningful [S73], data.md 3.5); score for AUC = post decline / pre decline.
- forecast: the delta-FS straight line from onset, ALSFRS-R(t) = 48 - dFS x months since onset
  (Kimura 2006), dFS measured at the cut-off visit; no interval.

All functions are vectorised over patients (groupby sums, no per-patient Python loops).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DAYS_PER_MONTH = 30.44
NOT_RESPONDING_RATIO = 0.8  # post decline >= 0.8 x pre decline: < 20% slowing [S73]
MIN_PRE_DECLINE = 0.1  # points/month: a flatter pre-start course is taken as 0.1 for the ratio


# --- metrics ---------------------------------------------------------------------------------

def auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with mid-ranks for ties); NaN scores dropped."""
    y = np.asarray(y, bool)
    s = np.asarray(score, float)
    ok = np.isfinite(s)
    y, s = y[ok], s[ok]
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = pd.Series(s).rank(method="average").to_numpy()
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """Mean squared difference between a probability (or a 0/1 call) and the 0/1 outcome."""
    y = np.asarray(y, float)
    p = np.asarray(p, float)
    ok = np.isfinite(p)
    return float(np.mean((p[ok] - y[ok]) ** 2)) if ok.any() else float("nan")


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 5) -> pd.DataFrame:
    """Reliability table: patients per probability bin, mean predicted, observed share."""
    y = np.asarray(y, float)
    p = np.asarray(p, float)
    ok = np.isfinite(p)
    edges = np.linspace(0, 1, bins + 1)
    b = np.clip(np.digitize(p[ok], edges[1:-1]), 0, bins - 1)
    df = pd.DataFrame({"bin": b, "p": p[ok], "y": y[ok]})
    t = df.groupby("bin").agg(n=("y", "size"), mean_predicted=("p", "mean"),
                              observed=("y", "mean"))
    t.index = [f"{edges[i]:.1f}-{edges[i + 1]:.1f}" for i in t.index]
    return t


def rmse(pred: np.ndarray, obs: np.ndarray) -> float:
    pred, obs = np.asarray(pred, float), np.asarray(obs, float)
    ok = np.isfinite(pred) & np.isfinite(obs)
    return float(np.sqrt(np.mean((pred[ok] - obs[ok]) ** 2))) if ok.any() else float("nan")


def coverage(lo: np.ndarray, hi: np.ndarray, obs: np.ndarray) -> float:
    lo, hi, obs = (np.asarray(a, float) for a in (lo, hi, obs))
    ok = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(obs)
    return float(np.mean((obs[ok] >= lo[ok]) & (obs[ok] <= hi[ok]))) if ok.any() else float("nan")


# --- baselines -------------------------------------------------------------------------------

def ls_slopes(t_days: np.ndarray, y: np.ndarray, group: np.ndarray) -> pd.DataFrame:
    """Least-squares slope (points/month) and number of points per group, vectorised."""
    df = pd.DataFrame({"g": group, "x": np.asarray(t_days, float) / DAYS_PER_MONTH,
                       "y": np.asarray(y, float)}).dropna()
    df["xx"], df["xy"] = df["x"] ** 2, df["x"] * df["y"]
    s = df.groupby("g").agg(n=("x", "size"), sx=("x", "sum"), sy=("y", "sum"),
                            sxx=("xx", "sum"), sxy=("xy", "sum"))
    den = s["n"] * s["sxx"] - s["sx"] ** 2
    slope = (s["n"] * s["sxy"] - s["sx"] * s["sy"]) / den.where(den > 1e-9)
    return pd.DataFrame({"n": s["n"], "slope": slope.where(s["n"] >= 2)})


def slope_ratio_response(scored: pd.DataFrame, start: pd.Series, as_of: pd.Series,
                         min_visits: int = 2) -> pd.DataFrame:
    """The clinician's pre/post slope comparison for one drug start per patient.

    ``scored``: patient_id, t, alsfrs_r_total (all visits); ``start``: drug start per patient
    (NaN: no drug); ``as_of``: last time used. Returns per patient pre_slope, post_slope,
    n_pre, n_post, score (post decline / max(pre decline, 0.1)), call ("not_responding",
    "responding", or "indeterminate" when fewer than ``min_visits`` on either side).
    The start visit belongs to both phases (the lead-in ends and the treatment phase begins
    there).
    """
    v = scored[["patient_id", "t", "alsfrs_r_total"]].dropna().reset_index(drop=True)
    s = v["patient_id"].map(start).astype(float).to_numpy()
    cut = v["patient_id"].map(as_of).astype(float).fillna(np.inf).to_numpy()
    t = v["t"].to_numpy(float)
    keep = np.isfinite(s) & (t <= cut)
    pre = v[keep & (t <= s)]
    post = v[keep & (t >= s)]
    ps = ls_slopes(pre["t"].to_numpy(), pre["alsfrs_r_total"].to_numpy(), pre["patient_id"])
    qs = ls_slopes(post["t"].to_numpy(), post["alsfrs_r_total"].to_numpy(), post["patient_id"])
    ids = start.index[start.notna()]
    out = pd.DataFrame(index=ids)
    out["n_pre"] = ps["n"].reindex(ids).fillna(0).astype(int)
    out["n_post"] = qs["n"].reindex(ids).fillna(0).astype(int)
    out["pre_slope"] = ps["slope"].reindex(ids)
    out["post_slope"] = qs["slope"].reindex(ids)
    enough = (out["n_pre"] >= min_visits) & (out["n_post"] >= min_visits)
    pre_decline = np.maximum(-out["pre_slope"], MIN_PRE_DECLINE)
    score = (-out["post_slope"]) / pre_decline
    out["score"] = score.where(enough)
    out["call"] = np.where(~enough, "indeterminate",
                           np.where(out["score"] >= NOT_RESPONDING_RATIO, "not_responding",
                                    "responding"))
    return out


def dfs_line(onset: np.ndarray, t_cut: np.ndarray, total_cut: np.ndarray,
             t_target: np.ndarray) -> np.ndarray:
    """ALSFRS-R at ``t_target`` on the straight line from 48 at onset through the cut-off visit:
    48 - dFS x months since onset, floored at 0 (NaN where onset is unknown or not before the
    cut-off visit)."""
    months_cut = (np.asarray(t_cut, float) - np.asarray(onset, float)) / DAYS_PER_MONTH
    dfs = np.where(months_cut > 0, (48.0 - np.asarray(total_cut, float)) / months_cut, np.nan)
    months_t = (np.asarray(t_target, float) - np.asarray(onset, float)) / DAYS_PER_MONTH
    return np.clip(48.0 - dfs * months_t, 0.0, 48.0)
