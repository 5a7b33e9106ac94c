//go:build !linux

package overhead

import (
	"errors"
	"time"
)

var errNoProc = errors.New("measuring CPU time needs Linux /proc: run the overhead benchmark on Linux")

func processCPU(int) (time.Duration, error) { return 0, errNoProc }

func systemCPU() (busy, total uint64, err error) { return 0, 0, errNoProc }

func cpuModel() string { return "" }
