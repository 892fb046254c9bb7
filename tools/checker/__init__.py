"""Answer-checker benchmarks: agreement with reference verdicts and Math-Verify, and speed."""
