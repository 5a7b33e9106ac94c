//go:build !linux

package scale

import (
	"errors"
)

var errNeedsLinux = errors.New("raising the open-file limit is implemented for Linux only: run the scale benchmark on Linux")

func raiseFileLimit(want uint64) (uint64, error) { return 0, errNeedsLinux }
