"""Weight-sharing supernets, the one trainer, samplers and the inherited-weight evaluator."""
