//go:build !unix

package runtime

import "errors"

// processCPU is not available here; the tuner falls back to the runtime's estimate.
func processCPU() (user, system float64, err error) {
	return 0, 0, errors.New("process CPU time is not available on this platform")
}
