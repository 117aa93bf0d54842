//go:build tools

// Package tools pins the etcd server that the test
// cluster builds. It is never compiled into the operator.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
)
