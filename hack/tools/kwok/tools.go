//go:build tools

// Package tools pins the kwok simulator that the test
// cluster builds. It is never compiled into the operator.
package tools

import (
	_ "sigs.k8s.io/kwok/cmd/kwok"
)
