package scale

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// raiseFileLimit raises this process's open-file limit to at least want, if it can, and
// returns the soft limit in force afterwards. The soft limit goes up to the hard one; as
// root the hard limit goes up too (to fs.nr_open at most). Processes started afterwards
// inherit the limit: Go hands children the original soft limit only until Setrlimit is
// called.
func raiseFileLimit(want uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("read the open-file limit: %w", err)
	}
	if lim.Cur >= want {
		return lim.Cur, nil
	}
	next := lim
	next.Cur = min(want, lim.Max)
	var errHard error
	if want > lim.Max && os.Geteuid() == 0 {
		ceiling := want
		if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
			if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
				ceiling = min(want, n)
			}
		}
		hard := syscall.Rlimit{Cur: ceiling, Max: ceiling}
		if errHard = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &hard); errHard == nil {
			return ceiling, nil
		}
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next); err != nil {
		return lim.Cur, fmt.Errorf("raise the open-file limit to %d: %w", next.Cur, errors.Join(err, errHard))
	}
	return next.Cur, nil
}
