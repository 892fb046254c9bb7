"""Speed and memory benchmarks: ours against TRL, the backbone, single kernels."""
