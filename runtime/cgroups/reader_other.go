//go:build !linux

package cgroups

// defaultRoot is empty off Linux: there are no cgroups to read unless WithRoot points at a
// copy of a Linux tree, and a Reader without one reports ErrNoCgroup.
const defaultRoot = ""
