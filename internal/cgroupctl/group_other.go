//go:build !linux

package cgroupctl

import (
	"fmt"
	"os/exec"

	"github.com/mcplane/mcp/runtime/cgroups"
)

// Group is a cgroup this process created. Off Linux there are none: Create always fails
// with ErrNotWritable.
type Group struct{}

var errNotLinux = fmt.Errorf("%w: cgroups exist only on Linux", ErrNotWritable)

// Create fails with ErrNotWritable off Linux.
func Create(name string, l Limits) (*Group, error) { return nil, errNotLinux }

// Version returns 0 off Linux.
func (g *Group) Version() cgroups.Version { return 0 }

// Paths returns nil off Linux.
func (g *Group) Paths() map[string]string { return nil }

// Reader returns a Reader that reports ErrNoCgroup.
func (g *Group) Reader() *cgroups.Reader { return cgroups.NewReader() }

// Stats fails with ErrNoCgroup off Linux.
func (g *Group) Stats() (cgroups.Stats, error) { return g.Reader().Stats() }

// SetMemoryLimit fails with ErrNotWritable off Linux.
func (g *Group) SetMemoryLimit(bytes int64) error { return errNotLinux }

// SetCPUQuota fails with ErrNotWritable off Linux.
func (g *Group) SetCPUQuota(cores float64) error { return errNotLinux }

// Start fails with ErrNotWritable off Linux.
func (g *Group) Start(cmd *exec.Cmd) error { return errNotLinux }

// Close does nothing off Linux.
func (g *Group) Close() error { return nil }
