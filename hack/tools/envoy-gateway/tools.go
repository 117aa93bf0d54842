//go:build tools

// Package tools pins the Envoy Gateway control plane that the data-plane tests run
// in its standalone mode (File provider, Host infrastructure). It is never compiled
// into the operator.
package tools

import (
	_ "github.com/envoyproxy/gateway/cmd/envoy-gateway"
)
