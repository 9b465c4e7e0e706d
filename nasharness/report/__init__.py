"""Reports: plots and tables built from RunResults."""
