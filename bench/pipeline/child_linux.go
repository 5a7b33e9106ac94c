package pipeline

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill the collector process if the benchmark dies first
// (kill -9, a crash), so that no collector is left running in its cgroup. The setting
// survives the exec of the cgroup v1 join script.
func dieWithParent(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
