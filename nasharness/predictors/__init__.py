"""Performance predictors over architecture encodings (ReNAS and its regression baseline)."""
