//go:build race

package escalationtest

// raceDetector tells that the race detector is on: the matrix then runs a sample (Stride).
const raceDetector = true
