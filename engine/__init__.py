"""Everything that makes images, with no Qt: used by the CLI, the GUI's worker and benchmarks."""
