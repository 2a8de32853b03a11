//go:build !linux

package main

// echoOff does nothing where the termios calls differ; term.ReadPassword still reads without
// echo once the prompt is printed.
func echoOff(int) (func(), error) { return func() {}, nil }
