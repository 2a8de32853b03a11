// Package cacheline says how far apart state that different cores write must sit, so that
// they do not take turns owning one cache line (false sharing).
package cacheline

// Pad is what a shard of state written from several cores is padded to: two cache lines of
// 64 bytes, so that no two shards share a line wherever an array of them starts, and the
// adjacent-line prefetcher does not pair them either.
const Pad = 128
