"""Image datasets: CIFAR-10 (JPEG tar or cifar-10-batches-py) decoded once into cached uint8 arrays."""
