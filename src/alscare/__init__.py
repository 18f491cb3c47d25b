"""alscare: decision support for ALS multidisciplinary clinics."""

__version__ = "0.1.0"
