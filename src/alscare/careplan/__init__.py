"""The care-plan engine: facts -> recommendations, alerts and data gaps, each explained."""
