//go:build race

package loadgen

// The race detector slows goroutines down several times, so timing checks would measure it
// rather than the load generator.
const raceEnabled = true
