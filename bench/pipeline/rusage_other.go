//go:build !unix

package pipeline

// processCPUSeconds is unknown off Unix; the report shows 0.
func processCPUSeconds() float64 { return 0 }
