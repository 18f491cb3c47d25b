"""Clinical scores, each a small pure function over arrays (one value or a whole cohort).

- ``alsfrs``: ALSFRS-R total and the four domains (Cedarbaum 1999)
- ``staging``: King's stage from ALSFRS-R (Roche 2012, Balendra 2014); MiToS (Chio 2015)
- ``rate``: delta-FS progression rate (Kimura 2006) and its labels
- ``body``: BMI and weight loss
"""
