"""Body mass index and weight loss.

BMI = weight (kg) / height (m)^2; WHO underweight < 18.5 kg/m2.
Weight loss % = (reference - current) / reference x 100, where the reference is the premorbid
weight when recorded, else the first recorded weight (ProGas, Lancet Neurol 2015, counts loss
from diagnosis; ../shared/clinical/reference.md R28). A gain is a negative loss.
"""

from __future__ import annotations

import pandas as pd


def bmi(weight_kg: pd.Series, height_cm: pd.Series) -> pd.Series:
    h = height_cm / 100.0
    return weight_kg / (h * h)


def weight_loss_percent(reference_kg: pd.Series, current_kg: pd.Series) -> pd.Series:
    return (reference_kg - current_kg) / reference_kg * 100.0
