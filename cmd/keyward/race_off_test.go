//go:build !race

package main

// raceEnabled tells that this test binary runs under the race detector: the keyward binary the
// end-to-end tests start is then built with -race too.
const raceEnabled = false
