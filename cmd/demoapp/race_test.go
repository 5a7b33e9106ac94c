//go:build race

package main

// The race detector allocates shadow memory and changes allocation sizes, so the garbage
// and live heap calibration checks would measure it rather than demoapp.
const raceEnabled = true
