// Package bench measures whether Rust kernel modules cost more than C ones:
// it runs C and Rust twins of the same workload interleaved in one VM on one
// kernel, and reports per workload the median of each side and the Rust/C
// cost ratio with a bootstrap 95 % confidence interval, as a table, JSON and
// a chart. Rounds of interleaved repetitions are added until every
// interval is narrow enough or the VM-time budget is spent.
package bench
