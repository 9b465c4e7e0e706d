"""Search strategies over an evaluator (a function from architecture to score)."""
