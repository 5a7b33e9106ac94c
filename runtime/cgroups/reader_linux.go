package cgroups

// defaultRoot is where /proc and /sys are read from when WithRoot is not given.
const defaultRoot = "/"
