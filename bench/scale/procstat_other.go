//go:build !linux

package scale

import (
	"errors"
	"time"
)

var errNeedsLinux = errors.New("the scale benchmark reads process CPU and memory from Linux's /proc: run it on Linux")

func processCPU(int) (time.Duration, error)      { return 0, errNeedsLinux }
func machineBusy() (time.Duration, error)        { return 0, errNeedsLinux }
func processMemory(int) (memory, error)          { return memory{}, errNeedsLinux }
func raiseFileLimit(want uint64) (uint64, error) { return 0, errNeedsLinux }
